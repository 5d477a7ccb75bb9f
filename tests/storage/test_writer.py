"""UpdateWriter (group commit) against real SQLite and PostgreSQL.

Most tests here queue opaque bytes and check the rows, so they store one row per update
(``merge=None``). The server's writer merges each room's updates of a commit into one
row; that is tested with real Yjs updates at the end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from pycrdt import Doc, Map, Text

from server.storage.store import StorageError, Store
from server.storage.writer import UpdateWriter
from tests.support.polling import wait_until

from .conftest import Database

Flushed = list[tuple[str, int, int]]


def recorder() -> tuple[Flushed, Callable[[str, int, int], None]]:
    calls: Flushed = []
    return calls, lambda room, last, length: calls.append((room, last, length))


async def test_group_commit_many_enqueues_few_commits(store: Store) -> None:
    calls, on_flushed = recorder()
    writer = UpdateWriter(store, merge=None, interval=0.05, on_flushed=on_flushed)
    await writer.start()
    try:
        expected: dict[str, list[bytes]] = {"a": [], "b": []}
        for i in range(600):
            room = "a" if i % 3 else "b"
            data = f"{room}-{i}".encode()
            writer.enqueue(room, data)
            expected[room].append(data)
            if i % 100 == 99:
                await asyncio.sleep(0)  # let the writer run between bursts
        await wait_until(lambda: writer.pending_count() == 0)
    finally:
        await writer.stop()

    commits = sum(1 for room, _, _ in calls if room == "a")
    assert 1 <= commits <= 8, calls
    for room, updates in expected.items():
        loaded = await store.load_document(room)
        assert loaded.updates == updates
    last = {room: (last_id, length) for room, last_id, length in calls}
    assert last["a"] == (
        (await store.load_document("a")).last_update_id,
        len(expected["a"]),
    )
    assert last["b"][1] == len(expected["b"])
    assert writer.last_flush_seconds is not None and writer.last_flush_seconds >= 0


async def test_background_commit_within_interval(store: Store) -> None:
    writer = UpdateWriter(store, merge=None, interval=0.05)
    await writer.start()
    try:
        writer.enqueue("room", b"one")
        assert writer.pending_count("room") == 1
        await wait_until(lambda: writer.pending_count("room") == 0, timeout=5)
        assert (await store.load_document("room")).updates == [b"one"]
        writer.enqueue("room", b"two")
        writer.enqueue("room", b"three")
        await wait_until(lambda: writer.pending_count() == 0, timeout=5)
        assert (await store.load_document("room")).updates == [b"one", b"two", b"three"]
    finally:
        await writer.stop()


async def test_stop_flushes_everything(store: Store) -> None:
    writer = UpdateWriter(store, merge=None, interval=3600)
    await writer.start()
    writer.enqueue("room", b"first")
    await writer.wait_flushed("room")
    # The next commit is an hour away; only stop() can store these.
    for i in range(5):
        writer.enqueue("room", f"later-{i}".encode())
    writer.enqueue("other", b"x")
    assert writer.pending_count() == 6
    await writer.stop()
    assert writer.pending_count() == 0
    loaded = await store.load_document("room")
    assert loaded.updates == [b"first"] + [f"later-{i}".encode() for i in range(5)]
    assert (await store.load_document("other")).updates == [b"x"]


async def test_wait_flushed_commits_the_room(store: Store) -> None:
    # Never started: wait_flushed must flush.
    writer = UpdateWriter(store, merge=None, interval=3600)
    await writer.wait_flushed("unknown")  # nothing queued: returns at once
    writer.enqueue("a", b"a1")
    writer.enqueue("b", b"b1")
    writer.enqueue("a", b"a2")
    assert (writer.pending_count("a"), writer.pending_count("b")) == (2, 1)
    await writer.wait_flushed("a")
    assert writer.pending_count("a") == 0
    assert (await store.load_document("a")).updates == [b"a1", b"a2"]
    # b was queued between a's updates, so the in-order commit stored it as well.
    assert writer.pending_count() == 0
    assert (await store.load_document("b")).updates == [b"b1"]


async def test_on_flushed_reports_ids_and_log_length(store: Store) -> None:
    calls, on_flushed = recorder()
    writer = UpdateWriter(store, merge=None, interval=3600, on_flushed=on_flushed)
    for data in (b"a1", b"a2", b"a3"):
        writer.enqueue("a", data)
    writer.enqueue("b", b"b1")
    writer.enqueue("b", b"b2")
    await writer.flush()
    a = await store.load_document("a")
    b = await store.load_document("b")
    assert calls == [("a", a.last_update_id, 3), ("b", b.last_update_id, 2)]

    await store.compact("a", b"snapshot", a.last_update_id)
    calls.clear()
    writer.enqueue("a", b"a4")
    await writer.flush()
    a = await store.load_document("a")
    assert calls == [("a", a.last_update_id, 1)]
    await writer.flush()  # nothing pending: no commit, no callback
    assert len(calls) == 1


async def test_on_flushed_errors_are_logged_and_swallowed(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def on_flushed(room: str, last_id: int, length: int) -> None:
        seen.append(room)
        if room == "a":
            raise RuntimeError("callback bug")

    writer = UpdateWriter(store, merge=None, interval=3600, on_flushed=on_flushed)
    writer.enqueue("a", b"1")
    writer.enqueue("b", b"2")
    with caplog.at_level(logging.ERROR, logger="koprade.storage"):
        await writer.flush()
    assert seen == ["a", "b"]
    assert writer.pending_count() == 0
    assert "on_flushed callback failed for room a" in caplog.text


async def test_enqueue_rejects_invalid_arguments(store: Store) -> None:
    writer = UpdateWriter(store, merge=None)
    with pytest.raises(TypeError):
        writer.enqueue("room", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        writer.enqueue("r" * 33, b"x")
    assert writer.pending_count() == 0


async def test_order_preserved_with_concurrent_flushes(store: Store) -> None:
    writer = UpdateWriter(store, merge=None, interval=0.001, max_batch=7)
    await writer.start()
    expected: dict[str, list[bytes]] = {f"r{n}": [] for n in range(4)}

    async def producer(n: int) -> None:
        room = f"r{n}"
        for i in range(60):
            data = f"{room}-{i}".encode()
            writer.enqueue(room, data)
            expected[room].append(data)
            if i % 9 == 0:
                await writer.flush()
            elif i % 4 == 0:
                await writer.wait_flushed(room)
            else:
                await asyncio.sleep(0)

    try:
        await asyncio.gather(*(producer(n) for n in range(4)))
    finally:
        await writer.stop()
    for room, updates in expected.items():
        loaded = await store.load_document(room)
        assert loaded.updates == updates


async def test_failed_commits_are_retried_in_order(
    database: Database, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A real failure (the log table vanishes) keeps everything queued until it is back."""
    calls, on_flushed = recorder()
    writer = UpdateWriter(store, merge=None, interval=0.01, max_backoff=0.1, on_flushed=on_flushed)
    await writer.start()
    caplog.set_level(logging.INFO, logger="koprade.storage")
    try:
        writer.enqueue("room", b"before")
        await writer.wait_flushed("room")

        await database.execute("ALTER TABLE koprade_room_updates RENAME TO koprade_away")
        for i in range(5):
            writer.enqueue("room", f"during-{i}".encode())
        writer.enqueue("other", b"other-during")
        await wait_until(lambda: writer.consecutive_failures >= 3)
        assert writer.pending_count() == 6
        assert writer.pending_count("room") == 5
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert errors and "storing 6 queued updates failed" in errors[0].getMessage()
        with pytest.raises(StorageError):
            await writer.flush()
        writer.enqueue("room", b"after-failure")

        await database.execute("ALTER TABLE koprade_away RENAME TO koprade_room_updates")
        await wait_until(lambda: writer.pending_count() == 0)
        assert writer.consecutive_failures == 0
        assert "works again" in caplog.text
    finally:
        await writer.stop()

    loaded = await store.load_document("room")
    assert loaded.updates == (
        [b"before"] + [f"during-{i}".encode() for i in range(5)] + [b"after-failure"]
    )
    assert (await store.load_document("other")).updates == [b"other-during"]
    assert calls[-2:] == [
        ("room", loaded.last_update_id, 7),
        ("other", (await store.load_document("other")).last_update_id, 1),
    ]


async def test_stop_keeps_retrying_until_stored(database: Database, store: Store) -> None:
    """Graceful shutdown during an outage waits for the database instead of dropping data."""
    writer = UpdateWriter(store, merge=None, interval=0.01, max_backoff=0.05)
    await writer.start()
    await database.execute("ALTER TABLE koprade_room_updates RENAME TO koprade_away")
    writer.enqueue("room", b"1")
    writer.enqueue("room", b"2")
    stopping = asyncio.create_task(writer.stop())
    await wait_until(lambda: writer.consecutive_failures >= 2)
    assert not stopping.done()
    await database.execute("ALTER TABLE koprade_away RENAME TO koprade_room_updates")
    async with asyncio.timeout(10):
        await stopping
    assert writer.pending_count() == 0
    assert (await store.load_document("room")).updates == [b"1", b"2"]


# -- merging: one row per room and commit, as the server stores ---------------------------


class Edits:
    """A board-like document and the update of every transaction that changed it."""

    def __init__(self) -> None:
        self.doc = Doc()
        self.cards = self.doc.get("cards", type=Map)
        self.updates: list[bytes] = []
        self.doc.observe(lambda event: self.updates.append(event.update))

    def make(self, count: int) -> list[bytes]:
        """`count` transactions: new cards and rewrites of earlier ones; their updates."""
        start = len(self.updates)
        for _ in range(count):
            n = len(self.cards)
            with self.doc.transaction():
                if n == 0 or n % 3 == 1:
                    self.cards[f"c{n}"] = Map({"text": Text(f"card {n}"), "x": n, "y": 2 * n})
                else:
                    text = self.cards[f"c{n // 2}"]["text"]
                    text.insert(len(str(text)), f" +{n}")
                    self.cards[f"c{n - 1}"]["x"] = -n
        return self.updates[start:]

    def matches(self, stored: list[bytes], snapshot: bytes | None = None) -> bool:
        """Whether applying the stored rows rebuilds exactly this document."""
        doc = Doc()
        if snapshot is not None:
            doc.apply_update(snapshot)
        for update in stored:
            doc.apply_update(update)
        return (
            doc.get("cards", type=Map).to_py() == self.cards.to_py()
            and doc.get_state() == self.doc.get_state()
        )


async def test_merged_commit_is_one_row_per_room_and_restores_exactly(
    database: Database, store: Store
) -> None:
    calls, on_flushed = recorder()
    writer = UpdateWriter(store, interval=3600, on_flushed=on_flushed)
    a, b = Edits(), Edits()
    updates_b = b.make(4)
    for i, update in enumerate(a.make(30)):  # the two rooms' updates interleaved
        writer.enqueue("a", update)
        if i < len(updates_b):
            writer.enqueue("b", updates_b[i])
    assert writer.pending_count() == 34
    await writer.flush()
    loaded_a = await store.load_document("a")
    loaded_b = await store.load_document("b")
    assert (len(loaded_a.updates), len(loaded_b.updates)) == (1, 1)
    assert a.matches(loaded_a.updates) and b.matches(loaded_b.updates)
    # The log length that drives compaction still counts updates, not rows.
    assert calls == [("a", loaded_a.last_update_id, 30), ("b", loaded_b.last_update_id, 4)]

    # A lone update is stored as it came; the next commit adds one row per room.
    (single,) = a.make(1)
    writer.enqueue("a", single)
    await writer.flush()
    for update in a.make(7):
        writer.enqueue("a", update)
    await writer.flush()
    loaded_a = await store.load_document("a")
    assert len(loaded_a.updates) == 3 and loaded_a.updates[1] == single
    assert calls[-1] == ("a", loaded_a.last_update_id, 38)

    # After a restart (a new store on the same database) the board is exactly the same.
    reopened = database.make_store()
    await reopened.open()
    try:
        assert a.matches((await reopened.load_document("a")).updates)
        assert b.matches((await reopened.load_document("b")).updates)
    finally:
        await reopened.close()


async def test_merged_rows_and_compaction_restore_exactly(store: Store) -> None:
    writer = UpdateWriter(store, interval=3600)
    a = Edits()
    for _ in range(3):
        for update in a.make(10):
            writer.enqueue("a", update)
        await writer.flush()
    loaded = await store.load_document("a")
    await store.compact("a", a.doc.get_update(), loaded.last_update_id)
    for update in a.make(5):
        writer.enqueue("a", update)
    await writer.stop()
    loaded = await store.load_document("a")
    assert loaded.snapshot is not None and len(loaded.updates) == 1
    assert a.matches(loaded.updates, loaded.snapshot)


async def test_failed_merge_stores_the_updates_one_by_one(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(updates: list[bytes]) -> bytes:
        raise ValueError("cannot merge")

    writer = UpdateWriter(store, interval=3600, merge=broken)
    writer.enqueue("a", b"a1")
    writer.enqueue("b", b"b1")
    writer.enqueue("a", b"a2")
    with caplog.at_level(logging.ERROR, logger="koprade.storage"):
        await writer.flush()
    assert writer.pending_count() == 0
    assert (await store.load_document("a")).updates == [b"a1", b"a2"]
    assert (await store.load_document("b")).updates == [b"b1"]
    assert "could not merge 2 updates of room a" in caplog.text
