"""A room nobody has opened yet exports the same `meta` as a loaded one (issue 10, part 3).

Its settings are written into the board when the room is first loaded; before the fix an
export (HTTP or `koprade export`) of a room still unopened had `meta: {}`.
"""

from __future__ import annotations

from server.exports import export_stored
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


async def test_an_unopened_room_exports_the_meta_of_a_loaded_one(server: InProcessServer) -> None:
    info = await server.create_room("Senioru mobilitāte", name="Ilze")
    rooms = server.services.rooms
    assert info.room not in rooms.rooms, "nobody opened the room yet"

    unopened = (await server.export_board(info.room, info.token))["meta"]
    stored = await export_stored(server.services.store, info.room)  # `koprade export`
    assert stored is not None

    client = await YClient(server.ws_url, info.room, info.token).connect()
    await client.close()
    loaded = (await server.export_board(info.room, info.token))["meta"]
    assert loaded["title"] == "Senioru mobilitāte"
    assert loaded["people"] == {info.data["participant"]: "Ilze"}
    assert unopened == loaded
    assert stored["meta"] == loaded

    # And once it was unloaded again, the stored board says the same.
    await wait_until(lambda: info.room not in rooms.rooms, message="the room unloads")
    assert (await server.export_board(info.room, info.token))["meta"] == loaded
