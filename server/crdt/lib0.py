"""Bounds-checked reading of lib0 varuints and length-prefixed byte strings.

pycrdt's `Decoder` trusts its input (a truncated frame raises IndexError or silently
returns short data), so untrusted frames from the network are read with this reader,
which turns every inconsistency into a `ProtocolError`.
"""

from __future__ import annotations

from server.crdt.errors import ProtocolError

# lib0 encodes JavaScript numbers; anything beyond 53 bits cannot come from a Yjs client.
_MAX_VAR_UINT_BYTES = 8
_MAX_SAFE_INTEGER = 2**53 - 1


class Reader:
    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def var_uint(self) -> int:
        value = 0
        shift = 0
        for _ in range(_MAX_VAR_UINT_BYTES):
            if self._pos >= len(self._data):
                raise ProtocolError("truncated message (varuint)")
            byte = self._data[self._pos]
            self._pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value > _MAX_SAFE_INTEGER:
                    raise ProtocolError("varuint out of range")
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
