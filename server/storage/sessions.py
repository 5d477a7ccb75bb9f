"""Storage of session history: named snapshots, saved templates, and what retention needs.

A narrow companion of :class:`~server.storage.store.Store` (it uses the store's engine and
transaction helper), for the tables of schema 3 that belong to sessions:
``koprade_snapshots`` (a board's full Yjs state at a moment) and ``koprade_templates``
(boards saved as templates, in the JSON export format). It also answers the questions of
data protection: when was a room last active, what is stored about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select

from server.ids import room_of_board
from server.storage.schema import (
    activity,
    participants,
    room_snapshots,
    room_updates,
    rooms,
    snapshots,
    templates,
    votes,
)
from server.storage.store import RoomRecord, Store

#: What a named snapshot can be: taken by a facilitator, before a phase change, when the
#: room closed, or of the live board just before a restore replaced it.
SNAPSHOT_KINDS = ("manual", "phase", "closed", "restore")


@dataclass(frozen=True)
class SnapshotRecord:
    """A named snapshot without its data; ``size`` is the length of the Yjs state."""

    id: int
    room_id: str
    name: str
    kind: str
    phase: str | None
    author: str | None
    created: datetime
    size: int


@dataclass(frozen=True)
class TemplateRecord:
    """A template saved from a board; ``board`` is the JSON export as UTF-8 bytes."""

    id: str
    name: str
    description: str
    source_room: str | None
    created: datetime
    board: bytes


@dataclass(frozen=True)
class VoteRow:
    participant_id: str
    card_id: str
    count: int
    updated: datetime


@dataclass(frozen=True)
class ActivityRow:
    participant_id: str
    edits: int
    seconds_active: int
    last_seen: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


class SessionStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- named snapshots ---------------------------------------------------------------

    async def add_snapshot(
        self,
        room_id: str,
        *,
        name: str,
        kind: str,
        data: bytes,
        phase: str | None = None,
        author: str | None = None,
    ) -> SnapshotRecord:
        if kind not in SNAPSHOT_KINDS:
            raise ValueError(f"unknown snapshot kind {kind!r}")
        created = _now()
        stmt = snapshots.insert().values(
            room_id=room_id,
            name=name,
            kind=kind,
            phase=phase,
            author=author,
            created=created,
            data=data,
        )
        # Written by the room's owner: fenced in cluster mode (raises Fenced if it is not).
        async with self.store._owner_transaction(room_id) as conn:
            new_id = (await conn.execute(stmt.returning(snapshots.c.id))).scalar_one()
        return SnapshotRecord(
            int(new_id), room_id, name, kind, phase, author, created, size=len(data)
        )

    _listed = (
        snapshots.c.id,
        snapshots.c.room_id,
        snapshots.c.name,
        snapshots.c.kind,
        snapshots.c.phase,
        snapshots.c.author,
        snapshots.c.created,
        func.length(snapshots.c.data).label("size"),
    )

    @staticmethod
    def _snapshot(row: Any) -> SnapshotRecord:
        return SnapshotRecord(
            id=int(row.id),
            room_id=row.room_id,
            name=row.name,
            kind=row.kind,
            phase=row.phase,
            author=row.author,
            created=row.created,
            size=int(row.size or 0),
        )

    async def list_snapshots(self, room_id: str) -> list[SnapshotRecord]:
        """The room's snapshots, newest first (without their data)."""
        query = (
            select(*self._listed)
            .where(snapshots.c.room_id == room_id)
            .order_by(snapshots.c.id.desc())
        )
        async with self.store._transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [self._snapshot(row) for row in rows]

    async def get_snapshot(
        self, room_id: str, snapshot_id: int
    ) -> tuple[SnapshotRecord, bytes] | None:
        """One snapshot of the room with its Yjs state, or None."""
        query = select(*self._listed, snapshots.c.data).where(
            snapshots.c.room_id == room_id, snapshots.c.id == snapshot_id
        )
        async with self.store._transaction() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (self._snapshot(row), bytes(row.data))

    async def delete_snapshot(self, room_id: str, snapshot_id: int) -> bool:
        async with self.store._transaction() as conn:
            result = await conn.execute(
                delete(snapshots).where(
                    snapshots.c.room_id == room_id, snapshots.c.id == snapshot_id
                )
            )
        return result.rowcount > 0

    # -- saved templates ---------------------------------------------------------------

    async def add_template(self, template: TemplateRecord) -> None:
        async with self.store._transaction() as conn:
            await conn.execute(
                templates.insert().values(
                    id=template.id,
                    name=template.name,
                    description=template.description,
                    source_room=template.source_room,
                    created=template.created,
                    board=template.board,
                )
            )

    @staticmethod
    def _template(row: Any) -> TemplateRecord:
        return TemplateRecord(
            id=row.id,
            name=row.name,
            description=row.description,
            source_room=row.source_room,
            created=row.created,
            board=bytes(row.board),
        )

    async def list_templates(self) -> list[TemplateRecord]:
        """Saved templates, newest first."""
        query = select(templates).order_by(templates.c.created.desc(), templates.c.id)
        async with self.store._transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [self._template(row) for row in rows]

    async def get_template(self, template_id: str) -> TemplateRecord | None:
        async with self.store._transaction() as conn:
            row = (
                await conn.execute(select(templates).where(templates.c.id == template_id))
            ).first()
        return None if row is None else self._template(row)

    async def delete_template(self, template_id: str) -> bool:
        async with self.store._transaction() as conn:
            result = await conn.execute(delete(templates).where(templates.c.id == template_id))
        return result.rowcount > 0

    # -- data protection -----------------------------------------------------------------

    async def last_activity(self) -> dict[str, tuple[RoomRecord, datetime]]:
        """Every room with the newest moment anything about it was written.

        That is the latest of: the room's creation, a join or removal, a stored update or
        compaction (of the board or a private board), a vote, a named snapshot, and the
        participation figures' last sighting.
        """
        sources = [
            select(participants.c.room_id, func.max(participants.c.joined)).group_by(
                participants.c.room_id
            ),
            select(participants.c.room_id, func.max(participants.c.removed)).group_by(
                participants.c.room_id
            ),
            select(room_updates.c.room_id, func.max(room_updates.c.created)).group_by(
                room_updates.c.room_id
            ),
            select(room_snapshots.c.room_id, room_snapshots.c.updated),
            select(votes.c.room_id, func.max(votes.c.updated)).group_by(votes.c.room_id),
            select(snapshots.c.room_id, func.max(snapshots.c.created)).group_by(
                snapshots.c.room_id
            ),
            select(activity.c.room_id, func.max(activity.c.last_seen)).group_by(activity.c.room_id),
        ]
        found: dict[str, tuple[RoomRecord, datetime]] = {}
        async with self.store._transaction(snapshot=True) as conn:
            for row in await conn.execute(select(rooms)):
                found[row.id] = (
                    RoomRecord(id=row.id, code=row.code, title=row.title, created=row.created),
                    row.created,
                )
            for query in sources:
                for board_id, moment in (await conn.execute(query)).all():
                    room_id = room_of_board(board_id)
                    if moment is None or room_id not in found:
                        continue
                    record, latest = found[room_id]
                    if moment > latest:
                        found[room_id] = (record, moment)
        return found

    async def votes_of(self, room_id: str) -> list[VoteRow]:
        """Every cast dot of the room, with when it was last changed."""
        query = (
            select(votes)
            .where(votes.c.room_id == room_id)
            .order_by(votes.c.participant_id, votes.c.card_id)
        )
        async with self.store._transaction() as conn:
            rows = (await conn.execute(query)).all()
        # Row resolves `count` to the column at run time (its special-name accessor for
        # "count" and "index"); its stubs only know tuple.count.
        return [
            VoteRow(r.participant_id, r.card_id, int(r.count), r.updated)  # type: ignore[call-overload]
            for r in rows
        ]

    async def activity_of(self, room_id: str) -> list[ActivityRow]:
        """The stored participation figures of the room, one row per person."""
        query = (
            select(activity)
            .where(activity.c.room_id == room_id)
            .order_by(activity.c.participant_id)
        )
        async with self.store._transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ActivityRow(r.participant_id, int(r.edits), int(r.seconds_active), r.last_seen)
            for r in rows
        ]

    async def templates_from(self, room_id: str) -> list[str]:
        """Ids of the templates saved from this room."""
        query = select(templates.c.id).where(templates.c.source_room == room_id)
        async with self.store._transaction() as conn:
            return sorted(row.id for row in await conn.execute(query))
