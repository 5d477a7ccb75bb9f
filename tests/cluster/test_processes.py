"""The failure table of docs/cluster.md, with real processes: three `koprade serve` nodes on
a private Redis and a fresh PostgreSQL database, behind a round-robin proxy; nodes killed
with -9, paused with SIGSTOP, Redis killed and restarted. Clients write tagged cards
(tests/support/tagged.py) and reconnect through the proxy whenever closed; afterwards not
one of their ops may be missing, on any client or in PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest
from pycrdt import Doc, Map
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.storage.leases import LeaseHolder, LeaseStore
from server.storage.store import Store
from tests.support.cluster import Cluster, RedisServer
from tests.support.tagged import TaggedWriter
from tests.support.yclient import YClient, wait_until

pytestmark = pytest.mark.cluster


def ws(url: str) -> str:
    return "ws" + url[len("http") :]


def through_proxy(cluster: Cluster) -> Callable[[], str]:
    return lambda: ws(cluster.url)


def in_turn(cluster: Cluster, alive: Callable[[int], bool]) -> Callable[[], str]:
    """Each call the next living node's address (the client's own 'load balancer')."""
    turn = itertools.count()

    def pick() -> str:
        for _ in range(len(cluster.node_urls)):
            i = next(turn) % len(cluster.node_urls)
            if alive(i):
                return ws(cluster.node_urls[i])
        raise AssertionError("no node alive")

    return pick


async def lease_rows(cluster: Cluster, room: str) -> list[tuple[str, int]]:
    engine = create_async_engine(cluster.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT node, epoch FROM koprade_room_leases WHERE room_id = :r"), {"r": room}
            )
            return [(row.node, int(row.epoch)) for row in rows]
    finally:
        await engine.dispose()


async def owner_index(cluster: Cluster, room: str) -> int:
    """Which node holds the room's lease (the room is loaded by the first join)."""
    rows = await lease_rows(cluster, room)
    assert len(rows) == 1, rows
    return cluster.node_ids.index(rows[0][0])


async def holder(cluster: Cluster, room: str) -> LeaseHolder | None:
    store = Store(cluster.database_url)
    await store.open()
    try:
        return await LeaseStore(store).holder(room)
    finally:
        await store.close()


async def stored_cards(cluster: Cluster, room: str) -> set[str]:
    """The room's cards as a fresh load from PostgreSQL sees them."""
    store = Store(cluster.database_url)
    await store.open()
    try:
        stored = await store.load_document(room)
    finally:
        await store.close()
    doc: Doc = Doc()
    for update in ([stored.snapshot] if stored.snapshot else []) + stored.updates:
        doc.apply_update(update)
    return set(doc.get("cards", type=Map).keys())


async def write_through(writers: list[TaggedWriter], seconds: float, during: Callable) -> None:
    """Let every writer write for `seconds`, running `during()` meanwhile."""
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(w.keep_writing(stop)) for w in writers]
    try:
        await during()
        await asyncio.sleep(seconds)  # the writers keep going: that is the workload
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def assert_nothing_missing(cluster: Cluster, room: str, writers: list[TaggedWriter]) -> None:
    every = {card for w in writers for card in w.written}
    for writer in writers:
        if not writer.client.connected:
            await writer.connect()
    for writer in writers:
        await wait_until(
            lambda w=writer: every <= set(w.client.cards.keys()),
            timeout=30,
            message=f"every op on {writer.name}",
        )
    stored = set()
    for _ in range(100):  # committed within a few commit intervals
        stored = await stored_cards(cluster, room)
        if every <= stored:
            break
        await asyncio.sleep(0.1)
    assert sorted(every - stored) == [], "ops missing in PostgreSQL"
    for writer in writers:
        assert writer.refusals == [], f"{writer.name} was refused: {writer.refusals}"


async def test_the_owner_killed_loses_nothing_and_another_takes_over(cluster: Cluster) -> None:
    info = await cluster.create_room("Owner dies")
    tokens = [info.token] + [(await cluster.join(info.code, f"P{i}"))["token"] for i in (1, 2)]
    owner = await owner_index(cluster, info.room)
    alive = {0, 1, 2}
    urls = in_turn(cluster, lambda i: i in alive)
    # One writer on the owner, one on each other process.
    order = [owner] + [i for i in range(3) if i != owner]
    writers = [
        TaggedWriter(f"w{n}", info.room, tokens[n], lambda i=i: ws(cluster.node_urls[i]))
        for n, i in enumerate(order)
    ]
    for writer in writers:
        await writer.connect()
        writer._ws_urls = urls

    async def kill_the_owner() -> None:
        await asyncio.sleep(1.0)
        cluster.kill(owner)
        alive.discard(owner)

    await write_through(writers, 9.0, kill_the_owner)
    await assert_nothing_missing(cluster, info.room, writers)
    rows = await lease_rows(cluster, info.room)
    assert len(rows) == 1 and rows[0][0] != cluster.node_ids[owner] and rows[0][1] == 2, rows
    for writer in writers:
        await writer.close()


async def test_a_killed_gateway_loses_nothing_and_its_presence_goes(cluster: Cluster) -> None:
    info = await cluster.create_room("Gateway dies")
    token = (await cluster.join(info.code, "Jānis"))["token"]
    home = await owner_index(cluster, info.room)
    gateway = (home + 1) % 3
    owner = await YClient(ws(cluster.node_urls[home]), info.room, info.token).connect()
    alive = {0, 1, 2}
    gone = TaggedWriter("gone", info.room, token, lambda: ws(cluster.node_urls[gateway]))
    await gone.connect()
    await gone.client.set_presence({"cursor": {"x": 1, "y": 1}})
    await wait_until(lambda: len(owner.peers()) == 1, message="his presence on the owner")
    gone._ws_urls = in_turn(cluster, lambda i: i in alive)

    async def kill_the_gateway() -> None:
        await asyncio.sleep(0.5)
        cluster.kill(gateway)
        alive.discard(gateway)

    await write_through([gone], 3.0, kill_the_gateway)
    await assert_nothing_missing(cluster, info.room, [gone])
    await gone.close()
    # The dead gateway's member leaves the owner's room within a few seconds.
    await wait_until(lambda: not owner.peers(), timeout=15, message="the dead gateway's presence")
    await owner.close()


async def test_redis_restarting_closes_remote_sockets_and_loses_nothing(
    cluster: Cluster, private_redis: RedisServer
) -> None:
    info = await cluster.create_room("Redis restarts")
    token = (await cluster.join(info.code, "Jānis"))["token"]
    home = await owner_index(cluster, info.room)
    other = (home + 1) % 3
    local = TaggedWriter("local", info.room, info.token, lambda: ws(cluster.node_urls[home]))
    remote = TaggedWriter("remote", info.room, token, lambda: ws(cluster.node_urls[other]))
    for writer in (local, remote):
        await writer.connect()

    async def restart_redis() -> None:
        await asyncio.sleep(0.5)
        private_redis.kill()
        await wait_until(lambda: not remote.client.connected, timeout=10, message="1012")
        assert remote.client.close_code == 1012
        private_redis.restart()

    await write_through([local, remote], 3.0, restart_redis)
    await assert_nothing_missing(cluster, info.room, [local, remote])
    for writer in (local, remote):
        await writer.close()


async def test_a_paused_owner_is_replaced_and_writes_nothing_after(cluster: Cluster) -> None:
    info = await cluster.create_room("Owner pauses")
    alive = {0, 1, 2}
    urls = in_turn(cluster, lambda i: i in alive)
    token = (await cluster.join(info.code, "Jānis"))["token"]
    home = await owner_index(cluster, info.room)
    other = (home + 1) % 3
    writers = [
        TaggedWriter("w0", info.room, info.token, lambda: ws(cluster.node_urls[home])),
        TaggedWriter("w1", info.room, token, lambda: ws(cluster.node_urls[other])),
    ]
    for writer in writers:
        await writer.connect()
    writers[1]._ws_urls = urls

    async def pause_the_owner() -> None:
        await asyncio.sleep(0.5)
        cluster.pause(home)
        alive.discard(home)

    stop = asyncio.Event()
    task = asyncio.ensure_future(writers[1].keep_writing(stop))
    await pause_the_owner()
    # Another process takes the lease over once it expired.
    for _ in range(200):
        found = await holder(cluster, info.room)
        if found is not None and found.node != cluster.node_ids[home] and found.live:
            break
        await asyncio.sleep(0.1)
    assert found is not None and found.node != cluster.node_ids[home] and found.epoch == 2
    await asyncio.sleep(1.0)
    cluster.resume(home)  # 8 s or so after the pause
    alive.add(home)
    await asyncio.sleep(2.0)
    stop.set()
    await task
    # The resumed old owner gave the room up: the lease is still the new owner's.
    assert await lease_rows(cluster, info.room) == [(found.node, 2)]
    writers[0]._ws_urls = urls
    await assert_nothing_missing(cluster, info.room, writers)
    for writer in writers:
        await writer.close()


async def test_no_sticky_sessions_needed(cluster: Cluster) -> None:
    info = await cluster.create_room("Round robin")
    tokens = [(await cluster.join(info.code, f"P{i}"))["token"] for i in range(20)]
    writers = [
        TaggedWriter(f"w{i}", info.room, tokens[i], through_proxy(cluster)) for i in range(20)
    ]
    await asyncio.gather(*(w.connect() for w in writers))

    async def reconnect_all_the_time(writer: TaggedWriter) -> None:
        for _ in range(20):
            writer.write()
            await writer.client.close()
            writer.write()  # offline: sent on reconnecting
            await writer.connect()

    await asyncio.gather(*(reconnect_all_the_time(w) for w in writers))
    await assert_nothing_missing(cluster, info.room, writers)
    for writer in writers:
        await writer.close()


async def test_a_join_storm_through_the_balancer(cluster: Cluster) -> None:
    rooms = [await cluster.create_room(f"Room {n}") for n in range(50)]
    clients: list[YClient] = []
    for info in rooms:
        joined = await asyncio.gather(*(cluster.join(info.code, f"P{i}") for i in range(10)))
        clients += [YClient(ws(cluster.url), info.room, j["token"]) for j in joined]
    results = await asyncio.gather(
        *(c.connect(timeout=30) for c in clients), return_exceptions=True
    )
    failed = [
        (n, repr(r), c.close_code, c.close_reason, len(c.frames))
        for n, (c, r) in enumerate(zip(clients, results, strict=True))
        if isinstance(r, BaseException)
    ]
    if failed:  # what each process logged about the first failing client's room
        room = clients[failed[0][0]].url.split("/ws/rooms/")[1].split("?")[0]
        for node in cluster.nodes:
            print(node.url, "".join(ln for ln in node.output if room in ln)[:3000])
    assert not failed, failed[:5]
    for n, client in enumerate(clients):
        client.cards[f"c{n}"] = client.card(f"from {n}")
    for index in range(len(rooms)):
        group = clients[index * 10 : index * 10 + 10]
        wanted = {f"c{index * 10 + i}" for i in range(10)}
        for client in group:
            await wait_until(
                lambda c=client, w=wanted: w <= set(c.cards.keys()), timeout=30, message="converged"
            )
    engine = create_async_engine(cluster.database_url)
    try:
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM koprade_room_leases"))).scalar()
    finally:
        await engine.dispose()
    assert count == 50
    await asyncio.gather(*(c.close() for c in clients))
