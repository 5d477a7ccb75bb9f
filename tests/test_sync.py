"""Clients converge through the real server: documents, late joiners, offline edits, rooms."""

from __future__ import annotations

import asyncio

from pycrdt import Map, Text

from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, card, wait_until


def server_cards(server: InProcessServer, room: str) -> Map:
    """The cards map of the room's live document on the server."""
    return server.services.rooms.rooms[room].doc.get("cards", type=Map)


async def connect(server: InProcessServer, room: str, token: str) -> YClient:
    return await YClient(server.ws_url, room, token).connect()


async def test_two_clients_converge(server: InProcessServer) -> None:
    info = await server.create_room("Mobility")
    anna = await connect(server, info.room, info.token)
    joined = await server.join(info.code, "Jānis")
    janis = await connect(server, info.room, joined["token"])

    anna.cards["c1"] = anna.card("Bus stops with benches", x=10, y=20)
    await wait_until(lambda: "c1" in janis.cards, message="card to reach Jānis")
    janis_text = janis.cards["c1"]["text"]
    assert isinstance(janis_text, Text)
    janis_text += " and shade"
    await wait_until(
        lambda: str(anna.cards["c1"]["text"]) == "Bus stops with benches and shade",
        message="Jānis's edit to reach Anna",
    )
    assert anna.board() == janis.board()
    await anna.close()
    await janis.close()


async def test_many_clients_converge_on_concurrent_edits(server: InProcessServer) -> None:
    info = await server.create_room("Many")
    clients = [await connect(server, info.room, info.token) for _ in range(12)]
    for index, client in enumerate(clients):
        client.cards[f"card-{index}"] = client.card(f"idea {index}", x=index)
    await wait_until(
        lambda: all(len(client.cards) == 12 for client in clients),
        message="all 12 cards on all 12 clients",
    )
    # Everyone appends to the same card at once: the merge must be identical everywhere.
    for index, client in enumerate(clients):
        text = client.cards["card-0"]["text"]
        text += f" +{index}"
    await wait_until(
        lambda: (
            len({str(c.cards["card-0"]["text"]) for c in clients}) == 1
            and all(f"+{i}" in str(clients[0].cards["card-0"]["text"]) for i in range(12))
        ),
        message="concurrent text edits to converge",
    )
    boards = [client.board() for client in clients]
    assert all(board == boards[0] for board in boards)
    for client in clients:
        await client.close()


async def test_late_joiner_gets_full_state(server: InProcessServer) -> None:
    info = await server.create_room("Late")
    early = await connect(server, info.room, info.token)
    for index in range(50):
        early.cards[f"c{index}"] = early.card(f"note {index}", x=index * 10)
    early.clusters["k1"] = card("Transport")  # a map with a text title, like a cluster
    await wait_until(
        lambda: len(server_cards(server, info.room)) == 50,
        message="server to hold 50 cards",
    )
    late = await connect(server, info.room, (await server.join(info.code, "Late"))["token"])
    assert late.board() == early.board()
    await early.close()
    await late.close()


async def test_offline_edits_merge_on_reconnect(server: InProcessServer) -> None:
    info = await server.create_room("Offline")
    online = await connect(server, info.room, info.token)
    tablet = await connect(server, info.room, (await server.join(info.code, "Tablet"))["token"])
    online.cards["shared"] = online.card("shared")
    await wait_until(lambda: "shared" in tablet.cards, message="initial card")

    await tablet.abort()  # Wi-Fi gone
    tablet.cards["offline-1"] = tablet.card("written offline")
    shared_text = tablet.cards["shared"]["text"]
    shared_text += " (tablet)"
    online.cards["online-1"] = online.card("written online meanwhile")

    await tablet.connect()
    await wait_until(
        lambda: "offline-1" in online.cards and "online-1" in tablet.cards,
        message="offline and online edits to cross",
    )
    await wait_until(lambda: online.board() == tablet.board(), message="boards to converge")
    assert str(online.cards["shared"]["text"]) == "shared (tablet)"
    await online.close()
    await tablet.close()


async def test_rooms_are_isolated(server: InProcessServer) -> None:
    first = await server.create_room("First")
    second = await server.create_room("Second")
    a = await connect(server, first.room, first.token)
    b = await connect(server, second.room, second.token)
    watcher = await connect(server, second.room, second.token)
    a.cards["only-in-first"] = a.card("first")
    b.cards["only-in-second"] = b.card("second")
    await wait_until(lambda: "only-in-second" in watcher.cards, message="second room relay")
    await wait_until(
        lambda: len(server_cards(server, first.room)) == 1,
        message="first room to hold its card",
    )
    assert "only-in-first" not in watcher.cards
    assert "only-in-second" not in a.cards
    for client in (a, b, watcher):
        await client.close()


async def test_concurrent_first_joins_all_sync(server: InProcessServer) -> None:
    info = await server.create_room("Stampede")
    clients = [YClient(server.ws_url, info.room, info.token) for _ in range(30)]
    await asyncio.wait_for(asyncio.gather(*(client.connect() for client in clients)), 15)
    assert len(server.services.rooms.rooms[info.room].connections) == 30
    clients[0].cards["hello"] = clients[0].card("hello")
    await wait_until(
        lambda: all("hello" in client.cards for client in clients), message="relay to all 30"
    )
    for client in clients:
        await client.close()


async def test_room_unloads_after_idle_and_reloads(server: InProcessServer) -> None:
    info = await server.create_room("Idle")
    client = await connect(server, info.room, info.token)
    client.cards["kept"] = client.card("kept across unload")
    await wait_until(lambda: info.room in server.services.rooms.rooms, message="room loaded")
    await wait_until(
        lambda: len(server_cards(server, info.room)) == 1,
        message="card on the server",
    )
    await client.close()
    await wait_until(
        lambda: info.room not in server.services.rooms.rooms, message="room to unload when idle"
    )
    again = await connect(server, info.room, info.token)
    assert str(again.cards["kept"]["text"]) == "kept across unload"
    await again.close()


async def test_a_lone_update_is_not_echoed_to_its_sender(server: InProcessServer) -> None:
    info = await server.create_room("Echo")
    anna = await connect(server, info.room, info.token)
    bob = await connect(server, info.room, info.token)
    anna_frames = len(anna.frames)
    anna.cards["solo"] = anna.card("only Anna writes")
    await wait_until(lambda: "solo" in bob.cards, message="relay to Bob")
    bob.cards["reply"] = bob.card("Bob answers")
    await wait_until(lambda: "reply" in anna.cards, message="relay to Anna")
    update_frames = [f for f in anna.frames[anna_frames:] if f[:2] == b"\x00\x02"]
    assert len(update_frames) == 1, "Anna got Bob's update, and not her own back"
    await anna.close()
    await bob.close()


async def test_fan_out_writes_frames_of_every_length_directly(server: InProcessServer) -> None:
    """The relay writes to each socket at once and frames each payload once itself
    (server/serve.py): 7-bit, 16-bit and 64-bit lengths must all arrive intact."""
    from websockets.frames import Frame, Opcode

    from server.serve import DirectSendProtocol

    for size in (0, 125, 126, 65_535, 65_536, 200_000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        expected = Frame(Opcode.BINARY, payload).serialize(mask=False, extensions=[])
        assert DirectSendProtocol._frame(payload) == expected
        assert DirectSendProtocol._frame(payload) is DirectSendProtocol._frame(payload)

    info = await server.create_room("Sizes")
    anna = await connect(server, info.room, info.token)
    bob = await connect(server, info.room, info.token)
    room = server.services.rooms.rooms[info.room]
    assert all(connection.sends_directly for connection in room.connections)
    for name, size in (("short", 20), ("medium", 3_000), ("long", 100_000)):
        anna.cards[name] = anna.card(name[0] * size)
        await wait_until(lambda n=name: n in bob.cards, message=f"{name} card to Bob")
        assert str(bob.cards[name]["text"]) == name[0] * size
    assert bob.board() == anna.board()
    await anna.close()
    await bob.close()


async def test_an_update_referring_to_unknown_content_is_refused(
    server: InProcessServer,
) -> None:
    """Anna's edit arrives before the card it edits: Yjs would keep it pending.

    A pending update would later be integrated without anyone checking where it lands, so
    the server refuses it (4400), and the room goes on: Bob's card still arrives, without
    Anna's edit.
    """
    from pycrdt import Doc, create_update_message

    info = await server.create_room("Pending")
    anna = await connect(server, info.room, info.token)
    bob = await connect(server, info.room, info.token)
    origin: Doc = Doc()
    origin.get("cards", type=Map)["c"] = bob.card("card")
    card_update = origin.get_update()
    before_edit = origin.get_state()
    text = origin.get("cards", type=Map)["c"]["text"]
    text += " edited by Anna"
    edit_update = origin.get_update(before_edit)

    await anna.send_raw(create_update_message(edit_update))
    code, reason = await anna.wait_closed()
    assert code == 4400
    assert reason is not None and "refers to content the document does not have" in reason
    bob.doc.apply_update(card_update)
    await wait_until(lambda: "c" in server_cards(server, info.room), message="Bob's card")
    assert str(server_cards(server, info.room)["c"]["text"]) == "card"
    await bob.close()
