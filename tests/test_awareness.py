"""Presence through the real server: relayed, bound to the token, removed on close."""

from __future__ import annotations

import websockets
from pycrdt import create_awareness_message

from server.crdt.awareness import AwarenessEntry, encode_awareness_update
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


async def two_people(server: InProcessServer) -> tuple[YClient, YClient, dict, dict]:
    info = await server.create_room("Presence")
    anna_join = await server.join(info.code, "Anna")
    bob_join = await server.join(info.code, "Bob")
    anna = await YClient(server.ws_url, info.room, anna_join["token"]).connect()
    bob = await YClient(server.ws_url, info.room, bob_join["token"]).connect()
    return anna, bob, anna_join, bob_join


async def test_awareness_added_updated_and_bound_to_token(server: InProcessServer) -> None:
    anna, bob, anna_join, _ = await two_people(server)
    await anna.set_presence(
        {"user": {"name": "Somebody Else", "id": "p_fake", "color": "#e91e63"}, "cursor": None}
    )
    await wait_until(lambda: anna.doc.client_id in bob.peers(), message="Anna's presence at Bob")
    seen = bob.peers()[anna.doc.client_id]
    # The server overwrote the identity with the token's; the color is Anna's choice.
    assert seen["user"] == {
        "name": "Anna",
        "id": anna_join["participant"],
        "role": "participant",
        "color": "#e91e63",
    }
    await anna.set_presence({"user": {"name": "Anna"}, "cursor": {"x": 120, "y": 45}})
    await wait_until(
        lambda: bob.peers()[anna.doc.client_id].get("cursor") == {"x": 120, "y": 45},
        message="cursor move at Bob",
    )
    await anna.close()
    await bob.close()


async def test_newcomer_receives_present_states(server: InProcessServer) -> None:
    anna, bob, _, _ = await two_people(server)
    await anna.set_presence({"user": {"color": "#111"}, "cursor": {"x": 1, "y": 2}})
    await wait_until(lambda: anna.doc.client_id in bob.peers(), message="relay")
    info_room = anna.url.split("/ws/rooms/")[1].split("?")[0]
    late = await YClient(server.ws_url, info_room, anna.url.split("token=")[1]).connect()
    await wait_until(lambda: anna.doc.client_id in late.peers(), message="states sent on join")
    assert late.peers()[anna.doc.client_id]["cursor"] == {"x": 1, "y": 2}
    for client in (anna, bob, late):
        await client.close()


async def test_awareness_removed_on_clean_close(server: InProcessServer) -> None:
    anna, bob, _, _ = await two_people(server)
    await anna.set_presence({"user": {}, "cursor": None})
    await wait_until(lambda: anna.doc.client_id in bob.peers(), message="presence")
    await anna.close()
    await wait_until(lambda: anna.doc.client_id not in bob.peers(), message="removal at Bob")
    await bob.close()


async def test_awareness_removed_on_abrupt_drop(server: InProcessServer) -> None:
    anna, bob, _, _ = await two_people(server)
    await anna.set_presence({"user": {}, "cursor": {"x": 5, "y": 5}})
    await wait_until(lambda: anna.doc.client_id in bob.peers(), message="presence")
    await anna.abort()  # no close frame: the TCP connection just vanishes
    await wait_until(lambda: anna.doc.client_id not in bob.peers(), message="removal at Bob")
    await bob.close()


async def test_nobody_can_edit_or_remove_someone_elses_presence(server: InProcessServer) -> None:
    anna, bob, _, _ = await two_people(server)
    await anna.set_presence({"user": {}, "cursor": {"x": 1, "y": 1}})
    await wait_until(lambda: anna.doc.client_id in bob.peers(), message="presence")
    clock = anna.awareness.meta[anna.doc.client_id]["clock"]
    # Bob forges a removal and a move of Anna's client id with a newer clock.
    forged = encode_awareness_update([AwarenessEntry(anna.doc.client_id, clock + 5, None)])
    await bob.send_raw(create_awareness_message(forged))
    moved = encode_awareness_update(
        [AwarenessEntry(anna.doc.client_id, clock + 6, {"cursor": {"x": 999, "y": 999}})]
    )
    await bob.send_raw(create_awareness_message(moved))
    # A later genuine move of Anna's still arrives, and nothing forged ever did.
    await anna.set_presence({"user": {}, "cursor": {"x": 2, "y": 2}})
    await wait_until(
        lambda: bob.peers().get(anna.doc.client_id, {}).get("cursor") == {"x": 2, "y": 2},
        message="Anna's genuine move",
    )
    watcher_view = bob.peers()[anna.doc.client_id]
    assert watcher_view["cursor"] == {"x": 2, "y": 2}
    room = server.services.rooms.rooms[anna.url.split("/ws/rooms/")[1].split("?")[0]]
    assert room.awareness.states[anna.doc.client_id]["cursor"] == {"x": 2, "y": 2}
    await anna.close()
    await bob.close()


async def test_echoed_states_of_others_are_accepted_and_ignored(server: InProcessServer) -> None:
    """Stock y-websocket clients send every state they receive back: not an error."""
    anna, bob, _, _ = await two_people(server)
    await anna.set_presence({"user": {}, "cursor": {"x": 3, "y": 4}})
    await wait_until(lambda: anna.doc.client_id in bob.peers(), message="presence")
    echo = bob.awareness.encode_awareness_update([anna.doc.client_id])
    relays_before = server.services.rooms.rooms[
        anna.url.split("/ws/rooms/")[1].split("?")[0]
    ].relays
    for _ in range(3):
        await bob.send_raw(create_awareness_message(echo))
    # Bob stays connected and Anna's state is untouched; the echo caused no relay.
    await bob.set_presence({"user": {}, "cursor": None})
    await wait_until(lambda: bob.doc.client_id in anna.peers(), message="Bob's own presence")
    assert bob.connected
    room = server.services.rooms.rooms[anna.url.split("/ws/rooms/")[1].split("?")[0]]
    assert room.relays == relays_before + 1
    assert room.awareness.states[anna.doc.client_id]["cursor"] == {"x": 3, "y": 4}
    await anna.close()
    await bob.close()


async def test_same_participant_on_a_new_socket_takes_its_presence_over(
    server: InProcessServer,
) -> None:
    """A tablet whose Wi-Fi dropped silently reconnects before its old socket is found dead."""
    from pycrdt import Doc

    info = await server.create_room("Takeover")
    anna_token = (await server.join(info.code, "Anna"))["token"]
    watcher = await YClient(server.ws_url, info.room, info.token).connect()
    old = await YClient(server.ws_url, info.room, anna_token).connect()
    await old.set_presence({"user": {}, "cursor": {"x": 1, "y": 1}})
    await wait_until(lambda: old.doc.client_id in watcher.peers(), message="presence")

    new = YClient(server.ws_url, info.room, anna_token, doc=Doc(client_id=old.doc.client_id))
    await new.connect()
    for _ in range(5):  # a clock ahead of the old socket's, as after real use
        new.awareness.set_local_state({})
    await new.set_presence({"user": {}, "cursor": {"x": 7, "y": 7}})
    await wait_until(
        lambda: watcher.peers().get(old.doc.client_id, {}).get("cursor") == {"x": 7, "y": 7},
        message="the new socket's presence",
    )
    await old.close()  # the old socket is finally noticed as gone...
    await wait_until(lambda: len(server.services.rooms.rooms[info.room].connections) == 2)
    # ...and does not take Anna's presence with it.
    assert watcher.peers()[old.doc.client_id]["cursor"] == {"x": 7, "y": 7}

    # Someone else with the same client id cannot do the same.
    bob_token = (await server.join(info.code, "Bob"))["token"]
    bob = YClient(server.ws_url, info.room, bob_token, doc=Doc(client_id=old.doc.client_id))
    await bob.connect()
    for _ in range(50):
        bob.awareness.set_local_state({})
    await bob.set_presence({"user": {}, "cursor": {"x": 666, "y": 666}})
    await new.set_presence({"user": {}, "cursor": {"x": 8, "y": 8}})
    await wait_until(
        lambda: watcher.peers()[old.doc.client_id].get("cursor") == {"x": 8, "y": 8},
        message="Anna's next move",
    )
    assert watcher.peers()[old.doc.client_id]["user"]["name"] == "Anna"
    for client in (watcher, new, bob):
        await client.close()


async def test_a_connection_cannot_publish_endless_client_ids(server: InProcessServer) -> None:
    """Every client id a room hears of is remembered while it is loaded (echo detection), so
    one connection inventing ids would grow the server's memory without bound: it is closed."""
    from server.crdt.awareness import MAX_CLIENT_IDS_PER_CONNECTION

    info = await server.create_room("Many ids")
    token = (await server.join(info.code, "Mallory"))["token"]
    watcher = await YClient(server.ws_url, info.room, info.token).connect()
    mallory = await YClient(server.ws_url, info.room, token).connect()
    room = server.services.rooms.rooms[info.room]
    for client_id in range(1000, 1000 + 5 * MAX_CLIENT_IDS_PER_CONNECTION):
        update = encode_awareness_update([AwarenessEntry(client_id, 1, {"cursor": None})])
        if not mallory.connected:
            break
        try:
            await mallory.send_raw(create_awareness_message(update))
        except websockets.ConnectionClosed:
            break  # closed while we were still sending
    code, reason = await mallory.wait_closed()
    assert code == 4400 and "client ids" in reason
    # Her ids at most, and the server's own (null) entry.
    assert len(room.awareness.meta) <= MAX_CLIENT_IDS_PER_CONNECTION + 1
    # The room goes on for everyone else.
    await watcher.set_presence({"user": {}, "cursor": {"x": 1, "y": 1}})
    assert watcher.connected
    await watcher.close()
