"""The session services built together, as the app factory wires them."""

from __future__ import annotations

from typing import Any

from server.rooms.facilitation import Facilitation
from server.rooms.hooks import RoomHooks
from server.rooms.manager import RoomManager
from server.sessions import boards
from server.sessions.deletion import RoomDeletion
from server.sessions.retention import PurgeCandidate, Retention
from server.sessions.room_data import RoomData
from server.sessions.snapshots import Snapshots
from server.sessions.templates import Templates
from server.storage.sessions import SessionStore
from server.storage.store import Store


class Sessions:
    """Snapshots, templates, deletion, retention and the data export of rooms.

    `snapshots` listens to the `phase_changed` hook (automatic snapshots); deletion and the
    data export call `storing` before they touch a room's data.
    """

    def __init__(
        self,
        store: Store,
        rooms: RoomManager,
        facilitation: Facilitation,
        *,
        retention_days: int = 0,
        hooks: RoomHooks | None = None,
    ) -> None:
        self.store = store
        self.saved = SessionStore(store)
        self.snapshots = Snapshots(self.saved, rooms)
        self.templates = Templates(self.saved, rooms)
        self.deletion = RoomDeletion(store, rooms, facilitation, hooks=hooks)
        self.retention = Retention(store, rooms, self.deletion, retention_days)
        self.data = RoomData(
            store,
            self.saved,
            rooms,
            retention_days=retention_days,
            hooks=hooks,
        )

    async def start(self) -> None:
        await self.retention.start()

    async def stop(self) -> None:
        await self.retention.stop()

    async def seed(self, room_id: str, board: dict[str, Any]) -> None:
        """A new room's first board from a JSON export (a template's, a snapshot's)."""
        await boards.seed(self.store, room_id, board)

    async def purge(self, *, dry_run: bool = False) -> list[PurgeCandidate]:
        return await self.retention.purge(dry_run=dry_run)
