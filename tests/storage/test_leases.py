"""Room leases and fencing (cluster mode) against real PostgreSQL.

Leases need PostgreSQL, so these tests run on the `postgres` parameter of the `database`
fixture only, except the one that checks the clear error on SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import pytest
from sqlalchemy import select

from server.storage.leases import Lease, LeaseHolder, LeaseStore
from server.storage.schema import room_leases
from server.storage.store import RoomRecord, StorageError, Store

from .conftest import Database
from .test_store import T0

postgres = pytest.mark.parametrize("database", ["postgres"], indirect=True)
sqlite = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

LONG = 30.0  # a ttl no test outlives


class FakeFence:
    """The owner side's fence as the store sees it: epochs held, rooms reported lost."""

    def __init__(self, node: str, epochs: dict[str, int] | None = None) -> None:
        self.node = node
        self.epochs = dict(epochs or {})
        self.lost_rooms: list[str] = []

    def epoch_of(self, room_id: str) -> int | None:
        return self.epochs.get(room_id)

    def lost(self, room_id: str) -> None:
        self.lost_rooms.append(room_id)


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Poll `check` until it is true; fail after `seconds`."""
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.02)


async def expires_at(store: Store, room_id: str) -> datetime:
    async with store.engine.connect() as conn:
        value = (
            await conn.execute(
                select(room_leases.c.expires_at).where(room_leases.c.room_id == room_id)
            )
        ).scalar_one()
    assert isinstance(value, datetime)
    return value


async def expired(leases: LeaseStore, room_id: str) -> bool:
    holder = await leases.holder(room_id)
    return holder is not None and not holder.live


@pytest.fixture
async def other(database: Database) -> AsyncIterator[Store]:
    """A second store (its own engine and connections) on the same data: another node."""
    s = database.make_store()
    await s.open()
    try:
        yield s
    finally:
        await s.close()


# -- SQLite --------------------------------------------------------------------------------


@sqlite
async def test_leases_need_postgresql(store: Store) -> None:
    leases = LeaseStore(store)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: leases.acquire("room", "a", LONG),
        lambda: leases.renew("a", {"room": 1}, LONG),
        lambda: leases.renew("a", {}, LONG),
        lambda: leases.release("room", "a", 1),
        lambda: leases.holders(["room"]),
        lambda: leases.holders([]),
        lambda: leases.holder("room"),
    ]
    for call in calls:
        with pytest.raises(StorageError, match=r"cluster mode needs PostgreSQL .* sqlite"):
            await call()


# -- leases --------------------------------------------------------------------------------


@postgres
async def test_acquire_inserts_epoch_1_and_refuses_another_node(store: Store) -> None:
    leases = LeaseStore(store)
    assert await leases.holder("room") is None
    assert await leases.acquire("room", "a", LONG) == Lease("room", "a", 1)
    assert await leases.acquire("room", "b", LONG) is None
    assert await leases.holder("room") == LeaseHolder("a", 1, live=True)


@postgres
async def test_acquiring_a_live_lease_of_ours_renews_it_with_the_same_epoch(
    store: Store,
) -> None:
    leases = LeaseStore(store)
    assert await leases.acquire("room", "a", 1.0) == Lease("room", "a", 1)
    first = await expires_at(store, "room")
    assert await leases.acquire("room", "a", LONG) == Lease("room", "a", 1)
    assert await expires_at(store, "room") > first
    assert await leases.holder("room") == LeaseHolder("a", 1, live=True)


@postgres
async def test_release_expires_the_lease_and_the_next_acquire_bumps_the_epoch(
    store: Store,
) -> None:
    leases = LeaseStore(store)
    await leases.acquire("room", "a", LONG)
    await leases.release("room", "a", 2)  # not our epoch: nothing happens
    await leases.release("room", "b", 1)  # not our node: nothing happens
    assert await leases.holder("room") == LeaseHolder("a", 1, live=True)
    await leases.release("room", "a", 1)
    assert await leases.holder("room") == LeaseHolder("a", 1, live=False), "row kept"
    # Taken again by ourselves after a release: a new epoch.
    assert await leases.acquire("room", "a", LONG) == Lease("room", "a", 2)
    await leases.release("room", "a", 2)
    assert await leases.acquire("room", "b", LONG) == Lease("room", "b", 3)


@postgres
async def test_epoch_strictly_grows_over_hand_overs(store: Store) -> None:
    leases = LeaseStore(store)
    seen: list[int] = []
    for node in ["a", "b", "a", "a", "c", "b"]:
        lease = await leases.acquire("room", node, LONG)
        assert lease is not None and lease.node == node
        seen.append(lease.epoch)
        await leases.release("room", node, lease.epoch)
    assert seen == [1, 2, 3, 4, 5, 6]


@postgres
async def test_expiry_follows_the_database_clock(store: Store) -> None:
    leases = LeaseStore(store)
    assert await leases.acquire("room", "a", 0.2) == Lease("room", "a", 1)
    assert await leases.holder("room") == LeaseHolder("a", 1, live=True)
    assert await leases.acquire("room", "b", LONG) is None
    await until(lambda: expired(leases, "room"))
    assert await leases.renew("a", {"room": 1}, LONG) == set(), "expired: not renewed"
    assert await leases.holder("room") == LeaseHolder("a", 1, live=False)
    assert await leases.acquire("room", "b", LONG) == Lease("room", "b", 2)
    assert await leases.renew("a", {"room": 1}, LONG) == set()
    assert await leases.acquire("room", "a", LONG) is None


@postgres
async def test_renew_extends_only_live_leases_of_this_node_and_epoch(store: Store) -> None:
    leases = LeaseStore(store)
    for room_id in ("r1", "r2", "r5"):
        await leases.acquire(room_id, "a", 1.0)
    await leases.acquire("r3", "b", LONG)
    await leases.release("r5", "a", 1)
    before = {r: await expires_at(store, r) for r in ("r1", "r2", "r3", "r5")}

    held = await leases.renew("a", {"r1": 1, "r2": 7, "r3": 1, "r4": 1, "r5": 1}, LONG)

    assert held == {"r1"}
    assert await expires_at(store, "r1") > before["r1"]
    for room_id in ("r2", "r3", "r5"):
        assert await expires_at(store, room_id) == before[room_id]
    assert await leases.holders(["r1", "r2", "r3", "r4", "r5"]) == {
        "r1": LeaseHolder("a", 1, live=True),
        "r2": LeaseHolder("a", 1, live=True),
        "r3": LeaseHolder("b", 1, live=True),
        "r5": LeaseHolder("a", 1, live=False),
    }
    assert await leases.holders([]) == {}


@postgres
async def test_renew_of_nothing_asks_nothing(database: Database) -> None:
    closed = database.make_store()  # never opened: any query would raise "not open"
    leases = LeaseStore(closed)
    assert await leases.renew("a", {}, LONG) == set()
    assert await leases.holders([]) == {}
    with pytest.raises(StorageError, match="not open"):
        await leases.renew("a", {"room": 1}, LONG)


@postgres
async def test_lease_arguments_and_database_errors(store: Store) -> None:
    leases = LeaseStore(store)
    with pytest.raises(ValueError, match="only rooms"):
        await leases.acquire("room/p_1", "a", LONG)
    for ttl in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="ttl"):
            await leases.acquire("room", "a", ttl)
    with pytest.raises(StorageError, match="database error"):
        await leases.acquire("r" * 40, "a", LONG)  # longer than the column
    assert await leases.holders(["room"]) == {}


@postgres
async def test_two_nodes_racing_for_a_room_never_both_win(store: Store, other: Store) -> None:
    a, b = LeaseStore(store), LeaseStore(other)
    for i in range(40):
        room_id = f"race{i}"
        # A free room: both insert at the same moment.
        won = await asyncio.gather(a.acquire(room_id, "a", LONG), b.acquire(room_id, "b", LONG))
        winners = [lease for lease in won if lease is not None]
        assert len(winners) == 1, won
        assert winners[0].epoch == 1
        assert await a.holder(room_id) == LeaseHolder(winners[0].node, 1, live=True)
        # An expired lease: both take it over at the same moment.
        await a.release(room_id, winners[0].node, 1)
        won = await asyncio.gather(a.acquire(room_id, "a", LONG), b.acquire(room_id, "b", LONG))
        winners = [lease for lease in won if lease is not None]
        assert len(winners) == 1, won
        assert winners[0].epoch == 2
        assert await b.holder(room_id) == LeaseHolder(winners[0].node, 2, live=True)


@postgres
async def test_delete_room_deletes_its_lease(store: Store) -> None:
    leases = LeaseStore(store)
    await store.create_room(RoomRecord("room1", "CODE01", "One", T0))
    await leases.acquire("room1", "a", LONG)
    await leases.acquire("room2", "a", LONG)
    await store.delete_room("room1")
    assert await leases.holders(["room1", "room2"]) == {"room2": LeaseHolder("a", 1, True)}
