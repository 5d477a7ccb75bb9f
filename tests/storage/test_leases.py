"""Room leases and fencing (cluster mode) against real PostgreSQL.

Leases need PostgreSQL, so these tests run on the `postgres` parameter of the `database`
fixture only, except the one that checks the clear error on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from server.storage.fencing import Fenced
from server.storage.leases import Lease, LeaseHolder, LeaseStore
from server.storage.schema import room_leases
from server.storage.sessions import SessionStore
from server.storage.store import RoomRecord, StorageError, Store
from server.storage.writer import UpdateWriter

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
async def test_leases_and_fencing_need_postgresql(store: Store) -> None:
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
    store.fence = FakeFence("a", {"room": 1})
    with pytest.raises(StorageError, match="cluster mode needs PostgreSQL"):
        await store.append_updates([("room", b"x")])
    with pytest.raises(StorageError, match="cluster mode needs PostgreSQL"):
        await store.delete_votes("room")
    store.fence = None
    await store.append_updates([("room", b"x")])  # without a fence SQLite works as before
    assert (await store.load_document("room")).updates == [b"x"]


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


# -- fencing -------------------------------------------------------------------------------


@postgres
async def test_stale_owner_group_commit_stores_only_the_rooms_it_still_holds(
    store: Store, other: Store
) -> None:
    mine, theirs = LeaseStore(store), LeaseStore(other)
    for room_id in ("r1", "r2"):
        await mine.acquire(room_id, "a", LONG)
    fence = FakeFence("a", {"r1": 1, "r2": 1})
    store.fence = fence
    # Node a pauses; its lease of r2 runs out and node b takes r2 over.
    await mine.release("r2", "a", 1)
    assert await theirs.acquire("r2", "b", LONG) == Lease("r2", "b", 2)

    result = await store.append_updates(
        [
            ("r1", b"1"),
            ("r2", b"2"),
            ("r1/p_x", b"p1"),
            ("r2/p_x", b"p2"),  # a private board belongs to its room's lease
            ("r3", b"3"),  # never held
            ("r2", b"2b"),
            ("r1", b"1b"),
        ]
    )

    assert set(result) == {"r1", "r1/p_x"}
    assert result["r1"][1] == 2 and result["r1/p_x"][1] == 1
    assert sorted(fence.lost_rooms) == ["r2", "r3"], "once per room"
    assert (await other.load_document("r1")).updates == [b"1", b"1b"]
    assert (await other.load_document("r1/p_x")).updates == [b"p1"]
    for board in ("r2", "r2/p_x", "r3"):
        assert (await other.load_document(board)).updates == []

    # A batch of fenced rooms only stores nothing and still reports them.
    fence.lost_rooms.clear()
    assert await store.append_updates([("r2", b"again")]) == {}
    assert fence.lost_rooms == ["r2"]
    assert (await other.load_document("r2")).updates == []


@postgres
async def test_fence_compares_the_epoch_not_only_the_node(store: Store) -> None:
    leases = LeaseStore(store)
    await leases.acquire("room", "a", LONG)
    await leases.release("room", "a", 1)
    assert await leases.acquire("room", "a", LONG) == Lease("room", "a", 2)
    fence = FakeFence("a", {"room": 1})  # this process still believes in epoch 1
    store.fence = fence
    assert await store.append_updates([("room", b"x")]) == {}
    assert fence.lost_rooms == ["room"]
    fence.epochs["room"] = 2
    assert set(await store.append_updates([("room", b"y")])) == {"room"}
    assert (await store.load_document("room")).updates == [b"y"]


@postgres
async def test_an_expired_lease_not_taken_over_still_lets_its_owner_write(store: Store) -> None:
    leases = LeaseStore(store)
    await leases.acquire("room", "a", 0.2)
    await until(lambda: expired(leases, "room"))
    fence = FakeFence("a", {"room": 1})
    store.fence = fence
    assert set(await store.append_updates([("room", b"x")])) == {"room"}
    await store.set_vote("room", "p_a", "c1", 1)
    assert fence.lost_rooms == []
    # Once another node took it over, the same writes are refused.
    assert await leases.acquire("room", "b", LONG) == Lease("room", "b", 2)
    assert await store.append_updates([("room", b"y")]) == {}
    with pytest.raises(Fenced):
        await store.set_vote("room", "p_a", "c1", 2)
    assert fence.lost_rooms == ["room", "room"]
    assert (await store.load_document("room")).updates == [b"x"]
    assert await store.load_votes("room") == {"p_a": {"c1": 1}}


async def _fill(store: Store, room_id: str) -> None:
    await store.create_room(RoomRecord(room_id, "CODE01", "Fenced", T0))
    await store.add_participant(room_id, "p_a", "Anna", "participant")
    await store.set_vote(room_id, "p_a", "c1", 2)
    first = await store.append_updates([(room_id, b"1"), (f"{room_id}/p_a", b"p")])
    await store.append_updates([(room_id, b"2")])
    await store.compact(room_id, b"snap", first[room_id][0])
    await SessionStore(store).add_snapshot(room_id, name="before", kind="manual", data=b"s")


async def _state(store: Store, room_id: str) -> tuple[Any, ...]:
    return (
        await store.get_room(room_id),
        await store.list_participants(room_id),
        await store.load_votes(room_id),
        await store.load_document(room_id),
        await store.load_document(f"{room_id}/p_a"),
        [(s.name, s.kind) for s in await SessionStore(store).list_snapshots(room_id)],
        await LeaseStore(store).holder(room_id),
    )


def _owner_writes(store: Store, room_id: str) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "compact": lambda: store.compact(room_id, b"new", 10**9),
        "compact private": lambda: store.compact(f"{room_id}/p_a", b"new", 10**9),
        "set_vote 0": lambda: store.set_vote(room_id, "p_a", "c1", 0),
        "set_vote": lambda: store.set_vote(room_id, "p_a", "c1", 3),
        "delete_votes": lambda: store.delete_votes(room_id),
        "remove_participant": lambda: store.remove_participant(room_id, "p_a"),
        "add_snapshot": lambda: SessionStore(store).add_snapshot(
            room_id, name="late", kind="phase", data=b"late"
        ),
        "delete_room": lambda: store.delete_room(room_id),
    }


@postgres
@pytest.mark.parametrize("how", ["taken over", "not held"])
async def test_each_fenced_owner_write_raises_and_changes_nothing(
    store: Store, other: Store, how: str
) -> None:
    await _fill(store, "room")
    leases = LeaseStore(store)
    await leases.acquire("room", "a", LONG)
    fence = FakeFence("a", {"room": 1})
    if how == "taken over":
        await leases.release("room", "a", 1)
        await LeaseStore(other).acquire("room", "b", LONG)
    else:
        fence.epochs.clear()  # this process holds no lease of the room at all
    store.fence = fence
    before = await _state(other, "room")

    for name, write in _owner_writes(store, "room").items():
        fence.lost_rooms.clear()
        with pytest.raises(Fenced) as caught:
            await write()
        assert caught.value.room_id == "room", name
        assert isinstance(caught.value, StorageError)
        assert fence.lost_rooms == ["room"], name
        assert await _state(other, "room") == before, f"{name} changed something"


@postgres
async def test_owner_writes_pass_while_the_lease_is_held(store: Store) -> None:
    """The control for the test above: the same writes, fenced, by the lease's holder."""
    await _fill(store, "room")
    await LeaseStore(store).acquire("room", "a", LONG)
    fence = FakeFence("a", {"room": 1})
    store.fence = fence
    before = await _state(store, "room")
    for name, write in _owner_writes(store, "room").items():
        await write()
        after = await _state(store, "room")
        assert after != before, f"{name} changed nothing"
        before = after
    assert fence.lost_rooms == []
    assert await store.get_room("room") is None
    assert await LeaseStore(store).holder("room") is None, "delete_room deleted the lease"


@postgres
async def test_a_failing_lost_callback_does_not_fail_the_commit(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(FakeFence):
        def lost(self, room_id: str) -> None:
            raise RuntimeError("owner side bug")

    await LeaseStore(store).acquire("r1", "a", LONG)
    store.fence = Broken("a", {"r1": 1})
    with caplog.at_level(logging.ERROR, logger="koprade.storage"):
        result = await store.append_updates([("r1", b"1"), ("r2", b"2")])
    assert set(result) == {"r1"}
    assert "fence.lost failed for room r2" in caplog.text
    with pytest.raises(Fenced):
        await store.delete_votes("r2")


@postgres
async def test_update_writer_treats_fenced_updates_as_done(
    store: Store, other: Store, caplog: pytest.LogCaptureFixture
) -> None:
    leases = LeaseStore(store)
    await leases.acquire("kept", "a", LONG)
    await leases.acquire("lost", "a", LONG)
    await leases.release("lost", "a", 1)
    await LeaseStore(other).acquire("lost", "b", LONG)
    fence = FakeFence("a", {"kept": 1, "lost": 1})
    store.fence = fence
    flushed: list[tuple[str, int, int]] = []
    writer = UpdateWriter(
        store, interval=0, merge=None, on_flushed=lambda *args: flushed.append(args)
    )
    await writer.start()
    called: list[str] = []
    try:
        with caplog.at_level(logging.ERROR, logger="koprade.storage"):
            writer.enqueue("kept", b"k1")
            lost_seq = writer.enqueue("lost", b"l1")
            writer.enqueue("lost/p_a", b"lp")
            kept_seq = writer.enqueue("kept", b"k2")
            writer.when_committed(lost_seq, lambda: called.append("lost"))
            writer.when_committed(kept_seq, lambda: called.append("kept"))
            assert await writer.committed_within(10)
    finally:
        await writer.stop()
    assert sorted(called) == ["kept", "lost"]
    assert writer.pending_count() == 0
    assert writer.pending_count("lost") == writer.pending_count("lost/p_a") == 0
    assert writer.consecutive_failures == 0
    assert [room for room, _, _ in flushed] == ["kept"]
    assert fence.lost_rooms == ["lost"]
    assert (await other.load_document("kept")).updates == [b"k1", b"k2"]
    assert (await other.load_document("lost")).updates == []
    assert (await other.load_document("lost/p_a")).updates == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@postgres
async def test_a_take_over_waits_for_the_running_fenced_write(database: Database) -> None:
    """FOR SHARE: a write that passed its fence check commits before a take-over can bump
    the epoch, so the new owner (which loads the room after winning) sees it."""
    app = f"koprade_t_{uuid.uuid4().hex[:12]}"

    def named(name: str) -> Store:
        options = database.engine_options["connect_args"]["server_settings"]
        settings = {**options, "application_name": f"{app}_{name}"}
        return Store(database.url, engine_options={"connect_args": {"server_settings": settings}})

    owner, taker = named("owner"), named("taker")
    admin = create_async_engine(database.url, poolclass=NullPool, **database.engine_options)
    await owner.open()
    await taker.open()
    try:
        mine = LeaseStore(owner)
        await mine.acquire("room", "a", LONG)
        await mine.release("room", "a", 1)  # expired, not taken over: a may still write
        fence = FakeFence("a", {"room": 1})
        owner.fence = fence

        async def waiting_on_a_lock(name: str) -> bool:
            async with admin.connect() as conn:
                n = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE application_name = :app AND wait_event_type = 'Lock'"
                        ),
                        {"app": f"{app}_{name}"},
                    )
                ).scalar_one()
            return bool(n)

        async with admin.connect() as blocker:
            # Hold the write up after its fence check, at its INSERT.
            await blocker.execute(text("LOCK TABLE koprade_room_updates IN EXCLUSIVE MODE"))
            write = asyncio.create_task(owner.append_updates([("room", b"late")]))
            await until(lambda: waiting_on_a_lock("owner"))
            take = asyncio.create_task(LeaseStore(taker).acquire("room", "b", LONG))

            async def take_blocked() -> bool:
                assert not take.done(), "the take-over did not wait for the running write"
                return await waiting_on_a_lock("taker")

            await until(take_blocked)
            assert not write.done()
            await blocker.commit()  # the write goes on, commits; then the take-over
        assert set(await write) == {"room"}
        assert await take == Lease("room", "b", 2)
        assert (await taker.load_document("room")).updates == [b"late"]
        # From now on a's writes are refused.
        assert await owner.append_updates([("room", b"later")]) == {}
        assert fence.lost_rooms == ["room"]
    finally:
        await owner.close()
        await taker.close()
        await admin.dispose()
