"""SQLite group commits run on the store's own thread (server/storage/commit_thread.py).

A commit is one hop from the event loop to a sync engine on a dedicated thread. These
tests pin what that must not change: the loop stays free while a commit waits for
SQLite's write lock, the commit goes through once the lock is free, and close() ends
every thread the store started (the store can be opened again).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from server.storage.store import Store
from tests.support.polling import wait_until
from tests.support.sqlite import write_lock


async def test_a_commit_waiting_for_the_write_lock_leaves_the_event_loop_free(
    tmp_path: Path,
) -> None:
    store = Store.for_settings(tmp_path, None)
    await store.open()
    try:
        await store.append_updates([("room", b"first")])
        loop = asyncio.get_running_loop()
        with write_lock(tmp_path / "koprade.sqlite3"):
            commit = asyncio.create_task(store.append_updates([("room", b"second")]))
            started = loop.time()
            for _ in range(5):
                # Reads (another connection, WAL) and timers go on while the commit waits.
                assert await store.get_room("no-such-room") is None
                await asyncio.sleep(0.02)
            # SQLite's busy timeout is 5 s: a commit blocking the loop would show here.
            assert loop.time() - started < 2.5
            assert not commit.done()
        # The lock is gone within the busy timeout: the same commit goes through.
        result = await asyncio.wait_for(commit, 10)
        assert result == {"room": (2, 2)}
        assert (await store.load_document("room")).updates == [b"first", b"second"]
    finally:
        await store.close()


async def test_close_ends_the_commit_thread_and_the_store_reopens(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    store = Store.for_settings(tmp_path, None)
    for round_ in (1, 2):
        await store.open()
        try:
            await store.append_updates([("room", f"update {round_}".encode())])
        finally:
            await store.close()
        await wait_until(
            lambda: set(threading.enumerate()) <= before, 5, "the store's threads to end"
        )
    await store.open()
    try:
        assert (await store.load_document("room")).updates == [b"update 1", b"update 2"]
    finally:
        await store.close()
