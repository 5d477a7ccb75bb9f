"""Named snapshots of a board: taken by a facilitator, before every phase change and when
the room closes; viewed, restored into the live board (the live board is kept as a
"restore" snapshot first) or copied into a new room for the next session."""

from __future__ import annotations

import logging
from typing import Any

from pycrdt import Map

from server.crdt.board import (
    CARD_FIELDS,
    CARDS,
    CLUSTER_FIELDS,
    CLUSTERS,
    META,
    VOTES,
    BoardDoc,
    board_to_json,
    doc_from_updates,
)
from server.crdt.rules import CLOSED_PHASE
from server.crdt.settings import read_settings
from server.errors import NotFound
from server.exports import hide_people
from server.rooms import writes
from server.rooms.hooks import RoomHooks
from server.rooms.manager import RoomManager, RoomNotFound
from server.rooms.room import Room
from server.sessions.boards import export_of
from server.storage.sessions import SessionStore, SnapshotRecord
from server.storage.store import StorageError
from server.timestamps import iso
from server.tokens import Claims

log = logging.getLogger("koprade.sessions")

MAX_SNAPSHOT_ID = 2**63  # ids are BIGINT; a larger number in a URL finds nothing


def _not_found() -> NotFound:
    return NotFound("snapshot_not_found", "no such snapshot in this room")


def snapshot_entry(record: SnapshotRecord, names: dict[str, str]) -> dict[str, Any]:
    """A snapshot as listed (docs/protocol.md, "Snapshots"); `names` resolves its author."""
    return {
        "id": record.id,
        "name": record.name,
        "kind": record.kind,
        "phase": record.phase,
        "author": record.author,
        "authorName": names.get(record.author) if record.author else None,
        "created": iso(record.created),
        "bytes": record.size,
    }


def _plain_entries(
    doc: BoardDoc, root: str, fields: tuple[str, ...], text_field: str
) -> dict[str, dict[str, Any]]:
    """A root map's well-formed entries as plain values, numbers as stored."""
    found: dict[str, dict[str, Any]] = {}
    for entry_id, entry in doc.get(root, type=Map).items():
        if not isinstance(entry, Map):
            continue
        values = {key: entry[key] for key in fields if key in entry}
        values[text_field] = str(entry.get(text_field, ""))
        found[entry_id] = values
    return found


class Snapshots(RoomHooks):
    def __init__(self, saved: SessionStore, rooms: RoomManager) -> None:
        self.saved = saved
        self.rooms = rooms

    async def take(self, room_id: str, name: str, author: str | None) -> SnapshotRecord:
        # An owner write (cluster mode: forwarded to the process serving the room).
        async with self.rooms.owning(room_id):
            doc = await self.rooms.board(room_id)
            return await self.saved.add_snapshot(
                room_id,
                name=name,
                kind="manual",
                data=doc.get_update(),
                phase=read_settings(doc).phase,
                author=author,
            )

    async def phase_changed(self, room: Room, claims: Claims, old: str, before: bytes) -> None:
        """Automatic snapshots: the board before every phase change, and when it closes
        (the `phase_changed` hook, wired in server/app.py)."""
        new = room.settings.phase
        if new == CLOSED_PHASE:
            name, kind, data, phase = "Session closed", "closed", room.snapshot(), new
        else:
            name, kind, data, phase = f"Before phase: {new}", "phase", before, old
        try:
            await self.saved.add_snapshot(
                room.id, name=name, kind=kind, data=data, phase=phase, author=claims.participant
            )
        except StorageError:
            # The phase has changed already; a missing snapshot must not turn it into an error.
            log.exception("automatic snapshot not stored", extra={"room": room.id})

    async def get(self, room_id: str, snapshot_id: int) -> tuple[SnapshotRecord, bytes]:
        found = None
        if 0 < snapshot_id < MAX_SNAPSHOT_ID:
            found = await self.saved.get_snapshot(room_id, snapshot_id)
        if found is None:
            raise _not_found()
        return found

    async def delete(self, room_id: str, snapshot_id: int) -> None:
        if not (
            0 < snapshot_id < MAX_SNAPSHOT_ID
            and await self.saved.delete_snapshot(room_id, snapshot_id)
        ):
            raise _not_found()

    async def doc(self, room_id: str, snapshot_id: int) -> tuple[SnapshotRecord, BoardDoc]:
        """A snapshot's board; without `meta.people` if the room is (or was) anonymous."""
        record, data = await self.get(room_id, snapshot_id)
        doc = doc_from_updates([data])
        if doc.get(META, type=Map).get("anonymous") or await self._anonymous(room_id):
            hide_people(doc)
        return record, doc

    async def _anonymous(self, room_id: str) -> bool:
        return read_settings(await self.rooms.board(room_id)).anonymous

    async def restore(
        self, room_id: str, snapshot_id: int, author: str
    ) -> tuple[SnapshotRecord, SnapshotRecord]:
        """Make the live board equal to a snapshot's; returns (snapshot, backup of before).

        Cards, clusters and vote results become the snapshot's; the room's settings
        (`meta`: phase, lock, anonymity, voting rules, timer, names) stay as they are, and
        so do the ballots cast (a later vote publishes results from them again).
        """
        record, data = await self.get(room_id, snapshot_id)
        target = doc_from_updates([data])
        try:
            room = await self.rooms.acquire(room_id)
        except RoomNotFound as exc:
            raise NotFound("room_not_found", "no such room") from exc
        try:
            backup = await self.saved.add_snapshot(
                room_id,
                name=f"Before restoring: {record.name}"[:400],
                kind="restore",
                data=room.snapshot(),
                phase=room.settings.phase,
                author=author,
            )
            writes.replace_board(
                room,
                _plain_entries(target, CARDS, CARD_FIELDS, "text"),
                _plain_entries(target, CLUSTERS, CLUSTER_FIELDS, "title"),
                target.get(VOTES, type=Map).to_py() or {},
            )
        finally:
            self.rooms.release(room)
        log.info("snapshot %d restored", record.id, extra={"room": room_id})
        return record, backup

    async def board(self, room_id: str, snapshot_id: int) -> dict[str, Any]:
        """A snapshot's cards and clusters as a JSON export, to copy into a new room."""
        _, doc = await self.doc(room_id, snapshot_id)
        board = board_to_json(doc)
        return export_of(board["cards"], board["clusters"])
