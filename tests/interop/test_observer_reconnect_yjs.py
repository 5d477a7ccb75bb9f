"""A stock yjs + y-websocket observer reconnects to a board with deletions (issue 10, part 3).

y-websocket answers the server's sync step 1 with `Y.encodeStateAsUpdate(doc, sv)`, which
carries the client's whole delete set: before the fix every reconnect of a projector was
refused with 4409 once the board had any deletion, and its board reset.
"""

from __future__ import annotations

from tests.interop.test_yjs_interop import TIMEOUT, NodeClient, node_executable
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


async def test_yjs_observer_reconnects_without_being_refused(server: InProcessServer) -> None:
    info = await server.create_room("Projector")
    anna = await server.join(info.code, "Anna")
    projector = await server.join(info.code, "Projector", role="observer")
    writer = await YClient(server.ws_url, info.room, anna["token"]).connect()
    observer = NodeClient(node_executable(), "projector")
    try:
        await observer.start(server.ws_url, info.room, projector["token"])
        writer.cards["keep"] = writer.card("Benches")
        writer.cards["gone"] = writer.card("Shade")
        await observer.wait_for(lambda: "gone" in observer.board["cards"], "both cards")
        writer.cards["keep"]["x"] = 75.0
        del writer.cards["gone"]
        await observer.wait_for(lambda: "gone" not in observer.board["cards"], "the deletion")

        for attempt in range(3):
            await observer.command("disconnect")
            await observer.wait_for(lambda: observer.status == "disconnected", "offline")
            await observer.command("connect")
            await observer.wait_for(
                lambda: observer.synced or any(c["code"] == 4409 for c in observer.closes),
                "synced again",
            )
            writer.cards[f"after-{attempt}"] = writer.card(f"after reconnect {attempt}")
            await observer.wait_for(
                lambda a=attempt: (
                    f"after-{a}" in observer.board["cards"]
                    or any(c["code"] == 4409 for c in observer.closes)
                ),
                "the next card at the observer",
            )
            refused = [c for c in observer.closes if c["code"] == 4409]
            assert not refused, refused
        await wait_until(lambda: observer.board == writer.board(), TIMEOUT, "same board")
        assert await observer.quit() == 0
    finally:
        await observer.cleanup()
        await writer.close()
