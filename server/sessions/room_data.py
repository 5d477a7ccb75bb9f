"""Everything stored about a room, in one JSON document, for the lab's data-protection
duties (a person's request for their data; docs/data-protection.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.crdt.board import board_to_json
from server.exports import export_json
from server.ids import private_owner
from server.rooms.hooks import RoomHooks
from server.rooms.manager import RoomManager
from server.sessions.snapshots import snapshot_entry
from server.storage.sessions import SessionStore
from server.storage.store import ParticipantRecord, RoomRecord, Store
from server.timestamps import iso


class RoomData:
    def __init__(
        self,
        store: Store,
        saved: SessionStore,
        rooms: RoomManager,
        *,
        retention_days: int = 0,
        hooks: RoomHooks | None = None,
    ) -> None:
        self.store = store
        self.saved = saved
        self.rooms = rooms
        self.retention_days = retention_days
        # `storing` first: the participation figures counted in memory go into the export.
        self.hooks = hooks or RoomHooks()

    async def export(self, record: RoomRecord) -> dict[str, Any]:
        """Everything stored about a room, names included."""
        await self.hooks.storing(record.id)
        room_id = record.id
        people = await self.store.list_participants(room_id)
        names = {p.id: p.name for p in people}
        last = (await self.saved.last_activity()).get(room_id)
        private: dict[str, Any] = {}
        for board_id in await self.store.private_documents(room_id):
            doc = await self.rooms.board(board_id)
            private[private_owner(board_id) or ""] = board_to_json(doc)["cards"]
        return {
            "format": "koprade-room-data",
            "version": 1,
            "exported": iso(datetime.now(UTC)),
            "room": {
                "id": record.id,
                "code": record.code,
                "title": record.title,
                "created": iso(record.created),
                "lastActivity": iso(last[1]) if last else None,
            },
            "retentionDays": self.retention_days or None,
            "participants": [
                {
                    "participant": p.id,
                    "name": p.name,
                    "role": p.role,
                    "joined": iso(p.joined),
                    "removed": iso(p.removed) if p.removed else None,
                }
                for p in people
            ],
            "votes": [
                {
                    "participant": v.participant_id,
                    "card": v.card_id,
                    "count": v.count,
                    "updated": iso(v.updated),
                }
                for v in await self.saved.votes_of(room_id)
            ],
            "snapshots": [
                snapshot_entry(s, names) for s in await self.saved.list_snapshots(room_id)
            ],
            # Everything stored, names included: this answers a person's request for their
            # data, so the room's display rules (anonymous mode) do not apply here.
            "board": self._attributed(
                room_id,
                export_json(record, await self.rooms.board(room_id), room_rules=False),
                people,
            ),
            "privateBoards": private,
            "activity": [
                {
                    "participant": a.participant_id,
                    "edits": a.edits,
                    "secondsActive": a.seconds_active,
                    "lastSeen": iso(a.last_seen) if a.last_seen else None,
                }
                for a in await self.saved.activity_of(room_id)
            ],
            "templates": await self.saved.templates_from(room_id),
        }

    def _attributed(
        self, room_id: str, board: dict[str, Any], people: list[ParticipantRecord]
    ) -> dict[str, Any]:
        """Each card with the `participant` who wrote it, its pseudonym resolved (anonymous
        mode): a person asking for their data gets their anonymous cards too."""
        resolve = self.rooms.pseudonyms.for_room(room_id).resolver(p.id for p in people)
        for card in board["cards"]:
            author = card.get("author")
            if isinstance(author, str) and author:
                card["participant"] = resolve.get(author, author)
        return board
