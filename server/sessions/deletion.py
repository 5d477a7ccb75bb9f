"""Deleting a room with everything stored about it (docs/data-protection.md)."""

from __future__ import annotations

import logging

from server.rooms.connection import CLOSE_ROOM_NOT_FOUND
from server.rooms.facilitation import CLOSING_ROOM_DELETED, Facilitation, closing_message
from server.rooms.hooks import RoomHooks
from server.rooms.manager import RoomManager
from server.storage.store import Store

log = logging.getLogger("koprade.sessions")


class RoomDeletion:
    def __init__(
        self,
        store: Store,
        rooms: RoomManager,
        facilitation: Facilitation,
        *,
        hooks: RoomHooks | None = None,
    ) -> None:
        self.store = store
        self.rooms = rooms
        self.facilitation = facilitation
        # `storing` first: what is counted in memory about the room (participation
        # figures) reaches the database, so it is deleted with the rest.
        self.hooks = hooks or RoomHooks()

    async def delete(self, room_id: str) -> None:
        """Close the room's sockets, unload it and delete everything stored about it.

        An owner write: in cluster mode the process serving the room does it (the request
        is forwarded there), fenced by the room's lease like every other write.
        """
        async with self.rooms.owning(room_id):
            await self.rooms.evict(
                room_id,
                CLOSE_ROOM_NOT_FOUND,
                "room deleted",
                last_words=closing_message(CLOSING_ROOM_DELETED),
            )
            try:
                await self.hooks.storing(room_id)
                await self.store.delete_room(room_id)
            except BaseException:
                self.rooms.evicted.discard(room_id)
                raise
        self.facilitation.forget(room_id)
        self.hooks.deleted(room_id)
        log.info("room deleted with everything stored about it", extra={"room": room_id})
