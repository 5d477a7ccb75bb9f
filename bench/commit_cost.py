"""What one group commit costs: durable before visible commits once per relay tick.

Measures, on a fresh SQLite file in a temporary directory:

* the server's own path, `Store.append_updates` of one merged row (as the group commit
  writes it): the whole transaction on a sync engine in the store's commit thread, one hop
  from the event loop (server/storage/commit_thread.py): CPU and wall time per commit;
* the same call over the async engine (SQLAlchemy async over aiosqlite, ~9 hops between the
  event loop and aiosqlite's thread): how SQLite commits ran before, and the path every
  other query (and PostgreSQL's commits) take;
* the bare SQLite transaction underneath (`sqlite3`, one INSERT + COMMIT) in WAL mode with
  `synchronous=NORMAL` (what Koprade sets: survives a process crash) and `FULL` (an fsync
  per commit: also survives an OS crash or power loss).

    .venv/bin/python bench/commit_cost.py --commits 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from server.storage.store import Store


async def store_commits(
    directory: Path, commits: int, rooms: int, *, async_engine: bool = False
) -> tuple[float, float]:
    store = Store.for_settings(directory, None)
    await store.open()
    try:
        if async_engine:
            # Without its commit thread the store commits over the async engine.
            thread, store._commit_thread = store._commit_thread, None
            assert thread is not None
            await thread.close()
        await store.append_updates([("warm-up", b"x")])
        cpu, wall = time.process_time(), time.perf_counter()
        for index in range(commits):
            await store.append_updates([(f"room-{index % rooms}", os.urandom(200))])
        return (time.process_time() - cpu) / commits, (time.perf_counter() - wall) / commits
    finally:
        await store.close()


def bare_commits(path: Path, synchronous: str, commits: int) -> tuple[float, float]:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("CREATE TABLE updates (id INTEGER PRIMARY KEY, room TEXT, data BLOB)")
        cpu, wall = time.process_time(), time.perf_counter()
        for index in range(commits):
            connection.execute("BEGIN")
            connection.execute(
                "INSERT INTO updates (room, data) VALUES (?, ?)",
                (f"room-{index % 10}", os.urandom(200)),
            )
            connection.execute("COMMIT")
        return (time.process_time() - cpu) / commits, (time.perf_counter() - wall) / commits
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--rooms", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        rows = [
            ("Store.append_updates (server path, NORMAL)", asyncio.run(
                store_commits(directory / "store", args.commits, args.rooms)
            )),
            ("  the same over aiosqlite (before)", asyncio.run(
                store_commits(directory / "async", args.commits, args.rooms, async_engine=True)
            )),
            ("sqlite3 COMMIT, WAL + synchronous=NORMAL", bare_commits(
                directory / "normal.sqlite3", "NORMAL", args.commits
            )),
            ("sqlite3 COMMIT, WAL + synchronous=FULL", bare_commits(
                directory / "full.sqlite3", "FULL", args.commits
            )),
        ]  # fmt: skip
    print(f"{'one commit of one row':45} {'cpu ms':>8} {'wall ms':>8}")
    for label, (cpu, wall) in rows:
        print(f"{label:45} {cpu * 1000:8.3f} {wall * 1000:8.3f}")


if __name__ == "__main__":
    main()
