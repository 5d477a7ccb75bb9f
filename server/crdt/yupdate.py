"""A pure, read-only reader of the Yjs update format v1.

pycrdt applies updates as opaque bytes, but the server has to look inside a client's update
*before* applying it (which root map, card or key it writes, whether it deletes). This module
decodes the v1 binary format -- what `Y.encodeStateAsUpdate`, `doc.on('update')`,
`Y.mergeUpdates` and pycrdt's `Doc.get_update()` produce -- into plain frozen dataclasses,
without pycrdt and without I/O. Every malformed, truncated or oversized input raises
`ProtocolError`; nothing else escapes.

Layout (yjs `readClientsStructRefs`, `readItem`/`Item.write`, `readDeleteSet`)::

    update   = varuint(#clients) { varuint(#structs) varuint(client) varuint(clock) struct* }*
               deleteSet
    struct   = info:uint8 ...
        info == 0        GC       varuint(len)
        info == 10       Skip     varuint(len)
        otherwise        Item     content ref = info & 0x1f (1..9)
            info & 0x80  origin       varuint(client) varuint(clock)
            info & 0x40  right origin varuint(client) varuint(clock)
            neither      parent info  varuint(1) varstring(root name) | varuint(0) ID,
                         then, if info & 0x20, varstring(parentSub = map key)
            content      see `_read_content`
    deleteSet = varuint(#clients)
                { varuint(client) varuint(#ranges) { varuint(clock) varuint(len) }* }*

When an item has an origin or a right origin, the parent (and the map key) is *not* in the
update: the receiver infers it from the origin item, so `parent_root`, `parent_item` and
`parent_sub` are all None -- resolving them needs the document the update is applied to.

Deliberately stricter than yjs (which the server applies through yrs, so both matter):

* Only `info == 0` is GC and only `info == 10` is Skip. yjs reads any `info & 0x1f == 0`
  as GC (and, in `readClientsStructRefs`, any `& 0x1f == 10` as Skip) while yrs matches the
  exact byte and reads everything else as an item; the readers disagree, so we refuse.
* The parent info flag must be 0 or 1 (both readers take every value but 1 as "ID").
* A type ref is read as one byte and must be 0..6 (yjs reads a varuint, yrs a byte).
* Strings must be valid UTF-8 (yjs substitutes U+FFFD, yrs does not check at all).
* A client may appear only once in the struct section (yjs keeps the last section, yrs
  concatenates them).
* Clocks must stay below 2**32: yrs keeps clocks and lengths as u32.
* No bytes may follow the delete set.

Known yjs/yrs divergences that this reader cannot resolve (it follows yjs; a server that
applies updates with pycrdt should refuse updates containing them -- Yjs 13 never writes
the first one and Koprade's board never uses the second):

* `content == "json"` (legacy ContentJSON, ref 2): yrs reads one more string than the count
  says, so pycrdt would see different structs from the following bytes on.
* type ref 5 (YXmlHook): yjs writes and reads a hook name after it, yrs neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.crdt.errors import ProtocolError
from server.crdt.lib0 import MAX_ANY_DEPTH, UNDEFINED, Reader, Undefined

__all__ = [
    "CONTENT_KINDS",
    "MAX_CLOCK",
    "TYPE_REFS",
    "UNDEFINED",
    "DecodedUpdate",
    "DeleteRange",
    "ItemRef",
    "Struct",
    "Undefined",
    "decode_update",
]

# yrs (pycrdt) stores clocks and lengths as u32.
MAX_CLOCK = 2**32 - 1
DEFAULT_MAX_STRUCTS = 100_000

# content ref (info & 0x1f) -> kind; 0 is GC and 10 is Skip, neither is item content.
CONTENT_KINDS: dict[int, str] = {
    1: "deleted",
    2: "json",
    3: "binary",
    4: "string",
    5: "embed",
    6: "format",
    7: "type",
    8: "any",
    9: "doc",
}
# ContentType's type refs (yjs `typeRefs`); 3 and 5 are followed by a name.
TYPE_REFS: dict[int, str] = {
    0: "YArray",
    1: "YMap",
    2: "YText",
    3: "YXmlElement",
    4: "YXmlFragment",
    5: "YXmlHook",
    6: "YXmlText",
}
_NAMED_TYPE_REFS = frozenset({3, 5})

_INFO_ORIGIN = 0x80
_INFO_RIGHT_ORIGIN = 0x40
_INFO_PARENT_SUB = 0x20
_INFO_CONTENT_REF = 0x1F
_INFO_GC = 0
_INFO_SKIP = 10
_MAX_SAFE_INTEGER = 2**53 - 1


@dataclass(frozen=True, slots=True)
class ItemRef:
    """The ID of an item: (client, clock)."""

    client: int
    clock: int


@dataclass(frozen=True, slots=True)
class Struct:
    """One struct of an update, covering clocks `clock .. clock + length - 1` of `client`.

    `kind` is "item", "gc" or "skip"; for items `content` is one of `CONTENT_KINDS` and
    `values` holds, by content:

    * "any", "json": the decoded values (JSON-like; `UNDEFINED` for JavaScript undefined,
      `bytes` for a Uint8Array, `int` for integers and bigints), one per clock
    * "string": `(text,)` -- `length` is the text's length in UTF-16 code units
    * "type": `(type_ref,)`, or `(type_ref, name)` for YXmlElement (3) / YXmlHook (5)
    * "format": `(key, value)`; "embed": `(value,)`; "binary": `(data,)`
    * "doc": `(guid, options)`
    * "deleted", and GC/Skip structs: None (only `length` matters)
    """

    client: int
    clock: int
    length: int
    kind: str
    content: str | None = None
    origin: ItemRef | None = None
    right_origin: ItemRef | None = None
    parent_root: str | None = None
    parent_item: ItemRef | None = None
    parent_sub: str | None = None
    values: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class DeleteRange:
    """Clocks `clock .. clock + length - 1` of `client` are deleted."""

    client: int
    clock: int
    length: int


@dataclass(frozen=True, slots=True)
class DecodedUpdate:
    structs: tuple[Struct, ...]
    deletes: tuple[DeleteRange, ...]


def decode_update(update: bytes, *, max_structs: int = DEFAULT_MAX_STRUCTS) -> DecodedUpdate:
    """Decode a Yjs v1 update; raise `ProtocolError` if it is malformed or too large.

    `max_structs` bounds the number of structs and, separately, of delete ranges. All other
    counts are bounded by the bytes left, so no input allocates much more than its size.
    """
    reader = Reader(bytes(update))
    structs = _read_structs(reader, max_structs)
    deletes = _read_delete_set(reader, max_structs)
    reader.expect_end()
    return DecodedUpdate(structs=tuple(structs), deletes=tuple(deletes))


def _read_structs(reader: Reader, max_structs: int) -> list[Struct]:
    client_count = reader.var_uint()
    # each client section takes at least three bytes (#structs, client, clock)
    if client_count > reader.remaining // 3:
        raise ProtocolError(
            f"update declares {client_count} clients, {reader.remaining} bytes left"
        )
    structs: list[Struct] = []
    seen_clients: set[int] = set()
    for _ in range(client_count):
        struct_count = reader.var_uint()
        client = reader.var_uint()
        clock = reader.var_uint()
        if client in seen_clients:
            raise ProtocolError(f"client {client} appears twice in the update")
        seen_clients.add(client)
        # each struct takes at least two bytes (info and one more)
        if struct_count > reader.remaining // 2:
            raise ProtocolError(
                f"update declares {struct_count} structs, {reader.remaining} bytes left"
            )
        if len(structs) + struct_count > max_structs:
            raise ProtocolError(f"update has more than {max_structs} structs")
        for _ in range(struct_count):
            struct = _read_struct(reader, client, clock)
            clock += struct.length
            if clock > MAX_CLOCK:
                raise ProtocolError(f"clock of client {client} out of range")
            structs.append(struct)
    return structs


def _read_struct(reader: Reader, client: int, clock: int) -> Struct:
    info = reader.uint8()
    if info == _INFO_GC:
        return Struct(client, clock, _read_clock_len(reader), "gc")
    if info == _INFO_SKIP:
        return Struct(client, clock, _read_clock_len(reader), "skip")
    ref = info & _INFO_CONTENT_REF
    kind = CONTENT_KINDS.get(ref)
    if kind is None:
        raise ProtocolError(f"unknown struct info {info:#04x}")
    origin = _read_id(reader) if info & _INFO_ORIGIN else None
    right_origin = _read_id(reader) if info & _INFO_RIGHT_ORIGIN else None
    parent_root: str | None = None
    parent_item: ItemRef | None = None
    parent_sub: str | None = None
    if origin is None and right_origin is None:
        flag = reader.var_uint()
        if flag == 1:
            parent_root = reader.var_string()
        elif flag == 0:
            parent_item = _read_id(reader)
        else:
            raise ProtocolError(f"invalid parent info {flag}")
        if info & _INFO_PARENT_SUB:
            parent_sub = reader.var_string()
    length, values = _read_content(reader, ref)
    return Struct(
        client=client,
        clock=clock,
        length=length,
        kind="item",
        content=kind,
        origin=origin,
        right_origin=right_origin,
        parent_root=parent_root,
        parent_item=parent_item,
        parent_sub=parent_sub,
        values=values,
    )


def _read_content(reader: Reader, ref: int) -> tuple[int, tuple[Any, ...] | None]:
    """Read item content `ref`; return (clock length, values)."""
    if ref == 1:  # ContentDeleted
        return _read_clock_len(reader), None
    if ref == 2:  # ContentJSON: count, then JSON texts ("undefined" for undefined)
        count = _read_count(reader, 1, "JSON values")
        return count, tuple(
            _parse_json(reader.var_string(), allow_undefined=True) for _ in range(count)
        )
    if ref == 3:  # ContentBinary
        return 1, (reader.var_bytes(),)
    if ref == 4:  # ContentString
        text = reader.var_string()
        return _utf16_length(text), (text,)
    if ref == 5:  # ContentEmbed
        return 1, (_parse_json(reader.var_string()),)
    if ref == 6:  # ContentFormat
        key = reader.var_string()
        return 1, (key, _parse_json(reader.var_string()))
    if ref == 7:  # ContentType
        type_ref = reader.uint8()
        if type_ref not in TYPE_REFS:
            raise ProtocolError(f"unknown type ref {type_ref}")
        if type_ref in _NAMED_TYPE_REFS:
            return 1, (type_ref, reader.var_string())
        return 1, (type_ref,)
    if ref == 8:  # ContentAny
        count = _read_count(reader, 1, "values")
        return count, tuple(reader.any() for _ in range(count))
    # ref == 9, ContentDoc: guid, then the options as an Any
    guid = reader.var_string()
    return 1, (guid, reader.any())


def _read_delete_set(reader: Reader, max_ranges: int) -> list[DeleteRange]:
    client_count = _read_count(reader, 2, "delete set clients")
    deletes: list[DeleteRange] = []
    for _ in range(client_count):
        client = reader.var_uint()
        range_count = _read_count(reader, 2, "delete ranges")
        if len(deletes) + range_count > max_ranges:
            raise ProtocolError(f"update has more than {max_ranges} delete ranges")
        for _ in range(range_count):
            clock = reader.var_uint()
            length = reader.var_uint()
            if clock + length > MAX_CLOCK:
                raise ProtocolError(f"deleted clock of client {client} out of range")
            deletes.append(DeleteRange(client, clock, length))
    return deletes


def _read_id(reader: Reader) -> ItemRef:
    client = reader.var_uint()
    clock = reader.var_uint()
    if clock > MAX_CLOCK:
        raise ProtocolError("clock out of range")
    return ItemRef(client, clock)


def _read_clock_len(reader: Reader) -> int:
    length = reader.var_uint()
    if length > MAX_CLOCK:
        raise ProtocolError("length out of range")
    return length


def _read_count(reader: Reader, min_bytes_each: int, what: str) -> int:
    count = reader.var_uint()
    if count * min_bytes_each > reader.remaining:
        raise ProtocolError(f"update declares {count} {what}, {reader.remaining} bytes left")
    return count


def _utf16_length(text: str) -> int:
    """`text.length` in JavaScript: UTF-16 code units (a non-BMP character counts 2)."""
    # valid UTF-8 never decodes to lone surrogates, so the encoding cannot fail
    return len(text.encode("utf-16-le")) // 2


def _parse_json(text: str, *, allow_undefined: bool = False) -> Any:
    """`JSON.parse` (ContentJSON/Embed/Format); "undefined" only inside ContentJSON."""
    if allow_undefined and text == "undefined":
        return UNDEFINED
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("invalid JSON in update") from exc
    _check_depth(value)
    return value


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity/-Infinity, JavaScript's JSON.parse does not
    raise ValueError(f"{name} is not JSON")


def _parse_int(digits: str) -> int | float:
    # JSON.parse yields a double: integers beyond 2**53 lose precision there
    value = int(digits)
    return value if abs(value) <= _MAX_SAFE_INTEGER else float(value)


def _check_depth(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_ANY_DEPTH:
                raise ProtocolError("JSON value nested too deeply")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def refuse_unsupported_content(update: DecodedUpdate) -> None:
    """Refuse the content kinds yrs reads differently from yjs (see the module docstring).

    A server that applies updates with pycrdt must, or it would check other structs than
    it applies; honest Yjs 13 clients never send either.
    """
    for struct in update.structs:
        if struct.content == "json":
            raise ProtocolError("legacy JSON content is not supported")
        if struct.content == "type" and struct.values and struct.values[0] == 5:
            raise ProtocolError("XML hooks are not supported")
