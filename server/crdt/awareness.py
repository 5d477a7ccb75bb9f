"""Awareness updates: validate what clients publish and bind it to their token.

An awareness update is `count`, then per client `client id`, `clock` and a JSON state
string, where `null` removes the client. Clients are untrusted, so every entry is parsed
and checked here before the room's `pycrdt.Awareness` sees it, and the `user` fields are
overwritten with the identity from the connection's token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pycrdt import Encoder

from server import safejson
from server.crdt.errors import ProtocolError
from server.crdt.lib0 import Reader

# Stock y-websocket clients echo every awareness change they receive, so one message can
# hold an entry for everyone in the room; the cap only guards against absurd input.
MAX_ENTRIES = 10_000
MAX_STATE_BYTES = 16 * 1024
MAX_COLOR_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a connection is, as signed in its token."""

    participant: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: dict[str, Any] | None  # None removes the client


@dataclass(frozen=True, slots=True)
class RawAwarenessEntry:
    """An entry whose JSON state is not parsed yet: most entries are echoes, skipped unread."""

    client_id: int
    clock: int
    raw_state: str

    def parse(self) -> AwarenessEntry:
        if len(self.raw_state) > MAX_STATE_BYTES:
            raise ProtocolError(f"awareness state larger than {MAX_STATE_BYTES} bytes")
        try:
            state = safejson.loads(self.raw_state)
        except safejson.InvalidJson as exc:
            if exc.too_deep:
                raise ProtocolError("awareness state is nested too deeply") from exc
            raise ProtocolError("awareness state is not valid JSON") from exc
        if state is not None and not isinstance(state, dict):
            raise ProtocolError("awareness state must be a JSON object or null")
        return AwarenessEntry(self.client_id, self.clock, state)


def scan_awareness_update(update: bytes) -> list[RawAwarenessEntry]:
    """Check the framing of a whole awareness update and split it into raw entries."""
    reader = Reader(update)
    count = reader.var_uint()
    if count > MAX_ENTRIES:
        raise ProtocolError(f"awareness update with {count} entries (at most {MAX_ENTRIES})")
    entries = [
        RawAwarenessEntry(reader.var_uint(), reader.var_uint(), reader.var_string())
        for _ in range(count)
    ]
    reader.expect_end()
    return entries


def decode_awareness_update(update: bytes) -> list[AwarenessEntry]:
    return [entry.parse() for entry in scan_awareness_update(update)]


def encode_awareness_update(entries: list[AwarenessEntry]) -> bytes:
    """Encode entries, removals included.

    Written here rather than with `Awareness.encode_awareness_update` because that one
    reads the clock of a client from the awareness object, which no longer knows a
    client whose state was just removed.
    """
    encoder = Encoder()
    encoder.write_var_uint(len(entries))
    for entry in entries:
        encoder.write_var_uint(entry.client_id)
        encoder.write_var_uint(entry.clock)
        encoder.write_var_string(json.dumps(entry.state, separators=(",", ":")))
    return encoder.to_bytes()


def bind_identity(state: dict[str, Any], identity: Identity) -> dict[str, Any]:
    """Return the state with `user` taken from the token, keeping only a sane color."""
    published = state.get("user")
    user: dict[str, Any] = {}
    if isinstance(published, dict):
        color = published.get("color")
        if isinstance(color, str) and len(color) <= MAX_COLOR_LENGTH:
            user["color"] = color
    user["name"] = identity.name
    user["id"] = identity.participant
    user["role"] = identity.role
    return {**state, "user": user}
