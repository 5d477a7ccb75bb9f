"""Waiting for a commit (`UpdateWriter.when_committed`), on real SQLite and PostgreSQL.

Rooms relay only what is committed (durable before visible): they ask the writer for a
commit and fan out in its callback. The commit starts at once, whatever the interval,
everyone who asked in the same turn of the event loop shares it, and a callback never
comes before its updates are stored — also not while commits fail.
"""

from __future__ import annotations

import asyncio

from server.storage.store import Store
from server.storage.writer import UpdateWriter
from tests.support.polling import wait_until

from .conftest import Database

HOUR = 3600.0


async def test_a_waiter_gets_its_commit_at_once_and_shares_it(store: Store) -> None:
    commits: list[float] = []
    writer = UpdateWriter(store, merge=None, interval=HOUR, on_committed=commits.append)
    await writer.start()
    try:
        called: list[tuple[str, bool]] = []
        seqs = {room: writer.enqueue(room, room.encode()) for room in ("a", "b", "c")}
        assert writer.committed_seq == 0 and writer.last_seq == seqs["c"]
        for room, seq in seqs.items():
            writer.when_committed(
                seq, lambda r=room: called.append((r, bool(writer.pending_count(r))))
            )
        await wait_until(lambda: len(called) == 3, 5, "the callbacks (the interval is 1 h)")
        assert called == [("a", False), ("b", False), ("c", False)], "called after the commit"
        assert len(commits) == 1, "three rooms asking in one turn share one commit"
        for room in seqs:
            assert (await store.load_document(room)).updates == [room.encode()]
        # Already committed: called on the next turn, never synchronously.
        late: list[int] = []
        writer.when_committed(seqs["a"], lambda: late.append(1))
        assert late == []
        await wait_until(lambda: late == [1], 5, "the late callback")
        writer.enqueue("a", b"more")
        await asyncio.wait_for(writer.committed(), 5)
        assert writer.pending_count() == 0
    finally:
        await writer.stop()


async def test_no_callback_before_a_failed_commit_is_retried(
    database: Database, store: Store
) -> None:
    """A real failure (the log table vanishes): the waiter waits for the retry."""
    writer = UpdateWriter(store, merge=None, interval=HOUR, max_backoff=0.05)
    await writer.start()
    try:
        await database.execute("ALTER TABLE koprade_room_updates RENAME TO koprade_away")
        called: list[int] = []
        writer.when_committed(writer.enqueue("room", b"update"), lambda: called.append(1))
        await wait_until(lambda: writer.consecutive_failures >= 3, 10, "failing commits")
        assert called == [], "called back although nothing was stored"
        await database.execute("ALTER TABLE koprade_away RENAME TO koprade_room_updates")
        await wait_until(lambda: called == [1], 10, "the callback after the retry")
        assert (await store.load_document("room")).updates == [b"update"]
    finally:
        await writer.stop()


async def test_sqlite_commits_survive_a_process_crash_cheaply(
    database: Database, store: Store
) -> None:
    """WAL with synchronous=NORMAL: a commit is in the WAL file when COMMIT returns."""
    if store.dialect_name != "sqlite":
        return  # PostgreSQL commits are durable with its defaults (synchronous_commit=on)
    async with store.engine.connect() as conn:
        journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        synchronous = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
    assert (journal, synchronous) == ("wal", 1)
