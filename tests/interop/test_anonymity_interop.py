"""Anonymous presence with stock Yjs clients (npm yjs + y-websocket in Node).

Stock y-websocket clients echo every awareness change they receive back to the server; in
an anonymous room those echoes carry the aliases the server issued, and must never be taken
for the echoing client's own state. Nobody sees a name, a participant id or a real client id.
"""

from __future__ import annotations

from typing import Any

from tests.interop.test_yjs_interop import TIMEOUT, StartNode, start_node  # noqa: F401
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


def numbered(states: dict[int, dict[str, Any]]) -> dict[int, int]:
    """Client id -> presence number of the anonymous states among `states`."""
    return {
        cid: state["user"]["number"]
        for cid, state in states.items()
        if isinstance(state, dict) and "number" in state.get("user", {})
    }


async def test_stock_clients_in_an_anonymous_room(
    server: InProcessServer,
    start_node: StartNode,  # noqa: F811
) -> None:
    info = await server.create_room("Anonymous interop")
    await server.ok(info.room, info.token, "settings", anonymous=True)
    anna_join = await server.join(info.code, "Anna Bērziņa")
    bruno_join = await server.join(info.code, "Bruno Ķēniņš")
    carla_join = await server.join(info.code, "Carla Līga")
    anna = await start_node(info.room, anna_join["token"], "anna")
    bruno = await start_node(info.room, bruno_join["token"], "bruno")
    carla = await YClient(server.ws_url, info.room, carla_join["token"]).connect()
    await anna.command("set_cursor", x=10, y=20)
    await bruno.command("set_cursor", x=30, y=40)
    await wait_until(lambda: len(numbered(carla.peers())) == 2, TIMEOUT, "both at Carla")
    # Every stock client has echoed what it received by now: a cursor move after the echoes
    # arrives after them, and still only two numbered states exist.
    await anna.command("set_cursor", x=11, y=21)
    await wait_until(
        lambda: any(s.get("cursor") == {"x": 11, "y": 21} for s in carla.peers().values()),
        TIMEOUT,
        "Anna's move at Carla",
    )
    assert sorted(numbered(carla.peers()).values()) == [1, 2]
    # Stock clients see labels, never the real client ids (they see their own state twice:
    # under their own id, and relayed back under its alias).
    await bruno.wait_for(lambda: len(numbered(bruno.states)) >= 1, "Anna's label at Bruno")
    assert anna.client_id not in bruno.states and bruno.client_id not in anna.states
    for client in (anna, bruno):
        for state in client.peers().values():
            assert "Bērziņa" not in str(state) and "Ķēniņš" not in str(state)
    for frame in carla.frames:
        for secret in ("Anna Bērziņa", "Bruno Ķēniņš", anna_join["participant"]):
            assert secret.encode() not in frame
        for real in (anna.client_id, bruno.client_id):
            assert real not in numbered(carla.peers())

    # Anna leaves: her alias is removed everywhere, and Bruno's echo of the removal does not
    # bring anything back.
    anna_alias = next(cid for cid, n in numbered(carla.peers()).items() if n == 1)
    assert await anna.quit() == 0
    await wait_until(lambda: anna_alias not in carla.peers(), TIMEOUT, "Anna's removal")
    await bruno.command("set_cursor", x=31, y=41)
    await wait_until(
        lambda: any(s.get("cursor") == {"x": 31, "y": 41} for s in carla.peers().values()),
        TIMEOUT,
        "Bruno's move at Carla",
    )
    assert list(numbered(carla.peers()).values()) == [2]
    await carla.close()
    assert await bruno.quit() == 0
