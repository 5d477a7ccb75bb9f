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

from server.crdt.errors import ProtocolError
from server.crdt.lib0 import Reader

# A client publishes its own state (y-websocket sends one entry); a few more are tolerated
# for clients that relay, but an update is never an excuse to flood the room.
MAX_ENTRIES = 16
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


def decode_awareness_update(update: bytes) -> list[AwarenessEntry]:
    reader = Reader(update)
    count = reader.var_uint()
    if count > MAX_ENTRIES:
        raise ProtocolError(f"awareness update with {count} entries (at most {MAX_ENTRIES})")
    entries = []
    for _ in range(count):
        client_id = reader.var_uint()
        clock = reader.var_uint()
        raw_state = reader.var_string()
        if len(raw_state) > MAX_STATE_BYTES:
            raise ProtocolError(f"awareness state larger than {MAX_STATE_BYTES} bytes")
        try:
            state = json.loads(raw_state)
        except ValueError as exc:
            raise ProtocolError("awareness state is not valid JSON") from exc
        if state is not None and not isinstance(state, dict):
            raise ProtocolError("awareness state must be a JSON object or null")
        entries.append(AwarenessEntry(client_id, clock, state))
    reader.expect_end()
    return entries


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
