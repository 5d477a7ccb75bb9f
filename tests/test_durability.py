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
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pycrdt import Map

from server.config import Settings
from tests.support.servers import InProcessServer, RoomInfo, ServerProcess
from tests.support.sqlite import write_lock
from tests.support.yclient import YClient, wait_until
from tests.test_persistence import stored_board

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


async def test_kill_9_never_loses_what_anyone_saw(tmp_path: Path, database_url: str | None) -> None:
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    args = ("--commit-interval-ms", COMMIT_INTERVAL_MS)
    server = ServerProcess(tmp_path, database_url, *args).start()
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

            server = ServerProcess(tmp_path, database_url, *args).start(port=port)
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


# -- the same promise, step by step, on an in-process server --------------------------------
#
# The commit interval is far longer than each test: whatever reaches the database does so
# because someone waited for it, never because the interval passed.


@pytest.fixture
async def slow_commits(settings: Settings) -> AsyncIterator[InProcessServer]:
    running = await InProcessServer(replace(settings, commit_interval_ms=600_000)).start()
    try:
        yield running
    finally:
        await running.stop()


async def stored_cards(server: InProcessServer, room: str) -> set[str]:
    doc = await stored_board(server.settings.data_dir, None, room)
    return set(doc.get("cards", type=Map).keys())


async def test_a_relayed_card_is_already_stored(slow_commits: InProcessServer) -> None:
    server = slow_commits
    info = await server.create_room("Relay")
    writer = await YClient(server.ws_url, info.room, info.token).connect()
    watcher = await YClient(server.ws_url, info.room, info.token).connect()
    for index in range(5):
        writer.cards[f"c{index}"] = writer.card(f"card {index}")
        await wait_until(lambda i=index: f"c{i}" in watcher.cards, message=f"card {index} relayed")
        assert f"c{index}" in await stored_cards(server, info.room), "relayed before stored"
    await writer.close()
    await watcher.close()


async def a_lone_editors_card(server: InProcessServer) -> tuple[RoomInfo, YClient]:
    """A card "alone", accepted while its author is alone in the room: relayed to nobody,
    so nothing waited for its commit yet (and the commit interval is long)."""
    info = await server.create_room("Alone")
    writer = await YClient(server.ws_url, info.room, info.token).connect()
    writer.cards["alone"] = writer.card("written while alone")
    rooms = server.services.rooms
    await wait_until(lambda: rooms.writer.pending_count(info.room) == 1, message="accepted")
    assert "alone" not in await stored_cards(server, info.room)
    return info, writer


async def test_a_joiner_receives_only_stored_content(slow_commits: InProcessServer) -> None:
    server = slow_commits
    info, writer = await a_lone_editors_card(server)
    joiner = await YClient(server.ws_url, info.room, info.token).connect()
    assert "alone" in joiner.cards
    assert "alone" in await stored_cards(server, info.room), "sync step 2 before the commit"
    await writer.close()
    await joiner.close()


async def test_an_export_shows_only_stored_content(slow_commits: InProcessServer) -> None:
    """An HTTP reply is seen too: a lone editor's card is stored before an export shows it."""
    server = slow_commits
    info, writer = await a_lone_editors_card(server)
    exported = await server.export_board(info.room, info.token)
    assert "alone" in {card["id"] for card in exported["cards"]}
    assert "alone" in await stored_cards(server, info.room), "exported before stored"
    await writer.close()


async def test_a_command_answers_once_its_change_is_stored(slow_commits: InProcessServer) -> None:
    server = slow_commits
    info = await server.create_room("Command")
    watcher = await YClient(server.ws_url, info.room, info.token).connect()
    await server.ok(info.room, info.token, "set_phase", phase="ideate")
    doc = await stored_board(server.settings.data_dir, None, info.room)
    assert doc.get("meta", type=Map).get("phase") == "ideate"
    await wait_until(
        lambda: watcher.doc.get("meta", type=Map).get("phase") == "ideate", message="relayed"
    )
    await watcher.close()


async def test_nothing_is_relayed_while_commits_fail(slow_commits: InProcessServer) -> None:
    server = slow_commits
    info = await server.create_room("Locked")
    writer = await YClient(server.ws_url, info.room, info.token).connect()
    watcher = await YClient(server.ws_url, info.room, info.token).connect()
    writer.cards["before"] = writer.card("stored")
    await wait_until(lambda: "before" in watcher.cards, message="relay while all is well")
    commits = server.services.rooms.writer
    seen_before = len(watcher.frames)
    with write_lock(server.settings.data_dir / "koprade.sqlite3"):
        writer.cards["during"] = writer.card("cannot be stored yet")
        # Presence needs no commit, but it must not overtake the update it may refer to.
        await writer.set_presence({"cursor": {"x": 1, "y": 2}})
        # A real failed commit: SQLite's busy timeout (5 s) passes first.
        await wait_until(lambda: commits.consecutive_failures >= 1, 20, "a failed commit")
        joiner = YClient(server.ws_url, info.room, info.token)
        await joiner.connect(wait_synced=False)
        await wait_until(lambda: commits.consecutive_failures >= 2, 30, "a second failed commit")
        assert "during" not in watcher.cards, "relayed although not stored"
        assert writer.doc.client_id not in watcher.peers(), "presence overtook the update"
        assert not joiner.synced.is_set(), "a joiner got content that was not stored"
        assert watcher.connected and joiner.connected
    # The retry after the lock is gone stores it; then, and only then, it goes out.
    await wait_until(lambda: "during" in watcher.cards, 30, "relay after the retry")
    await wait_until(lambda: joiner.synced.is_set() and "during" in joiner.cards, 10, "joiner")
    await wait_until(lambda: writer.doc.client_id in watcher.peers(), 10, "the presence")
    kinds = [frame[0] for frame in watcher.frames[seen_before:]]
    assert kinds.index(0) < kinds.index(1), "the update goes out first, then the presence"
    assert "during" in await stored_cards(server, info.room)
    for client in (writer, watcher, joiner):
        await client.close()


async def test_a_command_while_commits_fail_answers_503_and_goes_out_later(
    slow_commits: InProcessServer,
) -> None:
    server = slow_commits
    info = await server.create_room("Locked command")
    watcher = await YClient(server.ws_url, info.room, info.token).connect()

    def phase() -> object:
        return watcher.doc.get("meta", type=Map).get("phase")

    with write_lock(server.settings.data_dir / "koprade.sqlite3"):
        # The commit waits out SQLite's busy timeout (5 s), fails, and the command gives up
        # after 10 s: made, not stored, not relayed.
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            response = await http.post(
                f"/api/rooms/{info.room}/commands",
                json={"command": "set_phase", "phase": "ideate"},
                headers={"authorization": f"Bearer {info.token}"},
            )
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "storage_unavailable"
        assert "not stored yet" in response.json()["message"]
        assert phase() == "explore"
    await wait_until(lambda: phase() == "ideate", 30, "the phase after the retry")
    doc = await stored_board(server.settings.data_dir, None, info.room)
    assert doc.get("meta", type=Map).get("phase") == "ideate"
    await watcher.close()
