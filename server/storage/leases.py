"""Room leases for cluster mode: which node owns a room, with a fencing number.

In cluster mode many processes share one PostgreSQL database and each room is owned by one
of them at a time: the owner holds the room's lease, a row of ``koprade_room_leases``
(room id, node, epoch, expires_at), and keeps renewing it. Every time a lease changes hands
(or is taken again by the same node after it expired or was released) its ``epoch`` grows
by one, and the row is never deleted while the room exists, so epochs only ever grow. The
epoch is the fencing number of the owner's writes (server/storage/fencing.py).

Rules, all decided by one statement each and by the DATABASE clock (``now()``), never a
node's, so two nodes never both win and clock skew between nodes does not matter:

* ``acquire``: no row -> insert, epoch 1. A row whose lease expired -> take it, epoch + 1
  (from anyone, ourselves included). A live lease of ours -> renew it, same epoch. A live
  lease of another node -> None.
* ``renew``: extend the leases of this node whose epoch still matches and that are still
  live. An expired lease is not renewed (another node may be taking it right now): the
  caller must ``acquire`` again, which gives a new epoch.
* ``release``: expire the lease now if node and epoch still match (the row stays).

Only base room ids are leased: a private board ``"<room>/<participant>"`` belongs to its
room's lease. Leases need PostgreSQL (row locks, one shared clock): on any other database
every method raises StorageError.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Interval, and_, case, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from server.ids import room_of_board
from server.storage.fencing import require_postgres
from server.storage.schema import room_leases
from server.storage.store import Store


@dataclass(frozen=True)
class Lease:
    """A lease a node holds: it owns the room while it renews this epoch in time."""

    room_id: str
    node: str
    epoch: int


@dataclass(frozen=True)
class LeaseHolder:
    """What the table says about a room: ``live`` is ``expires_at > now()`` in the database."""

    node: str
    epoch: int
    live: bool


def _live() -> ColumnElement[bool]:
    return room_leases.c.expires_at > func.now()


def _expiry(ttl: float) -> ColumnElement[datetime]:
    """``now() + ttl seconds`` on the database's clock."""
    if not ttl > 0:
        raise ValueError("ttl must be a positive number of seconds")
    return func.now() + literal(timedelta(seconds=ttl), Interval())


class LeaseStore:
    """Leases of rooms in the store's database (PostgreSQL only); no state of its own."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _check(self) -> None:
        require_postgres(self.store.dialect_name)

    async def acquire(self, room_id: str, node: str, ttl: float) -> Lease | None:
        """Take or renew the room's lease for ``ttl`` seconds; None while another node
        holds a live one. One statement (INSERT .. ON CONFLICT DO UPDATE .. WHERE): the
        row lock decides between racing nodes, never a read followed by a write.

        Taking a lease over waits for the fenced writes of the previous owner that are
        running (their share lock on the row, see fencing.py), so they are committed
        before the new owner can load the room.
        """
        self._check()
        if room_of_board(room_id) != room_id:
            raise ValueError(f"only rooms are leased, not boards: {room_id!r}")
        expires = _expiry(ttl)
        insert = postgresql.insert(room_leases).values(
            room_id=room_id, node=node, epoch=1, expires_at=expires
        )
        # In ON CONFLICT DO UPDATE, room_leases.c.* is the existing row, excluded the new one.
        ours = room_leases.c.node == insert.excluded.node
        stmt = insert.on_conflict_do_update(
            index_elements=[room_leases.c.room_id],
            set_={
                "node": insert.excluded.node,
                "epoch": case(
                    (and_(ours, _live()), room_leases.c.epoch), else_=room_leases.c.epoch + 1
                ),
                "expires_at": insert.excluded.expires_at,
            },
            where=or_(~_live(), ours),
        ).returning(room_leases.c.epoch)
        async with self.store._transaction() as conn:
            epoch = (await conn.execute(stmt)).scalar_one_or_none()
        return None if epoch is None else Lease(room_id, node, int(epoch))

    async def renew(self, node: str, held: dict[str, int], ttl: float) -> set[str]:
        """Extend, in one UPDATE, the leases in ``held`` (room id -> epoch) that are still
        this node's with that epoch and still live; returns the room ids still held.

        A room missing from the answer is lost: stop serving it (an expired lease is never
        renewed, another node may be taking it over). The rows are locked in room id
        order, like the fenced writes lock them, so the two never deadlock.
        """
        self._check()
        if not held:
            return set()
        expires = _expiry(ttl)
        mine = (
            room_leases.c.node == node,
            tuple_(room_leases.c.room_id, room_leases.c.epoch).in_(sorted(held.items())),
            _live(),
        )
        locked = (
            select(room_leases.c.room_id)
            .where(*mine)
            .order_by(room_leases.c.room_id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE, what the UPDATE takes
        )
        stmt = (
            update(room_leases)
            .where(room_leases.c.room_id.in_(locked.scalar_subquery()), *mine)
            .values(expires_at=expires)
            .returning(room_leases.c.room_id)
        )
        async with self.store._transaction() as conn:
            return {row.room_id for row in await conn.execute(stmt)}

    async def release(self, room_id: str, node: str, epoch: int) -> None:
        """Expire the lease now if it is still ``node``'s with ``epoch`` (a clean hand-over:
        any node may take it at once). The row stays, so the next epoch is higher."""
        self._check()
        async with self.store._transaction() as conn:
            await conn.execute(
                update(room_leases)
                .where(
                    room_leases.c.room_id == room_id,
                    room_leases.c.node == node,
                    room_leases.c.epoch == epoch,
                    _live(),
                )
                .values(expires_at=func.now())
            )

    async def holders(self, room_ids: Collection[str]) -> dict[str, LeaseHolder]:
        """The lease rows of these rooms (rooms never leased are missing)."""
        self._check()
        if not room_ids:
            return {}
        query = select(
            room_leases.c.room_id,
            room_leases.c.node,
            room_leases.c.epoch,
            _live().label("live"),
        ).where(room_leases.c.room_id.in_(sorted(set(room_ids))))
        async with self.store._transaction() as conn:
            rows = (await conn.execute(query)).all()
        return {row.room_id: LeaseHolder(row.node, int(row.epoch), bool(row.live)) for row in rows}

    async def holder(self, room_id: str) -> LeaseHolder | None:
        """The lease row of the room, None if it was never leased."""
        return (await self.holders([room_id])).get(room_id)
