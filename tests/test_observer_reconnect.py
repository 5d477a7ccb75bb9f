"""An observer reconnects to a board with deletions and is not refused (issue 10, part 3).

On every (re)connect a Yjs client answers the server's sync step 1 with a step 2 that
carries its whole delete set. Before the fix the rules refused any non-empty update from
an observer, so a projector was closed with 4409 on every reconnect once anyone had
deleted anything. The Node (yjs + y-websocket) variant is in tests/interop.
"""

from __future__ import annotations

from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


async def test_observer_reconnects_to_a_board_with_deletions(server: InProcessServer) -> None:
    info = await server.create_room("Projector")
    anna = await server.join(info.code, "Anna")
    projector = await server.join(info.code, "Projector", role="observer")
    writer = await YClient(server.ws_url, info.room, anna["token"]).connect()
    observer = await YClient(server.ws_url, info.room, projector["token"]).connect()

    writer.cards["keep"] = writer.card("Benches")
    writer.cards["gone"] = writer.card("Shade")
    await wait_until(lambda: "gone" in observer.cards, message="both cards at the observer")
    writer.cards["keep"]["x"] = 120.0  # replaces a value: a deletion
    del writer.cards["gone"]
    await wait_until(lambda: "gone" not in observer.cards, message="the deletion relayed")
    await wait_until(lambda: observer.cards["keep"]["x"] == 120.0, message="the move relayed")

    for attempt in range(3):
        await observer.close()
        assert observer.close_code == 1000
        await observer.connect()
        # The observer's step 2 has gone in; a card written now arrives only if the
        # observer is still connected afterwards.
        writer.cards[f"after-{attempt}"] = writer.card(f"after reconnect {attempt}")
        await wait_until(
            lambda a=attempt: f"after-{a}" in observer.cards or not observer.connected,
            message="the next card at the observer",
        )
        assert observer.connected, (observer.close_code, observer.close_reason)
    assert observer.board() == writer.board()
    await observer.close()
    await writer.close()
