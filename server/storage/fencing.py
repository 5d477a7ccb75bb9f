"""Fencing: a room's owner process writes only while the room's lease is still its own.

In cluster mode (server/storage/leases.py) one process owns a room at a time, holding its
lease with a fencing number, the ``epoch``, which grows every time the lease changes hands.
A process that was paused or cut off may still believe it owns a room after another took it
over; its writes must then store nothing. :class:`~server.storage.store.Store` gets a
:class:`Fence` (``store.fence``) that says which epoch this process holds per room, and checks
it inside the transaction of every owner write against the lease row:

    SELECT room_id, epoch FROM koprade_room_leases
    WHERE room_id IN (...) AND node = :node ORDER BY room_id FOR SHARE

A write goes ahead only for the rooms whose row names this node with the epoch the fence
holds. Why this is enough:

* **FOR SHARE** makes a take-over wait for the write. Taking a lease over is an UPDATE of the
  row (``LeaseStore.acquire``), which conflicts with the share lock, so it waits until the
  write has committed, and only then bumps the epoch: the new owner (which loads the room
  after winning the lease) sees the write. The other way round, a write that starts after a
  take-over committed reads the new epoch (the locking read sees the latest version of the
  row) and is refused. A plain SELECT would allow "check, take-over commits, new owner loads,
  stale write commits": a write the new owner never sees. Renewals (also UPDATEs) wait for
  running writes the same way, briefly; shared locks of two writes never conflict. Rows are
  locked in room id order, like ``LeaseStore.renew`` locks them, so these never deadlock.
* **Expiry is not checked.** A lease that expired but was not taken over yet still fences
  correctly: nobody else can own the room without bumping the epoch, and that bump waits for
  the write as above. Checking expiry as well would only refuse writes nobody competes with.

Rooms whose lease is gone are reported to ``Fence.lost``; see ``Store.append_updates`` (the
group commit stores the other rooms of the batch) and the owner writes that raise
:class:`Fenced`. Reads are never fenced. Without a fence (``store.fence is None``, a single
process) nothing of this runs: not one extra query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import Connection, select

from server.storage.errors import StorageError
from server.storage.schema import room_leases

#: What every lease and fencing operation says on a database other than PostgreSQL.
CLUSTER_NEEDS_POSTGRES = (
    "cluster mode needs PostgreSQL (room leases and fencing rely on its row locks and "
    "clock); this store's database is {dialect}: give a postgresql+asyncpg:// URL"
)


def require_postgres(dialect_name: str) -> None:
    """Raise StorageError unless the store's database is PostgreSQL."""
    if dialect_name != "postgresql":
        raise StorageError(CLUSTER_NEEDS_POSTGRES.format(dialect=dialect_name))


class Fence(Protocol):
    """What the store asks the process about the rooms it owns (cluster mode)."""

    #: This process's node name, as in ``koprade_room_leases.node``.
    node: str

    def epoch_of(self, room_id: str) -> int | None:
        """The epoch of the lease this process holds for the (base) room, None if none."""
        ...

    def lost(self, room_id: str) -> None:
        """A write for the (base) room found its lease gone: it stored nothing.

        Called on the event loop once the write's transaction is over (for a group commit:
        before ``append_updates`` returns, so before the writer's waiters run). Exceptions
        are logged and otherwise ignored.
        """
        ...


class Fenced(StorageError):
    """A write for a room whose lease this process no longer holds; nothing was written.

    A :class:`StorageError`, so the HTTP layer answers it like a failing database (503).
    """

    def __init__(self, room_id: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"room {room_id!r} is no longer served by this process (its lease is gone); "
            "nothing was written"
        )
        self.room_id = room_id


def held_rooms(conn: Connection, node: str, epochs: Mapping[str, int | None]) -> set[str]:
    """The rooms of ``epochs`` (base room id -> epoch the fence holds) whose lease row
    names ``node`` with that epoch, share-locked until the end of ``conn``'s transaction.

    Rooms the fence holds no epoch for are not held and not queried.
    """
    wanted = {room: epoch for room, epoch in epochs.items() if epoch is not None}
    if not wanted:
        return set()
    rows = conn.execute(
        select(room_leases.c.room_id, room_leases.c.epoch)
        .where(room_leases.c.room_id.in_(sorted(wanted)), room_leases.c.node == node)
        .order_by(room_leases.c.room_id)
        .with_for_update(read=True)
    )
    return {row.room_id for row in rows if int(row.epoch) == wanted[row.room_id]}
