"""Awareness updates: validate what clients publish and bind it to their token.

An awareness update is `count`, then per client `client id`, `clock` and a JSON state
string, where `null` removes the client. Clients are untrusted, so every entry is parsed
and checked here before the room's `pycrdt.Awareness` sees it, and the `user` fields are
overwritten with the identity from the connection's token, or, in an anonymous room, with a
neutral label ("Participant 3") and a presence alias (`AnonymousPresence`).
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
# A stock client publishes under one client id per connection. The room remembers every id
# it heard of while it is loaded (to recognise echoes), so a connection that invents ids
# would grow the server's memory without bound: past this many it is closed (4400).
MAX_CLIENT_IDS_PER_CONNECTION = 8
MAX_COLOR_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a connection is, as signed in its token."""

    participant: str
    name: str
    role: str
    # What this participant's cards name as their author in an anonymous room (set by the
    # room from server/crdt/pseudonyms.py); also the sender's own, for the rules.
    pseudonym: str | None = None

    @property
    def own_authors(self) -> frozenset[str]:
        """Every `author` value that names this participant."""
        return frozenset(a for a in (self.participant, self.pseudonym) if a)


#: The neutral label of presence in anonymous rooms, by role; clients show their own
#: translation from `user.role` and `user.number`.
ANONYMOUS_LABELS = {"participant": "Participant", "observer": "Observer"}


@dataclass(frozen=True, slots=True)
class AnonymousPresence:
    """How a participant appears in an anonymous room's presence: an alias and a number."""

    alias: str
    number: int

    def label(self, role: str) -> str:
        return f"{ANONYMOUS_LABELS.get(role, 'Participant')} {self.number}"


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


def bind_identity(
    state: dict[str, Any], identity: Identity, anonymous: AnonymousPresence | None = None
) -> dict[str, Any]:
    """Return the state with `user` taken from the token, keeping only a sane color.

    With `anonymous`, `user` carries the neutral label, the number and the alias instead of
    the name and the participant id, and no color: clients derive a person's color from
    their id, so a color kept from before the switch would tell who is who.
    """
    published = state.get("user")
    user: dict[str, Any] = {}
    if isinstance(published, dict) and anonymous is None:
        color = published.get("color")
        if isinstance(color, str) and len(color) <= MAX_COLOR_LENGTH:
            user["color"] = color
    if anonymous is None:
        user["name"] = identity.name
        user["id"] = identity.participant
    else:
        user["name"] = anonymous.label(identity.role)
        user["id"] = anonymous.alias
        user["number"] = anonymous.number
    user["role"] = identity.role
    return {**state, "user": user}
