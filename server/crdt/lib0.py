"""Bounds-checked reading of lib0 encodings (varuints, strings, `readAny` values).

pycrdt's `Decoder` trusts its input (a truncated frame raises IndexError or silently
returns short data), so untrusted frames from the network are read with this reader,
which turns every inconsistency into a `ProtocolError`.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

from server.crdt.errors import ProtocolError

# lib0 encodes JavaScript numbers; anything beyond 53 bits cannot come from a Yjs client.
_MAX_VAR_UINT_BYTES = 8
_MAX_SAFE_INTEGER = 2**53 - 1
# A signed varint: 6 value bits in the first byte, 7 in each further one (55 bits in 8 bytes).
_MAX_VAR_INT_BYTES = 8
# How deep `Reader.any()` follows nested arrays/objects (lib0 itself has no limit).
MAX_ANY_DEPTH = 64


class Undefined(enum.Enum):
    """JavaScript `undefined` as read by lib0 `readAny` (tag 127); JSON `null` is `None`."""

    UNDEFINED = "undefined"

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = Undefined.UNDEFINED


class Reader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not read yet (bounds declared counts before anything is allocated)."""
        return len(self._data) - self._pos

    def uint8(self) -> int:
        if self._pos >= len(self._data):
            raise ProtocolError("truncated message (uint8)")
        byte = self._data[self._pos]
        self._pos += 1
        return byte

    def _fixed(self, size: int, what: str) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise ProtocolError(f"truncated message ({what})")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def var_int(self) -> int:
        """lib0 `readVarInt`: sign in bit 6 of the first byte, 6 + 7·k magnitude bits.

        JavaScript's `-0` (sign bit set, magnitude 0) comes back as plain `0`.
        """
        byte = self.uint8()
        value = byte & 0x3F
        negative = bool(byte & 0x40)
        shift = 6
        count = 1
        while byte & 0x80:
            if count >= _MAX_VAR_INT_BYTES:
                raise ProtocolError("varint too long")
            byte = self.uint8()
            count += 1
            value |= (byte & 0x7F) << shift
            shift += 7
        if value > _MAX_SAFE_INTEGER:
            raise ProtocolError("varint out of range")
        return -value if negative else value

    def float32(self) -> float:
        return float(struct.unpack(">f", self._fixed(4, "float32"))[0])

    def float64(self) -> float:
        return float(struct.unpack(">d", self._fixed(8, "float64"))[0])

    def big_int64(self) -> int:
        return int.from_bytes(self._fixed(8, "bigint64"), "big", signed=True)

    def any(self, *, max_depth: int = MAX_ANY_DEPTH) -> Any:
        """lib0 `readAny`: JSON-like values plus `UNDEFINED`, big ints and `bytes`.

        Objects become `dict` (a repeated key keeps its last value, as in JavaScript),
        arrays `list`, Uint8Array `bytes`, integers/bigints `int`, float32/float64 `float`.
        Nesting deeper than `max_depth` raises `ProtocolError`.
        """
        return self._any(max_depth)

    def _any(self, depth: int) -> Any:
        if depth <= 0:
            raise ProtocolError("value nested too deeply")
        tag = self.uint8()
        if tag == 127:
            return UNDEFINED
        if tag == 126:
            return None
        if tag == 125:
            return self.var_int()
        if tag == 124:
            return self.float32()
        if tag == 123:
            return self.float64()
        if tag == 122:
            return self.big_int64()
        if tag == 121:
            return False
        if tag == 120:
            return True
        if tag == 119:
            return self.var_string()
        if tag == 118:
            count = self.var_uint()
            # every entry takes at least a key length byte and a value tag
            if count > self.remaining // 2:
                raise ProtocolError(f"object declares {count} entries, {self.remaining} bytes left")
            obj: dict[str, Any] = {}
            for _ in range(count):
                key = self.var_string()
                obj[key] = self._any(depth - 1)
            return obj
        if tag == 117:
            count = self.var_uint()
            if count > self.remaining:
                raise ProtocolError(f"array declares {count} items, {self.remaining} bytes left")
            return [self._any(depth - 1) for _ in range(count)]
        if tag == 116:
            return self.var_bytes()
        raise ProtocolError(f"unknown value tag {tag}")

    def var_uint(self) -> int:
        data = self._data
        pos = self._pos
        size = len(data)
        # Most varuints in an update (clocks of small docs, lengths, counts) are one byte.
        if pos < size and data[pos] < 0x80:
            self._pos = pos + 1
            return data[pos]
        value = 0
        shift = 0
        for _ in range(_MAX_VAR_UINT_BYTES):
            if pos >= size:
                raise ProtocolError("truncated message (varuint)")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value > _MAX_SAFE_INTEGER:
                    raise ProtocolError("varuint out of range")
                self._pos = pos
                return value
            shift += 7
        raise ProtocolError("varuint too long")

    def var_bytes(self) -> bytes:
        length = self.var_uint()
        end = self._pos + length
        if end > len(self._data):
            raise ProtocolError(
                f"truncated message (declared {length} bytes, {len(self._data) - self._pos} left)"
            )
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("invalid UTF-8 in string") from exc

    def expect_end(self) -> None:
        if self._pos != len(self._data):
            raise ProtocolError(f"{len(self._data) - self._pos} unexpected trailing bytes")
