"""Participation figures as they happen: edits and time connected, per person and room.

Counting is in memory and cheap (a dict increment per accepted update); the figures reach
the database (`koprade_activity`) every few seconds, when a room unloads and at shutdown.
Time connected counts a person once however many tabs they have open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from server.crdt.awareness import Identity
from server.ids import room_of_board
from server.rooms.hooks import RoomHooks
from server.storage.store import ActivityDelta, Store

if TYPE_CHECKING:
    from server.rooms.room import Member, Room
    from server.tokens import Claims

log = logging.getLogger("koprade.activity")

FLUSH_SECONDS = 10.0


@dataclass
class _Person:
    edits: int = 0  # not flushed yet
    seconds: float = 0.0  # not flushed yet
    open_connections: int = 0
    since: float = 0.0  # monotonic start of the current connected stretch
    last_seen: datetime = field(default_factory=lambda: datetime.now(UTC))


class Activity(RoomHooks):
    """Listens to `joined`, `left` and `changed`; writes its figures when asked (`storing`)."""

    def __init__(self, store: Store, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        self._people: dict[tuple[str, str], _Person] = {}
        self._task: asyncio.Task[None] | None = None

    def _person(self, room_id: str, participant: str) -> _Person:
        key = (room_id, participant)
        person = self._people.get(key)
        if person is None:
            person = self._people[key] = _Person()
        return person

    # -- events ----------------------------------------------------------------------------

    def connected(self, room_id: str, participant: str) -> None:
        person = self._person(room_id, participant)
        if person.open_connections == 0:
            person.since = time.monotonic()
        person.open_connections += 1
        person.last_seen = datetime.now(UTC)

    def disconnected(self, room_id: str, participant: str) -> None:
        person = self._person(room_id, participant)
        if person.open_connections == 0:
            return  # never counted as connected (its join failed half-way)
        person.open_connections -= 1
        if person.open_connections == 0:
            person.seconds += time.monotonic() - person.since
        person.last_seen = datetime.now(UTC)

    def edited(self, room_id: str, participant: str) -> None:
        self._person(room_id, participant).edits += 1

    # -- hooks ---------------------------------------------------------------------------

    async def joined(self, room: Room, connection: Member, claims: Claims) -> None:
        self.connected(room_of_board(room.id), claims.participant)

    def left(self, room: Room, identity: Identity) -> None:
        self.disconnected(room_of_board(room.id), identity.participant)

    def changed(self, room: Room, by: Identity) -> None:
        self.edited(room_of_board(room.id), by.participant)

    async def storing(self, room_id: str) -> None:
        await self.flush()

    # -- reading ---------------------------------------------------------------------------

    def pending(self, room_id: str) -> dict[str, tuple[int, float]]:
        """Not yet stored figures of a room: participant -> (edits, seconds so far)."""
        now = time.monotonic()
        return {
            participant: (
                person.edits,
                person.seconds + (now - person.since if person.open_connections else 0.0),
            )
            for (room, participant), person in self._people.items()
            if room == room_id
        }

    # -- storing ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Move the counted figures into the database (a running stretch is split)."""
        now = time.monotonic()
        deltas: list[ActivityDelta] = []
        for (room_id, participant), person in list(self._people.items()):
            seconds = person.seconds
            if person.open_connections:
                seconds += now - person.since
                person.since = now
            if person.edits or seconds >= 1:
                deltas.append(
                    ActivityDelta(
                        room_id, participant, person.edits, int(seconds), person.last_seen
                    )
                )
                person.edits = 0
                person.seconds = seconds - int(seconds)
            elif not person.open_connections:
                del self._people[(room_id, participant)]
        if deltas:
            try:
                await self._store.add_activity(deltas)
            except Exception:
                log.exception("participation figures could not be stored; kept for next time")
                for delta in deltas:
                    person = self._person(delta.room_id, delta.participant_id)
                    person.edits += delta.edits
                    person.seconds += delta.seconds

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            await self.flush()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()
