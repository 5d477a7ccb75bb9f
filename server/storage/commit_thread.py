"""A synchronous SQLAlchemy engine driven from one dedicated thread (SQLite group commits).

Durable before visible (docs/architecture.md) makes every relay tick that carries a
document update wait for a group commit, so the commit's CPU cost is paid per tick. Over
the async engine (aiosqlite) one commit is about nine hops between the event loop and
aiosqlite's thread (pool checkout, BEGIN, INSERT .. RETURNING, fetch, COMMIT, reset on
return, ...), each an event-loop wake-up plus greenlet switches: ~0.6 ms of CPU for what
SQLite itself does in ~0.01 ms. Running the whole transaction as one plain function on a
sync engine in this thread makes it one hop (``run_in_executor``): ~0.2 ms
(bench/commit_cost.py, docs/benchmarks.md "Durable before visible").

One thread only: SQLite has one writer at a time anyway, commits of the one
``UpdateWriter`` never overlap, and the engine's connection never leaves the thread (the
stdlib driver refuses connections used from another thread), which is also why the engine
is disposed from the thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")


class EngineThread:
    """Runs whole transactions of a sync engine on one worker thread, for async callers."""

    def __init__(self, engine: Engine, *, name: str) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def transaction(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` inside BEGIN .. COMMIT (ROLLBACK if it raises), on the thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, work)

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    async def close(self) -> None:
        """Close the engine's connections (on the thread), then end the thread.

        Waits for a transaction still running there (a commit waiting out SQLite's busy
        timeout takes up to that long).
        """
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._engine.dispose)
        except BaseException:
            # Cancelled (or the dispose failed): the thread still ends after its last job,
            # without blocking the event loop on it.
            self._executor.shutdown(wait=False)
            raise
        # Nothing is queued after the dispose, so joining the thread is immediate.
        self._executor.shutdown(wait=True)
