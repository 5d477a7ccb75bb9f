"""The `closing` message (docs/protocol.md): when the server closes a socket for good for a
reason the client must act on, it says so in a type-100 message with a machine-readable
`reason` right before the close frame. The close code and reason stay as they were.

Real pycrdt clients against the real server on an ephemeral port.
"""

from __future__ import annotations

import httpx
from pycrdt import Map

from tests.support.servers import InProcessServer
from tests.support.yclient import KOPRADE_MESSAGE, YClient, wait_until


def last_frame_is_closing(client: YClient, reason: str) -> None:
    """The closing message is the last frame the client got, so it came before the close."""
    assert client.frames, "no frame before the close"
    assert client.frames[-1][0] == KOPRADE_MESSAGE
    assert client.messages[-1] == {"type": "closing", "reason": reason}


async def test_removed_participant_is_told_before_the_close(server: InProcessServer) -> None:
    info = await server.create_room("Closing", name="Ilze")
    bob = await server.join(info.code, "Bob")
    live = await YClient(server.ws_url, info.room, bob["token"]).connect()

    await server.ok(info.room, info.token, "remove", participant=bob["participant"])
    assert await live.wait_closed() == (4403, "participant removed")
    last_frame_is_closing(live, "participant_removed")

    # a reconnect after the removal is refused the same way
    again = YClient(server.ws_url, info.room, bob["token"])
    await again.connect(wait_synced=False)
    assert await again.wait_closed() == (4403, "participant removed")
    last_frame_is_closing(again, "participant_removed")


async def test_deleted_room_tells_every_board_before_the_close(server: InProcessServer) -> None:
    info = await server.create_room("Closing", name="Ilze")
    anna = await server.join(info.code, "Anna")
    facilitator = await YClient(server.ws_url, info.room, info.token).connect()
    shared = await YClient(server.ws_url, info.room, anna["token"]).connect()
    private = await YClient(server.ws_url, info.room, anna["token"], private=True).connect()
    private.cards["secret"] = private.card("Slepena ideja")
    private_id = f"{info.room}/{anna['participant']}"
    await wait_until(
        lambda: (
            private_id in server.services.rooms.rooms
            and "secret" in server.services.rooms.rooms[private_id].doc.get("cards", type=Map)
        ),
        message="the private card on the server",
    )

    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.delete(
            f"/api/rooms/{info.room}", headers={"authorization": f"Bearer {info.token}"}
        )
    assert response.status_code == 204
    for client in (facilitator, shared, private):
        assert await client.wait_closed() == (4404, "room deleted")
        last_frame_is_closing(client, "room_deleted")
