"""What anyone has seen is never lost: durable before visible (issue 10, part 6).

Three writers on one server (a separate process), a card every 50 ms each; the server is
killed with -9 at a random point and restarted on the same data directory; the clients
reconnect. Before the fix the room relayed updates at once while the group commit stored
them up to `--commit-interval-ms` later: a kill in between made the server forget cards
that other clients had already received, and their sync step 2 then carried other people's
cards, refused with 4409 ("a new card must name its author") and lost for everyone.

The kill lands at a random point of the commit window, so the scenario runs in several
rounds; the commit interval is long (1 s) so that, on the old code, nearly every kill
lands inside a window of relayed-but-uncommitted cards.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from tests.support.servers import RoomInfo, ServerProcess
from tests.support.yclient import YClient, wait_until

ROUNDS = 5
WRITERS = 3
CARD_EVERY = 0.05
COMMIT_INTERVAL_MS = "1000"


async def write_cards(client: YClient, name: str, stop: asyncio.Event, start: int) -> int:
    """A card every 50 ms (its author is the writer) until `stop`; returns the next index."""
    index = start
    while not stop.is_set():
        client.cards[f"{name}-{index}"] = client.card(f"{name} {index}", x=index)
        index += 1
        try:
            await asyncio.wait_for(stop.wait(), CARD_EVERY)
        except TimeoutError:
            pass
    return index


def refused(clients: list[YClient]) -> list[tuple[int | None, str | None]]:
    return [(c.close_code, c.close_reason) for c in clients if c.close_code == 4409]


def converged(clients: list[YClient], reader: YClient, seen: set[str]) -> bool:
    board = reader.board()
    return seen <= set(board["cards"]) and all(c.board() == board for c in clients)


async def test_kill_9_never_loses_what_anyone_saw(tmp_path: Path) -> None:
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    server = ServerProcess(tmp_path, None, "--commit-interval-ms", COMMIT_INTERVAL_MS).start()
    port = server.port
    try:
        info: RoomInfo = await server.create_room("Kill -9")
        tokens = [(await server.join(info.code, f"Writer {i}"))["token"] for i in range(WRITERS)]
        clients = [await YClient(server.ws_url, info.room, token).connect() for token in tokens]
        names = [f"w{i}" for i in range(WRITERS)]
        next_index = [0] * WRITERS
        seen: set[str] = set()
        for round_ in range(ROUNDS):
            stop = asyncio.Event()
            loops = [
                asyncio.ensure_future(write_cards(c, n, stop, i))
                for c, n, i in zip(clients, names, next_index, strict=True)
            ]
            # Let them write for a while, then kill at a random point of the commit window.
            await asyncio.sleep(rng.uniform(0.4, 1.6))
            server.kill()
            stop.set()
            next_index = list(await asyncio.gather(*loops))
            for client in clients:
                await client.wait_closed()
            # Everything any client has now it received from the server or wrote itself.
            for client in clients:
                seen.update(client.cards.keys())

            server = ServerProcess(tmp_path, None, "--commit-interval-ms", COMMIT_INTERVAL_MS)
            server.start(port=port)
            for client in clients:
                await client.connect()  # as y-websocket reconnects by itself
            reader = await YClient(server.ws_url, info.room, info.token).connect()
            try:
                await wait_until(
                    lambda r=reader: bool(refused(clients)) or converged(clients, r, seen),
                    timeout=15,
                    message=f"convergence after kill {round_ + 1} (seed {seed})",
                )
                assert not refused(clients), (
                    f"round {round_ + 1} (seed {seed}): reconnecting writers refused: "
                    f"{refused(clients)}"
                )
                missing = seen - set(reader.cards.keys())
                assert not missing, f"round {round_ + 1}: cards seen and lost: {sorted(missing)}"
                assert all(c.connected for c in clients)
            finally:
                await reader.close()
        for client in clients:
            await client.close()
    finally:
        server.kill()
