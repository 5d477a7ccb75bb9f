"""Group commit of document updates.

Every accepted Yjs update must reach the database before anyone else sees it (durable
before visible, docs/architecture.md), but one transaction per update would not keep up
with a busy workshop. :class:`UpdateWriter` queues updates in memory and commits
everything queued in one transaction, as ONE row per room: the room's updates of that
commit merged into one Yjs update. A room that wants to relay asks for a commit with
:meth:`UpdateWriter.when_committed`; the commit starts at once (on the next turn of the
event loop, so every room whose relay tick is due shares it) and the rooms fan out when
it is done. Updates nobody waits for are committed at most ``interval`` seconds later.
A failed commit keeps the batch queued, in order, and is retried with backoff: updates
are never dropped, and nothing waiting for them is relayed until they are stored.

The one exception is cluster mode's fencing (server/storage/fencing.py): updates of a room
whose lease this process lost are not stored (another process owns the room now). The
store reports the room to its fence before the commit returns; here those updates count as
done like the others (they leave the queue, waiters are called, ``on_flushed`` skips the
room), so a lost room never holds up the rooms still owned.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pycrdt import merge_updates

from server.storage.schema import MAX_ID_LENGTH
from server.storage.store import Store

logger = logging.getLogger("koprade.storage")

#: How long a reply that must show only stored content waits for a commit before giving up
#: (a facilitation command, a board read over HTTP): then the database is failing.
COMMIT_WAIT_SECONDS = 10.0

#: Called after a commit, once per room in it: (room_id, last_update_id, log_length).
FlushCallback = Callable[[str, int, int], None]

#: Turns a room's updates (in order) into the one update stored for them.
MergeUpdates = Callable[[list[bytes]], bytes]


def merge_yjs_updates(updates: list[bytes]) -> bytes:
    """One Yjs v1 update equivalent to applying ``updates`` in order (pycrdt/yrs)."""
    return merge_updates(*updates)


@dataclass(slots=True)
class _Pending:
    seq: int
    room_id: str
    data: bytes


class UpdateWriter:
    """Queues updates per process and commits them in batches (group commit).

    All updates share one FIFO queue, so the order of updates (per room and overall)
    is the order of ``enqueue`` calls, and the ids the database assigns follow it.

    ``merge`` combines the updates one commit holds for a room into the single row
    stored for them (default: Yjs merge). A room's log then grows by one row per commit
    instead of one per update, and a commit is one multi-row INSERT rather than one
    statement per update. ``merge=None`` stores every update as its own row. Either way
    the log length reported to ``on_flushed`` counts updates, so compaction comes after
    the same number of changes.
    """

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 0.1,
        on_flushed: FlushCallback | None = None,
        on_committed: Callable[[float], None] | None = None,
        max_batch: int = 10_000,
        max_backoff: float = 5.0,
        merge: MergeUpdates | None = merge_yjs_updates,
    ) -> None:
        if interval < 0:
            raise ValueError("interval must be >= 0")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._store = store
        self.interval = interval
        self._on_flushed = on_flushed
        self._on_committed = on_committed  # gets each commit's duration (metrics)
        self._max_batch = max_batch
        self._max_backoff = max_backoff
        self._merge = merge
        self._queue: deque[_Pending] = deque()
        self._seq = 0  # sequence number of the last enqueued update
        self._committed_seq = 0  # every update with seq <= this is committed
        self._room_pending: dict[str, int] = {}
        self._room_last_seq: dict[str, int] = {}
        self._lock = asyncio.Lock()  # never two commits at once
        self._wake = asyncio.Event()  # something was enqueued, or stop was requested
        self._stop_requested = asyncio.Event()
        # Someone waits for a commit (or stop was requested): do not wait for `interval`.
        self._hurry = asyncio.Event()
        # (seq, callback) of everyone waiting for a commit, see `when_committed`.
        self._waiters: list[tuple[int, Callable[[], None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._last_commit_started = float("-inf")
        self._retry_at = 0.0
        #: Commits that failed in a row (0 when the last commit succeeded); for health checks.
        self.consecutive_failures = 0
        #: Why the last commit failed, while `consecutive_failures` > 0 (for /healthz).
        self.last_error: str | None = None
        #: Wall-clock duration in seconds of the last successful commit, None before one.
        self.last_flush_seconds: float | None = None

    # -- public API ------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background commit task (idempotent)."""
        if self._task is not None and not self._task.done():
            return
        self._stop_requested.clear()
        self._task = asyncio.create_task(self._run(), name="koprade-update-writer")
        self._task.add_done_callback(self._task_done)

    @staticmethod
    def _task_done(task: asyncio.Task[None]) -> None:
        """Make a crash of the background task visible instead of silently losing commits."""
        if not task.cancelled() and task.exception() is not None:
            logger.error("update writer task crashed", exc_info=task.exception())

    async def stop(self) -> None:
        """Stop the background task and store everything still queued.

        Retries (with backoff) until the queue is empty, because a graceful shutdown
        promises every accepted update is stored. Bound it with ``asyncio.timeout`` if
        needed; on cancellation the number of unsaved updates is logged.
        """
        self._stop_requested.set()
        self._wake.set()
        self._hurry.set()
        try:
            if self._task is not None:
                await self._task
                self._task = None
            while self._queue:
                try:
                    await self.flush()
                except Exception:
                    await self._sleep_until_retry()
        except asyncio.CancelledError:
            if self._queue:
                logger.error("update writer stopped with %d updates not stored", len(self._queue))
            raise

    def enqueue(self, room_id: str, update: bytes) -> int:
        """Queue one update for the room; cheap, never touches the database.

        Returns the update's sequence number (see `when_committed`). Invalid arguments
        raise here, at the caller, rather than later poisoning a batch that could then
        never be committed.
        """
        if not 0 < len(room_id) <= MAX_ID_LENGTH:
            raise ValueError(f"room id must be 1-{MAX_ID_LENGTH} characters")
        if not isinstance(update, bytes | bytearray | memoryview):
            raise TypeError(f"update must be bytes, not {type(update).__name__}")
        self._seq += 1
        self._queue.append(_Pending(self._seq, room_id, bytes(update)))
        self._room_pending[room_id] = self._room_pending.get(room_id, 0) + 1
        self._room_last_seq[room_id] = self._seq
        self._wake.set()
        return self._seq

    @property
    def committed_seq(self) -> int:
        """Every update whose sequence number is at most this is committed."""
        return self._committed_seq

    @property
    def last_seq(self) -> int:
        """The sequence number of the last update enqueued (0 before the first)."""
        return self._seq

    def when_committed(self, seq: int, callback: Callable[[], None]) -> None:
        """Call `callback()` once every update up to `seq` is committed; commit now.

        The commit starts on the next turn of the event loop, so everyone who asks in
        this turn shares it (group commit), and while one commit runs, the next one
        gathers everything asked for meanwhile. A failed commit is retried with backoff;
        the callback waits for it (it is never called for uncommitted updates).
        """
        if seq <= self._committed_seq:
            asyncio.get_running_loop().call_soon(callback)
            return
        self._waiters.append((seq, callback))
        self._hurry.set()
        self._wake.set()

    async def committed(self) -> None:
        """Return once every update enqueued before this call is committed (retrying)."""
        if self._seq <= self._committed_seq:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not done.done():
                done.set_result(None)

        self.when_committed(self._seq, wake)
        await done

    async def committed_within(self, seconds: float = COMMIT_WAIT_SECONDS) -> bool:
        """`committed()`, but False instead of waiting longer than `seconds` (a failing
        database: the updates stay queued and are committed once it works again)."""
        try:
            await asyncio.wait_for(self.committed(), seconds)
        except TimeoutError:
            return False
        return True

    async def flush(self) -> None:
        """Commit everything queued before this call, now.

        Raises (typically StorageError) if a commit fails; the updates stay queued and
        the background task keeps retrying them.
        """
        await self._commit_upto(self._seq)

    async def wait_flushed(self, room_id: str) -> None:
        """Return once every update enqueued for ``room_id`` before this call is committed.

        Flushes if needed and keeps retrying through database failures, so it does not
        return (or raise) until the data is safe; wrap it in a timeout to bound it.
        """
        if not self._room_pending.get(room_id):
            return
        target = self._room_last_seq[room_id]
        while self._committed_seq < target:
            try:
                await self._commit_upto(target)
            except Exception:
                await self._sleep_until_retry()

    def pending_count(self, room_id: str | None = None) -> int:
        """Updates queued but not yet committed, for one room or overall."""
        if room_id is None:
            return len(self._queue)
        return self._room_pending.get(room_id, 0)

    # -- internals -------------------------------------------------------------------

    async def _run(self) -> None:
        """Background loop: commit at once for waiters, else at most once per interval."""
        loop = asyncio.get_running_loop()
        while not self._stop_requested.is_set():
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            # A room waiting to relay gets its commit now (after a failure: once the
            # backoff has passed); updates nobody waits for gather until `interval` after
            # the previous commit.
            if self._waiters:
                due = self._retry_at
            else:
                due = max(self._last_commit_started + self.interval, self._retry_at)
            delay = due - loop.time()
            if delay > 0:
                self._hurry.clear()
                try:
                    async with asyncio.timeout(delay):
                        await self._hurry.wait()
                except TimeoutError:
                    pass
                continue
            try:
                await self._commit_upto(self._seq)
            except Exception:
                pass  # logged in _commit_chunk; retried after the backoff

    async def _commit_upto(self, target: int) -> None:
        """Commit queued updates in order until every seq <= target is committed."""
        async with self._lock:
            while self._committed_seq < target and self._queue:
                await self._commit_chunk()

    async def _commit_chunk(self) -> None:
        """Commit the head of the queue in one transaction (caller holds the lock)."""
        loop = asyncio.get_running_loop()
        items = list(itertools.islice(self._queue, self._max_batch))
        started = loop.time()
        self._last_commit_started = started
        try:
            rows, counts = self._rows(items)
            result = await self._store.append_updates(rows, counts=counts)
        except Exception as exc:
            self.consecutive_failures += 1
            self.last_error = str(exc) or exc.__class__.__name__
            backoff = min(
                self._max_backoff,
                max(self.interval, 0.05) * 2 ** min(self.consecutive_failures - 1, 16),
            )
            self._retry_at = loop.time() + backoff
            logger.error(
                "storing %d queued updates failed (attempt %d, retry in %.2fs): %s",
                len(self._queue),
                self.consecutive_failures,
                backoff,
                exc,
                exc_info=self.consecutive_failures == 1,
            )
            raise
        # Only the committed head is removed; updates enqueued meanwhile stay behind it.
        for _ in items:
            item = self._queue.popleft()
            left = self._room_pending[item.room_id] - 1
            if left:
                self._room_pending[item.room_id] = left
            else:
                del self._room_pending[item.room_id]
                del self._room_last_seq[item.room_id]
        self._committed_seq = items[-1].seq
        self.last_flush_seconds = loop.time() - started
        if self._on_committed is not None:
            self._on_committed(self.last_flush_seconds)
        if self.consecutive_failures:
            logger.info("storing updates works again after %d failures", self.consecutive_failures)
        self.consecutive_failures = 0
        self.last_error = None
        self._retry_at = 0.0
        self._notify_waiters()
        if self._on_flushed is not None:
            for room_id in dict.fromkeys(i.room_id for i in items):
                if room_id not in result:
                    # Fenced (cluster mode): the room's lease is gone, nothing was stored and
                    # the store told the fence. The updates leave the queue all the same.
                    continue
                try:
                    last_id, log_length = result[room_id]
                    self._on_flushed(room_id, last_id, log_length)
                except Exception:
                    logger.exception("on_flushed callback failed for room %s", room_id)

    def _notify_waiters(self) -> None:
        """Call back everyone whose updates are all committed now (rooms relay here)."""
        if not self._waiters:
            return
        committed = self._committed_seq
        ready = [callback for seq, callback in self._waiters if seq <= committed]
        if not ready:
            return
        self._waiters = [(seq, cb) for seq, cb in self._waiters if seq > committed]
        for callback in ready:
            try:
                callback()
            except Exception:
                logger.exception("a commit callback failed")

    def _rows(self, items: list[_Pending]) -> tuple[list[tuple[str, bytes]], list[int]]:
        """The rows storing ``items`` (one per room when merging, else one per update),
        and how many updates each row holds."""
        if self._merge is None:
            return [(i.room_id, i.data) for i in items], [1] * len(items)
        by_room: dict[str, list[bytes]] = {}
        for item in items:
            by_room.setdefault(item.room_id, []).append(item.data)
        rows: list[tuple[str, bytes]] = []
        counts: list[int] = []
        for room_id, updates in by_room.items():
            if len(updates) == 1:
                rows.append((room_id, updates[0]))
                counts.append(1)
                continue
            try:
                rows.append((room_id, self._merge(updates)))
                counts.append(len(updates))
            except Exception:
                # Never lose updates over a merge: store them as they came, in order.
                logger.exception(
                    "could not merge %d updates of room %s; storing them one by one",
                    len(updates),
                    room_id,
                )
                rows.extend((room_id, update) for update in updates)
                counts.extend([1] * len(updates))
        return rows, counts

    async def _sleep_until_retry(self) -> None:
        """Wait out the backoff set by the last failed commit."""
        delay = self._retry_at - asyncio.get_running_loop().time()
        await asyncio.sleep(max(delay, 0.0))
