"""Deleting a room with everything stored about it (docs/data-protection.md)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from server.rooms.connection import CLOSE_ROOM_NOT_FOUND
from server.rooms.facilitation import Facilitation
from server.rooms.manager import RoomManager
from server.storage.store import Store

log = logging.getLogger("koprade.sessions")

#: Writes the participation figures counted in memory to the database (Activity.flush).
FlushActivity = Callable[[], Awaitable[None]]


class RoomDeletion:
    def __init__(
        self,
        store: Store,
        rooms: RoomManager,
        facilitation: Facilitation,
        *,
        flush_activity: FlushActivity | None = None,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.facilitation = facilitation
        # Participation figures counted in memory reach the database through this, so a
        # deleted room's figures are written (then deleted) before its data goes.
        self.flush_activity = flush_activity

    async def delete(self, room_id: str) -> None:
        """Close the room's sockets, unload it and delete everything stored about it."""
        await self.rooms.evict(room_id, CLOSE_ROOM_NOT_FOUND, "room deleted")
        try:
            if self.flush_activity is not None:
                await self.flush_activity()
            await self.store.delete_room(room_id)
        except BaseException:
            self.rooms.deleted.discard(room_id)
            raise
        self.facilitation.forget(room_id)
        log.info("room deleted with everything stored about it", extra={"room": room_id})
