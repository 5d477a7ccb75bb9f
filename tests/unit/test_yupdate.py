"""The read-only Yjs v1 update reader, checked against what the real `yjs` package writes.

`tests/interop/make_update_fixtures.mjs` builds board updates with stock yjs and states what
`Y.decodeUpdate` reads back from them; every struct and delete range must match. Updates from
pycrdt, hand-made edge cases and broken input (truncated, mutated, random, oversized) follow.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from server.crdt.errors import ProtocolError
from server.crdt.lib0 import Reader
from server.crdt.yupdate import (
    MAX_CLOCK,
    UNDEFINED,
    DecodedUpdate,
    DeleteRange,
    ItemRef,
    Struct,
    decode_update,
)

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "tests" / "interop" / "make_update_fixtures.mjs"
CLIENT_A = 3000000001
CLIENT_B = 17

CASES = [
    "add_card",
    "edit_text_insert",
    "edit_text_delete",
    "move_card",
    "set_cluster",
    "remove_cluster",
    "set_cluster_again",
    "add_cluster",
    "meta_write",
    "unicode_text",
    "unicode_insert_after_astral",
    "delete_card",
    "full_state_after_delete",
    "diff_since_state_vector",
    "any_values",
    "binary_value",
    "array_push",
    "subdocument",
    "rich_text",
    "xml_types",
    "merged_two_clients",
    "merged_with_gap",
    "empty_update",
]


@pytest.fixture(scope="module")
def yjs_cases() -> dict[str, dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` (>= 20) is not on PATH: these tests need updates made by real yjs")
    if not (REPO / "tests" / "interop" / "node_modules" / "yjs" / "package.json").is_file():
        pytest.fail("tests/interop/node_modules/yjs is missing: run `npm ci` in tests/interop")
    result = subprocess.run(
        [node, str(GENERATOR)], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["yjs"].startswith("13.")
    return {case["name"]: case for case in output["cases"]}


def update_of(yjs_cases: dict[str, dict[str, Any]], name: str) -> bytes:
    return bytes.fromhex(yjs_cases[name]["update"])


def untag(value: Any) -> Any:
    """The generator's tagged JSON back to what `decode_update` returns."""
    if isinstance(value, dict):
        if value.keys() == {"$undefined"}:
            return UNDEFINED
        if value.keys() == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        if value.keys() == {"$bigint"}:
            return int(value["$bigint"])
        return {key: untag(item) for key, item in value.items()}
    if isinstance(value, list):
        return [untag(item) for item in value]
    return value


def ref(data: dict[str, int] | None) -> ItemRef | None:
    return None if data is None else ItemRef(data["client"], data["clock"])


def expected_struct(data: dict[str, Any]) -> Struct:
    if data["kind"] != "item":
        return Struct(data["client"], data["clock"], data["length"], data["kind"])
    values = data["values"]
    return Struct(
        client=data["client"],
        clock=data["clock"],
        length=data["length"],
        kind="item",
        content=data["content"],
        origin=ref(data["origin"]),
        right_origin=ref(data["right_origin"]),
        parent_root=data["parent_root"],
        parent_item=ref(data["parent_item"]),
        parent_sub=data["parent_sub"],
        values=None if values is None else tuple(untag(values)),
    )


# --- every struct and delete range as yjs reads them ----------------------------------------


def test_generator_covers_every_case(yjs_cases: dict[str, dict[str, Any]]) -> None:
    assert list(yjs_cases) == CASES


@pytest.mark.parametrize("name", CASES)
def test_matches_yjs_decode_update(yjs_cases: dict[str, dict[str, Any]], name: str) -> None:
    case = yjs_cases[name]
    decoded = decode_update(update_of(yjs_cases, name))
    assert decoded.structs == tuple(expected_struct(s) for s in case["structs"])
    assert decoded.deletes == tuple(
        DeleteRange(d["client"], d["clock"], d["length"]) for d in case["deletes"]
    )


# --- what the board rules will look at ------------------------------------------------------


def test_add_card_names_root_card_and_keys(yjs_cases: dict[str, dict[str, Any]]) -> None:
    facts = yjs_cases["add_card"]["facts"]
    card, text_type, text, *fields = decode_update(update_of(yjs_cases, "add_card")).structs
    assert (card.parent_root, card.parent_sub, card.values) == ("cards", "card-1", (1,))  # YMap
    card_id = ItemRef(card.client, card.clock)
    assert (text_type.parent_item, text_type.parent_sub, text_type.values) == (
        card_id,
        "text",
        (2,),
    )
    assert text.parent_item == ItemRef(text_type.client, text_type.clock)
    assert text.values == (facts["text"],) and text.parent_sub is None
    assert [f.parent_sub for f in fields] == facts["keys"][1:]
    assert all(f.parent_item == card_id and f.content == "any" for f in fields)
    assert dict((f.parent_sub, f.values) for f in fields)["y"] == (-40.5,)


def test_map_set_on_existing_key_has_no_parent_info(yjs_cases: dict[str, dict[str, Any]]) -> None:
    moved = decode_update(update_of(yjs_cases, "move_card"))
    assert [s.values for s in moved.structs] == [(300,), (75.25,)]
    for struct in moved.structs:
        assert struct.origin is not None  # the previous value of the key
        assert (struct.parent_root, struct.parent_item, struct.parent_sub) == (None, None, None)
    assert moved.deletes  # the previous values

    (first,) = decode_update(update_of(yjs_cases, "set_cluster")).structs
    assert first.parent_item == ItemRef(CLIENT_A, 0) and first.parent_sub == "cluster"
    removed = decode_update(update_of(yjs_cases, "remove_cluster"))
    assert removed.structs == () and removed.deletes == (DeleteRange(CLIENT_A, first.clock, 1),)
    (again,) = decode_update(update_of(yjs_cases, "set_cluster_again")).structs
    assert again.origin == ItemRef(CLIENT_A, first.clock) and again.parent_sub is None
    assert again.values == ("cluster-2",)


def test_text_edits(yjs_cases: dict[str, dict[str, Any]]) -> None:
    inserted = decode_update(update_of(yjs_cases, "edit_text_insert")).structs
    assert [(s.origin is None, s.right_origin is None) for s in inserted] == [
        (True, False),
        (False, False),
        (False, True),
    ]
    assert all(s.parent_item is None and s.parent_root is None for s in inserted)
    deleted = decode_update(update_of(yjs_cases, "edit_text_delete"))
    assert deleted.structs == ()
    assert (
        sum(d.length for d in deleted.deletes) == yjs_cases["edit_text_delete"]["facts"]["deleted"]
    )


def test_string_length_counts_utf16_code_units(yjs_cases: dict[str, dict[str, Any]]) -> None:
    facts = yjs_cases["unicode_text"]["facts"]
    assert facts["utf16_length"] > facts["code_points"]
    structs = decode_update(update_of(yjs_cases, "unicode_text")).structs
    (text,) = [s for s in structs if s.content == "string"]
    assert text.values == (facts["text"],)
    assert text.length == facts["utf16_length"] == 24
    following = structs[structs.index(text) + 1]
    assert following.clock == text.clock + 24


def test_values_of_every_kind(yjs_cases: dict[str, dict[str, Any]]) -> None:
    structs = decode_update(update_of(yjs_cases, "any_values")).structs
    by_key = {s.parent_sub: s.values for s in structs[1:]}
    assert by_key["f32"] == (1e10,) and by_key["f64"] == (2**40 + 0.5,)
    assert by_key["neg"] == (-123456789,) and by_key["negzero"] == (0,)
    assert by_key["big"] == (2**62,) and by_key["undef"] == (UNDEFINED,)
    assert by_key["null"] == (None,) and by_key["bool"] == (False,)
    assert by_key["bytes_in_any"] == ({"data": b"\x09\x08\x07"},)
    assert by_key["nested"][0]["list"][-1] == {"deep": {"deeper": []}}

    (binary,) = decode_update(update_of(yjs_cases, "binary_value")).structs
    assert binary.content == "binary" and binary.values == (b"\x00\x01\x02\xff",)
    (pushed,) = decode_update(update_of(yjs_cases, "array_push")).structs
    assert pushed.length == 4 and pushed.values == (1, "two", {"three": 3}, [4])
    assert pushed.parent_root == "list" and pushed.parent_sub is None
    (sub,) = decode_update(update_of(yjs_cases, "subdocument")).structs
    assert sub.content == "doc" and sub.values is not None and sub.values[0] == "sub-guid-1"

    rich = decode_update(update_of(yjs_cases, "rich_text")).structs
    assert [s.content for s in rich] == ["format", "string", "format", "embed", "string"]
    assert rich[0].values == ("bold", True) and rich[2].values == ("bold", None)
    assert rich[3].values == ({"image": "x.png"},)
    xml = decode_update(update_of(yjs_cases, "xml_types")).structs
    assert [s.values for s in xml if s.content == "type"] == [(3, "p"), (6,), (5, "hook-name")]


def test_gc_skip_and_merged_updates(yjs_cases: dict[str, dict[str, Any]]) -> None:
    full = decode_update(update_of(yjs_cases, "full_state_after_delete"))
    assert {s.kind for s in full.structs} == {"item", "gc"}
    assert any(s.content == "deleted" for s in full.structs)
    merged = decode_update(update_of(yjs_cases, "merged_two_clients"))
    assert {s.client for s in merged.structs} == {CLIENT_A, CLIENT_B}
    assert merged.deletes == (DeleteRange(CLIENT_B, 0, 1),)
    gap = decode_update(update_of(yjs_cases, "merged_with_gap")).structs
    assert [(s.kind, s.clock, s.length) for s in gap] == [
        ("item", 0, 1),
        ("skip", 1, 1),
        ("item", 2, 1),
    ]
    assert decode_update(b"\x00\x00") == DecodedUpdate(structs=(), deletes=())


# --- updates written by pycrdt (yrs) --------------------------------------------------------


def test_pycrdt_updates() -> None:
    doc: Doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    cards = doc.get("cards", type=Map)
    text = "id\u0113ja 🚲 e\u0301"
    with doc.transaction():
        cards["c1"] = Map({"text": Text(text), "x": 1.5, "y": -2, "color": "#ffd966"})
    with doc.transaction():
        cards["c1"]["x"] = 10
    with doc.transaction():
        del cards["c1"]["text"][0:2]
    doc.get("list", type=Array).extend([1, "a", None, True, [2, {"k": "v"}]])

    add, move, delete, push = (decode_update(update) for update in updates)
    card, text_type, string, *fields = add.structs
    assert (card.parent_root, card.parent_sub, card.values) == ("cards", "c1", (1,))
    assert (text_type.parent_sub, text_type.values) == ("text", (2,))
    assert string.values == (text,) and string.length == len(text.encode("utf-16-le")) // 2
    assert {f.parent_sub: f.values for f in fields} == {
        "x": (1.5,),
        "y": (-2,),
        "color": ("#ffd966",),
    }
    assert move.structs[0].origin is not None and move.structs[0].values == (10,)
    assert move.deletes and delete.structs == ()
    assert sum(d.length for d in delete.deletes) == 2
    assert push.structs[0].values == (1, "a", None, True, [2, {"k": "v"}])

    # a whole state: the lengths add up to pycrdt's own state vector
    full = decode_update(doc.get_update())
    ends: dict[int, int] = {}
    for struct in full.structs:
        ends[struct.client] = max(ends.get(struct.client, 0), struct.clock + struct.length)
    assert ends == {doc.client_id: sum(s.length for s in full.structs)}
    assert doc.get_state() == bytes([1]) + _var_uint(doc.client_id) + _var_uint(ends[doc.client_id])


# --- hand-made updates: what yjs does not write any more, and what it never writes ----------


def _var_uint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def _var_string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return _var_uint(len(data)) + data


def _one_item(body: bytes, *, client: int = 5, clock: int = 0) -> bytes:
    """An update with one struct `body` (info byte onward) and an empty delete set."""
    return b"\x01\x01" + _var_uint(client) + _var_uint(clock) + body + b"\x00"


ROOT_M = b"\x01" + _var_string("m")  # parent info: root type "m"


def test_legacy_json_content() -> None:
    texts = ['"a"', "undefined", '{"k": [1, 2.5]}', "12345678901234567890"]
    body = b"\x02" + ROOT_M + _var_uint(len(texts)) + b"".join(_var_string(t) for t in texts)
    (struct,) = decode_update(_one_item(body)).structs
    assert struct.content == "json" and struct.length == 4
    assert struct.values == ("a", UNDEFINED, {"k": [1, 2.5]}, 12345678901234567890.0)
    for bad in ("NaN", "-Infinity", "{", "[1,]", "[" * 5000 + "]" * 5000):
        with pytest.raises(ProtocolError):
            decode_update(_one_item(b"\x02" + ROOT_M + b"\x01" + _var_string(bad)))


def test_parent_item_and_map_key_with_parent_info() -> None:
    body = b"\x28" + b"\x00" + _var_uint(7) + _var_uint(3) + _var_string("key") + b"\x01\x78"
    (struct,) = decode_update(_one_item(body)).structs
    assert (struct.parent_item, struct.parent_sub, struct.values) == (ItemRef(7, 3), "key", (True,))
    # with an origin the parentSub bit is set but nothing is written: the key comes from the origin
    body = b"\xa8" + _var_uint(7) + _var_uint(4) + b"\x01\x79"
    (struct,) = decode_update(_one_item(body)).structs
    assert (struct.origin, struct.parent_sub, struct.values) == (ItemRef(7, 4), None, (False,))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x80\x01", id="gc-info-with-flags"),
        pytest.param(b"\x8a\x01\x00\x01", id="skip-info-with-flags"),
        *(pytest.param(bytes([ref]) + ROOT_M + b"\x00", id=f"ref-{ref}") for ref in (11, 20, 31)),
        pytest.param(b"\x08\x02" + b"\x01\x7e", id="parent-info-2"),
        *(pytest.param(b"\x07" + ROOT_M + bytes([t]), id=f"type-ref-{t}") for t in (7, 9, 15, 128)),
        pytest.param(b"\x04" + ROOT_M + _var_string(b"\xff\xfe"), id="invalid-utf8"),
        pytest.param(b"\x04" + ROOT_M + _var_string(b"\xed\xa0\x80"), id="utf8-surrogate"),
        pytest.param(b"\x08" + ROOT_M + b"\x01\x70", id="unknown-any-tag"),
        pytest.param(
            b"\x08" + ROOT_M + b"\x01\x7d\xff\xff\xff\xff\xff\xff\xff\xff\x01", id="varint"
        ),
        pytest.param(b"\x05" + ROOT_M + _var_string("NaN"), id="embed-nan"),
        pytest.param(b"\x01" + ROOT_M + _var_uint(MAX_CLOCK + 1), id="deleted-too-long"),
    ],
)
def test_malformed_structs(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_update(_one_item(body))


def test_update_level_rules() -> None:
    item = b"\x08" + ROOT_M + b"\x01\x7e"
    section = b"\x01" + _var_uint(5) + b"\x00" + item
    assert decode_update(b"\x01" + section + b"\x00").structs[0].values == (None,)
    with pytest.raises(ProtocolError, match="twice"):
        decode_update(b"\x02" + section + section + b"\x00")
    with pytest.raises(ProtocolError, match="trailing"):
        decode_update(b"\x01" + section + b"\x00\x00")
    with pytest.raises(ProtocolError, match="out of range"):
        decode_update(b"\x01\x01\x05" + _var_uint(MAX_CLOCK) + item + b"\x00")
    with pytest.raises(ProtocolError, match="out of range"):
        decode_update(b"\x00\x01\x05\x01" + _var_uint(MAX_CLOCK) + b"\x01")
    assert decode_update(b"\x00\x01\x05\x01" + _var_uint(MAX_CLOCK - 1) + b"\x01").deletes == (
        DeleteRange(5, MAX_CLOCK - 1, 1),
    )


def test_max_structs(yjs_cases: dict[str, dict[str, Any]]) -> None:
    update = update_of(yjs_cases, "add_card")
    assert len(decode_update(update, max_structs=8).structs) == 8
    with pytest.raises(ProtocolError, match="more than 7"):
        decode_update(update, max_structs=7)
    deletes = update_of(yjs_cases, "edit_text_delete")  # no structs, two delete ranges
    assert len(decode_update(deletes, max_structs=2).deletes) == 2
    with pytest.raises(ProtocolError, match="more than 1 delete ranges"):
        decode_update(deletes, max_structs=1)


HUGE = _var_uint(2**53 - 1)


@pytest.mark.parametrize(
    "update",
    [
        pytest.param(HUGE + b"\x00", id="clients"),
        pytest.param(b"\x01" + HUGE + b"\x05\x00\x00\x01\x00", id="structs"),
        pytest.param(b"\x00" + HUGE + b"\x00", id="delete-clients"),
        pytest.param(b"\x00\x01\x05" + HUGE + b"\x00\x01", id="delete-ranges"),
        pytest.param(_one_item(b"\x08" + ROOT_M + HUGE + b"\x7e"), id="any-count"),
        pytest.param(_one_item(b"\x02" + ROOT_M + HUGE + b"\x00"), id="json-count"),
        pytest.param(_one_item(b"\x08" + ROOT_M + b"\x01\x75" + HUGE + b"\x7e"), id="array"),
        pytest.param(_one_item(b"\x08" + ROOT_M + b"\x01\x76" + HUGE + b"\x00\x7e"), id="object"),
        pytest.param(_one_item(b"\x04" + ROOT_M + HUGE + b"abc"), id="string"),
        pytest.param(_one_item(b"\x03" + ROOT_M + HUGE + b"abc"), id="binary"),
        pytest.param(
            _one_item(b"\x08" + ROOT_M + b"\x01" + b"\x75\x01" * 10_000 + b"\x7e"), id="deep"
        ),
        pytest.param(b"\xff" * 9 + b"\x00", id="varuint-too-long"),
    ],
)
def test_huge_declared_sizes_fail_fast(update: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_update(update)


# --- broken input never raises anything but ProtocolError ----------------------------------

TRUNCATED = ["add_card", "any_values", "rich_text", "xml_types", "subdocument", "merged_with_gap"]


def _decode_or_protocol_error(data: bytes) -> DecodedUpdate | None:
    try:
        return decode_update(data)
    except ProtocolError:
        return None


def test_truncated_at_every_offset(yjs_cases: dict[str, dict[str, Any]]) -> None:
    for name in [*TRUNCATED, "full_state_after_delete"]:
        update = update_of(yjs_cases, name)
        for end in range(len(update)):
            _decode_or_protocol_error(update[:end])
        with pytest.raises(ProtocolError):
            decode_update(update + b"\x00")


def test_mutated_and_random_bytes(yjs_cases: dict[str, dict[str, Any]]) -> None:
    rng = random.Random(20261123)
    updates = [update_of(yjs_cases, name) for name in TRUNCATED]
    for _ in range(3000):
        data = bytearray(rng.choice(updates))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        _decode_or_protocol_error(bytes(data))
    for _ in range(3000):
        _decode_or_protocol_error(rng.randbytes(rng.randint(0, 48)))


def test_reader_signed_varint_and_any() -> None:
    assert Reader(b"\x7f").var_int() == -63
    assert Reader(b"\x40").var_int() == 0  # JavaScript's -0
    assert Reader(b"\xc1\x01").var_int() == -65
    assert Reader(b"\x7f\x00").any() is UNDEFINED
    with pytest.raises(ProtocolError):
        Reader(b"\x75\x01\x75\x01\x7e").any(max_depth=2)
    assert Reader(b"\x75\x01\x7e").any(max_depth=2) == [None]
