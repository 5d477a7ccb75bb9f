"""Stand-ins for participants in anonymous rooms (docs/facilitation.md, "Anonymous mode").

Three kinds, each an HMAC keyed by a per-room key derived from the server's secret, so they
are stable across restarts, differ between rooms, and cannot be computed or reversed by
anyone without the secret; and each kind under its own label, so one cannot be linked to
another (a card's author says nothing about whose cursor is whose):

- `author(participant)`: what a card's `author` holds in an anonymous room;
- `presence(participant)`: the `user.id` of an awareness state;
- `client_id(client_id)`: the awareness client id relayed instead of the real Yjs client id,
  which also stamps every struct that client writes into the board.

The server resolves author pseudonyms back to participants (`resolver`) for the figures only
it and the lab see (insight, statistics, a data-protection export).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

AUTHOR_PREFIX = "a_"
PRESENCE_PREFIX = "u_"
# Yjs client ids are 32-bit; a positive 31-bit number is safe in every client.
_CLIENT_ID_MASK = 0x7FFF_FFFF


class Pseudonyms:
    """The server-wide source: one key per room, from the server's secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def for_room(self, room_id: str) -> RoomPseudonyms:
        key = hmac.new(self._secret, b"koprade anonymity\0" + room_id.encode(), hashlib.sha256)
        return RoomPseudonyms(key.digest())


class RoomPseudonyms:
    def __init__(self, key: bytes) -> None:
        self._key = key
        # Every cursor move of an anonymous room needs its client id's alias and its
        # sender's presence alias: remembered for the life of the room (one entry per client
        # id and participant seen).
        self._client_ids: dict[int, int] = {}
        self._presence: dict[str, str] = {}

    def _digest(self, label: bytes, value: str) -> bytes:
        return hmac.new(self._key, label + b"\0" + value.encode(), hashlib.sha256).digest()

    def author(self, participant: str) -> str:
        return AUTHOR_PREFIX + self._digest(b"author", participant)[:8].hex()

    def presence(self, participant: str) -> str:
        alias = self._presence.get(participant)
        if alias is None:
            alias = PRESENCE_PREFIX + self._digest(b"presence", participant)[:8].hex()
            self._presence[participant] = alias
        return alias

    def client_id(self, client_id: int) -> int:
        alias = self._client_ids.get(client_id)
        if alias is None:
            number = int.from_bytes(self._digest(b"client", str(client_id))[:4], "big")
            alias = self._client_ids[client_id] = (number & _CLIENT_ID_MASK) or 1
        return alias

    def resolver(self, participants: Iterable[str]) -> dict[str, str]:
        """Author pseudonym -> participant id, for these participants."""
        return {self.author(participant): participant for participant in participants}
