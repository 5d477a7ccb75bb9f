"""Koprade apps on one PostgreSQL database and one Redis: a room has one owner, and
clients on either process work on the same board.

In-process servers (real uvicorn on ephemeral ports, real Redis, real PostgreSQL) keep these
tests quick; tests/cluster/test_cluster.py runs separate processes and kills them.
"""

from __future__ import annotations

import asyncio

import httpx
from pycrdt import Map

from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


def owner_of(nodes: list[InProcessServer], room: str) -> list[int]:
    return [i for i, node in enumerate(nodes) if room in node.services.cluster.owner.owned]


async def test_clients_on_two_processes_converge(nodes: list[InProcessServer]) -> None:
    one, two, _ = nodes
    info = await one.create_room("Cluster")
    anna = await YClient(one.ws_url, info.room, info.token).connect()
    assert owner_of(nodes, info.room) == [0]
    janis_token = (await two.join(info.code, "Jānis"))["token"]
    janis = await YClient(two.ws_url, info.room, janis_token).connect()
    assert owner_of(nodes, info.room) == [0]  # the second process is only a gateway

    anna.cards["a"] = anna.card("from node one")
    janis.cards["j"] = janis.card("from node two")
    await wait_until(lambda: "a" in janis.cards and "j" in anna.cards, message="both cards")
    assert anna.board() == janis.board()
    live = one.services.rooms.rooms[info.room].doc.get("cards", type=Map)
    assert set(live.keys()) == {"a", "j"}
    # Jānis's name reached the board through the owner.
    meta = anna.doc.get("meta", type=Map)
    await wait_until(
        lambda: "Jānis" in (meta.to_py() or {}).get("people", {}).values(), message="his name"
    )
    figures = [await metrics(node) for node in nodes]
    assert "koprade_cluster_rooms_owned 1.0" in figures[0]
    assert "koprade_cluster_remote_members 1.0" in figures[0]
    assert "koprade_cluster_gateway_connections 1.0" in figures[1]
    assert "koprade_cluster_stream_lag_seconds_count 0.0" not in figures[1]
    await anna.close()
    await janis.close()


async def metrics(node: InProcessServer) -> str:
    async with httpx.AsyncClient(base_url=node.url) as http:
        return (await http.get("/metrics")).text


async def test_a_command_through_the_other_process_runs_on_the_owner(
    nodes: list[InProcessServer],
) -> None:
    one, two, _ = nodes
    info = await one.create_room("Cluster")
    anna = await YClient(one.ws_url, info.room, info.token).connect()
    # The facilitator's command reaches process two; the owner (one) runs it.
    response = await two.command(info.room, info.token, "settings", locked=True)
    assert response.status_code == 200, response.text
    meta = anna.doc.get("meta", type=Map)
    await wait_until(lambda: meta.get("locked") is True, message="the lock relayed")
    await anna.close()


async def test_presence_crosses_processes_and_goes_when_the_client_leaves(
    nodes: list[InProcessServer],
) -> None:
    one, two, _ = nodes
    info = await one.create_room("Cluster")
    anna = await YClient(one.ws_url, info.room, info.token).connect()
    janis_token = (await two.join(info.code, "Jānis"))["token"]
    janis = await YClient(two.ws_url, info.room, janis_token).connect()
    await janis.set_presence({"cursor": {"x": 1, "y": 2}})
    await wait_until(lambda: len(anna.peers()) == 1, message="Jānis's cursor on node one")
    await janis.close()
    await wait_until(lambda: not anna.peers(), message="Jānis's presence gone")
    await anna.close()


async def test_private_boards_of_a_remote_participant_never_enter_the_room_stream(
    nodes: list[InProcessServer],
) -> None:
    one, two, _ = nodes
    info = await one.create_room("Cluster")
    anna = await YClient(one.ws_url, info.room, info.token).connect()
    assert (await one.command(info.room, info.token, "private", on=True)).status_code == 200
    token = (await two.join(info.code, "Jānis"))["token"]
    bob_token = (await two.join(info.code, "Bob"))["token"]
    bob = await YClient(two.ws_url, info.room, bob_token).connect()
    mine = await YClient(two.ws_url, info.room, token, private=True).connect()
    mine.cards["secret"] = mine.card("my secret idea ķ")
    redis = one.services.cluster.redis

    def private_applied() -> bool:
        board = one.services.rooms.rooms.get(f"{info.room}/{mine.participant}")
        return board is not None and "secret" in board.doc.get("cards", type=Map).keys()

    await wait_until(private_applied, message="the private card on its owner")
    anna.cards["shared"] = anna.card("on the shared board")
    await wait_until(lambda: "shared" in bob.cards, message="a shared card to Bob")
    out = await redis.xrange(f"koprade:out:{info.room}")
    assert out, "the shared board's relays went through the stream"
    assert all(b"my secret idea" not in fields.get(b"d", b"") for _, fields in out)
    secret = b"my secret idea"
    assert not any(secret in frame for frame in bob.frames + anna.frames)
    assert "my secret idea" in str(mine.board())
    await bob.close()
    await mine.close()
    await anna.close()


async def test_an_unowned_room_is_taken_by_the_first_process_that_needs_it(
    nodes: list[InProcessServer],
) -> None:
    one, two, _ = nodes
    info = await one.create_room("Cluster")
    token = (await two.join(info.code, "Jānis"))["token"]
    janis = await YClient(two.ws_url, info.room, token).connect()
    assert owner_of(nodes, info.room) == [1]
    async with httpx.AsyncClient(base_url=one.url) as http:
        snap = await http.post(
            f"/api/rooms/{info.room}/snapshots",
            json={"name": "mid-way"},
            headers={"authorization": f"Bearer {info.token}"},
        )
    assert snap.status_code in (200, 201), snap.text
    await janis.close()


async def expire_lease(database_url: str, room: str) -> None:
    """What a paused or cut-off owner looks like to the others: its lease ran out."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE koprade_room_leases SET expires_at = now() - interval '1 second' "
                    "WHERE room_id = :room"
                ),
                {"room": room},
            )
    finally:
        await engine.dispose()


async def test_a_stale_owner_writes_nothing_and_its_clients_lose_nothing(
    nodes: list[InProcessServer], postgres_database: str
) -> None:
    one, two, _ = nodes
    info = await one.create_room("Cluster")
    anna = await YClient(one.ws_url, info.room, info.token).connect()
    anna.cards["before"] = anna.card("before the take-over")
    live = one.services.rooms.rooms[info.room].doc.get("cards", type=Map)
    await wait_until(
        lambda: "before" in live and one.services.rooms.writer.pending_count() == 0,
        message="the first card stored",
    )

    await expire_lease(postgres_database, info.room)
    janis_token = (await two.join(info.code, "Jānis"))["token"]
    janis = await YClient(two.ws_url, info.room, janis_token).connect()
    assert two.services.cluster.owner.owned.get(info.room) == 2  # taken over: epoch 2
    assert "before" in janis.cards

    # Anna's process does not know yet: her edit is accepted there, but fenced off.
    anna.cards["during"] = anna.card("written to the stale owner")
    code, _ = await anna.wait_closed(timeout=10)
    assert code == 1012  # the room moved: reconnect
    assert info.room not in one.services.cluster.owner.owned
    assert "during" not in janis.cards  # never shown: it was never stored

    # Her client still holds the edit and sends it on reconnecting (to any process).
    again = await YClient(two.ws_url, info.room, info.token, doc=anna.doc).connect()
    await wait_until(lambda: "during" in janis.cards, message="Anna's edit after reconnecting")
    await again.close()
    await janis.close()


async def test_concurrent_first_connections_through_one_gateway_all_sync(
    nodes: list[InProcessServer],
) -> None:
    """Ten clients of a room arrive at once, spread over three processes: every one syncs
    (the gateway makes one board for them all, not one each that only the last keeps)."""
    one, two, three = nodes
    info = await one.create_room("Storm")
    tokens = [(await one.join(info.code, f"P{i}"))["token"] for i in range(12)]
    clients = [
        YClient((two if i % 2 else three).ws_url, info.room, token)
        for i, token in enumerate(tokens)
    ]
    await asyncio.gather(*(client.connect(timeout=10) for client in clients))
    for n, client in enumerate(clients):
        client.cards[f"c{n}"] = client.card(f"from {n}")
    wanted = {f"c{n}" for n in range(len(clients))}
    for client in clients:
        await wait_until(lambda c=client: wanted <= set(c.cards.keys()), message="converged")
    await asyncio.gather(*(client.close() for client in clients))
