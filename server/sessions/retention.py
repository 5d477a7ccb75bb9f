"""Retention: closed rooms are deleted once nothing happened in them for the retention
period (`koprade purge`, and hourly in the server when `--retention-days` is set).
See docs/data-protection.md."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.crdt.settings import read_settings
from server.errors import OwnedElsewhere
from server.exports import load_stored_board
from server.rooms.manager import RoomManager, RoomNotFound
from server.sessions.deletion import RoomDeletion
from server.storage.sessions import SessionStore
from server.storage.store import RoomRecord, Store

log = logging.getLogger("koprade.sessions")

PURGE_INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True)
class PurgeCandidate:
    """A closed room whose last activity is older than the retention period."""

    room: RoomRecord
    last_activity: datetime
    snapshots: int
    private_boards: int


async def closed_rooms_past_retention(
    store: Store, retention_days: int, *, now: datetime | None = None
) -> list[PurgeCandidate]:
    """Rooms in phase `closed` with no activity for `retention_days` days, oldest first."""
    if retention_days <= 0:
        return []
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    saved = SessionStore(store)
    found = []
    for record, last in (await saved.last_activity()).values():
        if last >= cutoff:
            continue
        if not read_settings(await load_stored_board(store, record.id)).closed:
            continue
        found.append(
            PurgeCandidate(
                room=record,
                last_activity=last,
                snapshots=len(await saved.list_snapshots(record.id)),
                private_boards=len(await store.private_documents(record.id)),
            )
        )
    found.sort(key=lambda c: (c.last_activity, c.room.id))
    return found


class Retention:
    """Deletes closed rooms past `retention_days` (0: keep them), regularly once started."""

    def __init__(
        self, store: Store, rooms: RoomManager, deletion: RoomDeletion, retention_days: int
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.deletion = deletion
        self.retention_days = retention_days
        self._purger: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.retention_days > 0:
            self._purger = asyncio.ensure_future(self._purge_regularly())

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            await asyncio.gather(self._purger, return_exceptions=True)
            self._purger = None

    async def _purge_regularly(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception:
                log.exception("purging closed rooms failed; trying again later")
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)

    async def purge(self, *, dry_run: bool = False) -> list[PurgeCandidate]:
        """Delete closed rooms past the retention period (but none that is open right now)."""
        found = [
            candidate
            for candidate in await closed_rooms_past_retention(self.store, self.retention_days)
            if candidate.room.id not in self.rooms.rooms
        ]
        if dry_run:
            return found
        purged = []
        for candidate in found:
            try:
                await self.deletion.delete(candidate.room.id)
            except (OwnedElsewhere, RoomNotFound):
                # Cluster mode: another process serves the room (it is in use after all) or
                # purged it first; each deletion holds the room's lease, so no room is
                # purged twice or while open.
                continue
            purged.append(candidate)
        return purged
