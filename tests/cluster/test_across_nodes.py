"""What must hold however a workshop's clients spread over the processes of a cluster:
one order for every rule check, one budget per voter, removals and deletions everywhere,
and secrets nowhere they do not belong."""

from __future__ import annotations

import asyncio

import httpx
from pycrdt import Doc, Map

from server.crdt.meta import meta_map
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


async def test_a_phase_change_on_one_process_orders_edits_arriving_through_another(
    nodes: list[InProcessServer],
) -> None:
    one, two, three = nodes
    info = await one.create_room("Order")
    facilitator = await YClient(one.ws_url, info.room, info.token).connect()
    token = (await two.join(info.code, "Jānis"))["token"]
    for round_ in range(5):
        janis = await YClient(two.ws_url, info.room, token).connect()
        assert (await three.ok(info.room, info.token, "set_phase", phase="ideate"))["ok"]
        phase_of = meta_map(janis.doc)
        await wait_until(lambda m=phase_of: m.get("phase") == "ideate", message="ideate")

        async def keep_adding(client: YClient = janis, r: int = round_) -> None:
            for n in range(200):
                if not client.connected:
                    return
                client.cards[f"r{r}-{n}"] = client.card(f"idea {n}")
                await asyncio.sleep(0.002)

        writer = asyncio.ensure_future(keep_adding())
        await asyncio.sleep(0.05)
        # Through the third process, racing the edits that arrive through the second.
        assert (await three.ok(info.room, info.token, "set_phase", phase="vote"))["ok"]
        await writer
        code, _ = await janis.wait_closed(timeout=10)
        assert code == 4409  # his next card after the change was refused
        await janis.close()

    # Replay the stored log: once a commit holds the vote phase, no later commit adds a card.
    owner = one.services
    await wait_until(lambda: owner.rooms.writer.pending_count() == 0, message="stored")
    stored = await owner.store.load_document(info.room)
    doc: Doc = Doc()
    if stored.snapshot:
        doc.apply_update(stored.snapshot)
    cards = doc.get("cards", type=Map)
    seen = set(cards.keys())
    in_vote = meta_map(doc).get("phase") == "vote"
    for update in stored.updates:
        doc.apply_update(update)
        now = set(cards.keys())
        if in_vote:
            assert not now - seen, f"cards added in the vote phase: {sorted(now - seen)}"
        seen = now
        in_vote = meta_map(doc).get("phase") == "vote"
    await facilitator.close()


async def test_twenty_votes_at_once_through_three_processes_keep_the_budget(
    nodes: list[InProcessServer],
) -> None:
    one, two, _ = nodes
    info = await one.create_room("Votes")
    facilitator = await YClient(one.ws_url, info.room, info.token).connect()
    for n in range(4):
        facilitator.cards[f"c{n}"] = facilitator.card(f"idea {n}")
    live = one.services.rooms.rooms[info.room].doc.get("cards", type=Map)
    await wait_until(lambda: len(live) == 4, message="the cards on the owner")
    await one.ok(info.room, info.token, "voting", perParticipant=5, perCard=5)
    await one.ok(info.room, info.token, "set_phase", phase="vote")
    token = (await two.join(info.code, "Jānis"))["token"]
    results = await asyncio.gather(
        *(nodes[n % 3].command(info.room, token, "vote", card=f"c{n % 4}") for n in range(20))
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 5, [r.text for r in results]
    assert statuses.count(409) == 15
    stored = await one.services.store.load_votes(info.room)
    assert sum(stored[next(iter(stored))].values()) == 5
    await facilitator.close()


async def test_hidden_votes_never_reach_others_or_a_room_wide_stream(
    nodes: list[InProcessServer],
) -> None:
    one, two, _ = nodes
    info = await one.create_room("Secret ballot")
    facilitator = await YClient(one.ws_url, info.room, info.token).connect()
    facilitator.cards["c1"] = facilitator.card("idea")
    await one.ok(info.room, info.token, "voting", hidden=True)
    await one.ok(info.room, info.token, "set_phase", phase="vote")
    anna_token = (await two.join(info.code, "Anna"))["token"]
    bob_token = (await two.join(info.code, "Bob"))["token"]
    bob = await YClient(two.ws_url, info.room, bob_token).connect()
    anna = await YClient(two.ws_url, info.room, anna_token).connect()
    assert (await two.command(info.room, anna_token, "vote", card="c1")).status_code == 200
    await wait_until(
        lambda: (anna.last_message("votes") or {}).get("mine") == {"c1": 1},
        message="Anna's own votes, to her only",
    )
    assert all(m.get("type") != "votes" or m.get("mine") == {} for m in bob.messages)
    assert not dict(facilitator.doc.get("votes", type=Map).items())  # hidden: no tallies
    out = await one.services.cluster.redis.xrange(f"koprade:out:{info.room}")
    assert all(fields[b"d"][:1] != b"\x64" for _, fields in out)  # no Koprade message
    await anna.close()
    await bob.close()
    await facilitator.close()


async def test_removing_on_one_process_closes_the_sockets_on_the_others(
    nodes: list[InProcessServer],
) -> None:
    one, two, three = nodes
    info = await one.create_room("Remove")
    facilitator = await YClient(one.ws_url, info.room, info.token).connect()
    joined = await two.join(info.code, "Jānis")
    janis = await YClient(two.ws_url, info.room, joined["token"]).connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await three.ok(info.room, info.token, "remove", participant=joined["participant"])
    code, _ = await janis.wait_closed(timeout=2)
    assert code == 4403 and loop.time() - started < 2
    assert (janis.last_message("closing") or {}).get("reason") == "participant_removed"
    # And no process lets him in again.
    for node in nodes:
        again = YClient(node.ws_url, info.room, joined["token"])
        await again.connect(wait_synced=False)
        assert (await again.wait_closed())[0] == 4403
    await facilitator.close()


async def test_deleting_on_one_process_closes_the_sockets_on_the_others(
    nodes: list[InProcessServer],
) -> None:
    one, two, three = nodes
    info = await one.create_room("Delete")
    facilitator = await YClient(one.ws_url, info.room, info.token).connect()
    janis = await YClient(
        two.ws_url, info.room, (await two.join(info.code, "Jānis"))["token"]
    ).connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(base_url=three.url) as http:
        response = await http.delete(
            f"/api/rooms/{info.room}", headers={"authorization": f"Bearer {info.token}"}
        )
    assert response.status_code == 204, response.text
    assert (await janis.wait_closed(timeout=2))[0] == 4404
    assert (await facilitator.wait_closed(timeout=2))[0] == 4404
    assert loop.time() - started < 2
    assert await one.services.store.get_room(info.room) is None
