"""Nothing written is lost: graceful restart, kill -9, compaction, on SQLite and PostgreSQL.

These tests run the server as a separate process (`python -m server serve`), because
they stop it with real signals.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pycrdt import Doc

from server.crdt.board import board_to_json, doc_from_updates
from server.storage.store import Store
from tests.support.servers import ServerProcess
from tests.support.yclient import YClient, wait_until


async def stored_board(data_dir: Path, database_url: str | None, room: str) -> Doc:
    """Read the room straight from the database, as the next server start would."""
    store = Store.for_settings(data_dir, database_url)
    await store.open()
    try:
        stored = await store.load_document(room)
    finally:
        await store.close()
    return doc_from_updates(([stored.snapshot] if stored.snapshot else []) + stored.updates)


async def write_cards(client: YClient, prefix: str, count: int) -> None:
    for index in range(count):
        client.cards[f"{prefix}-{index}"] = client.card(f"{prefix} {index}", x=index)
    text = client.cards[f"{prefix}-0"]["text"]
    text += " (edited)"


async def test_sigterm_stores_everything_before_exit(
    tmp_path: Path, database_url: str | None
) -> None:
    # A commit interval far longer than the test: only the shutdown flush can store this.
    server = ServerProcess(tmp_path, database_url, "--commit-interval-ms", "600000").start()
    try:
        info = await server.create_room("Graceful")
        writer = await YClient(server.ws_url, info.room, info.token).connect()
        watcher = await YClient(server.ws_url, info.room, info.token).connect()
        await write_cards(writer, "g", 30)
        await wait_until(lambda: len(watcher.cards) == 30, message="relay before shutdown")
        expected = writer.board()
        assert server.terminate(), server.output
        await writer.wait_closed()
        assert writer.close_code == 1012  # uvicorn's "service restart"
    finally:
        server.kill()

    restarted = ServerProcess(tmp_path, database_url).start()
    try:
        reader = await YClient(restarted.ws_url, info.room, info.token).connect()
        assert reader.board() == expected
        await reader.close()
    finally:
        restarted.terminate()


async def test_group_commit_stores_without_shutdown(
    tmp_path: Path, database_url: str | None
) -> None:
    server = ServerProcess(tmp_path, database_url).start()
    try:
        info = await server.create_room("Committed")
        writer = await YClient(server.ws_url, info.room, info.token).connect()
        await write_cards(writer, "c", 25)

        async def stored_count() -> int:
            return len(
                board_to_json(await stored_board(tmp_path, database_url, info.room))["cards"]
            )

        count = 0
        for _ in range(500):  # bounded poll: the commit interval is 100 ms
            count = await stored_count()
            if count == 25:
                break
        assert count == 25, "the group commit stored every card while the server ran"
        server.kill()  # kill -9: no shutdown flush at all
    finally:
        server.kill()
    doc = await stored_board(tmp_path, database_url, info.room)
    assert board_to_json(doc)["cards"] == board_to_json(writer.doc)["cards"]


async def test_kill_9_then_clients_restore_the_unflushed_window(
    tmp_path: Path, database_url: str | None
) -> None:
    # Nothing reaches the database before the kill: the commit interval is far longer than
    # the test, and what a lone editor writes is relayed to nobody, so it need not wait for
    # a commit (durable before visible covers what others saw: tests/test_durability.py).
    # The board lives only in the writers' own documents, which hand it back through the
    # ordinary sync exchange.
    server = ServerProcess(tmp_path, database_url, "--commit-interval-ms", "600000").start()
    port = server.port
    try:
        info = await server.create_room("Crash")
        bob_join = await server.join(info.code, "Bob")
        anna = await YClient(server.ws_url, info.room, info.token).connect()
        await write_cards(anna, "a", 10)
        bob = YClient(server.ws_url, info.room, bob_join["token"])  # joins after the crash
        expected_anna = anna.board()
        server.kill()
        await anna.wait_closed()
    finally:
        server.kill()
    stored = await stored_board(tmp_path, database_url, info.room)
    assert len(board_to_json(stored)["cards"]) < 10, "the kill really lost the window"

    restarted = ServerProcess(tmp_path, database_url).start(port=port)
    try:
        await anna.connect()  # reconnect, as y-websocket does by itself
        await bob.connect()
        await write_cards(bob, "b", 10)
        await wait_until(lambda: len(anna.cards) == 20, message="anna sees bob's cards")
        expected = anna.board()
        assert {k: v for k, v in expected["cards"].items() if k.startswith("a-")} == (
            expected_anna["cards"]
        )
        newcomer = await YClient(restarted.ws_url, info.room, info.token).connect()
        await wait_until(lambda: newcomer.board() == expected, message="board restored")
        await anna.close()
        await bob.close()
        await newcomer.close()
        assert restarted.terminate(), restarted.output
    finally:
        restarted.kill()
    assert board_to_json(await stored_board(tmp_path, database_url, info.room)) == board_to_json(
        anna.doc
    )


async def test_compaction_keeps_content_identical(tmp_path: Path, database_url: str | None) -> None:
    server = ServerProcess(tmp_path, database_url, "--compact-after", "20").start()
    try:
        info = await server.create_room("Compact")
        writer = await YClient(server.ws_url, info.room, info.token).connect()
        watcher = await YClient(server.ws_url, info.room, info.token).connect()
        for round_ in range(6):
            await write_cards(writer, f"r{round_}", 10)
            await wait_until(lambda r=round_: len(watcher.cards) == 10 * (r + 1), message="relay")
        expected = board_to_json(writer.doc)

        async def compacted() -> bool:
            store = Store.for_settings(tmp_path, database_url)
            await store.open()
            try:
                stored = await store.load_document(info.room)
            finally:
                await store.close()
            return stored.snapshot is not None and len(stored.updates) < 20

        deadline = asyncio.get_running_loop().time() + 30
        while not await compacted():  # bounded poll for the background compaction
            assert asyncio.get_running_loop().time() < deadline, "the log was never compacted"
            await asyncio.sleep(0.05)
        assert board_to_json(await stored_board(tmp_path, database_url, info.room)) == expected
        await writer.close()
        await watcher.close()
        assert server.terminate(), server.output
    finally:
        server.kill()

    restarted = ServerProcess(tmp_path, database_url).start()
    try:
        reader = await YClient(restarted.ws_url, info.room, info.token).connect()
        assert board_to_json(reader.doc) == expected
        await reader.close()
    finally:
        restarted.terminate()
