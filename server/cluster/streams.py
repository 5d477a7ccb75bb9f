"""Appending to Redis streams in order, in pipelined batches, without blocking anyone.

Rooms and connections produce entries synchronously (a relay tick, a frame a client sent);
`StreamWriter.add()` queues them and one task sends everything queued in one pipeline per
round trip, so entries reach each stream in the order they were added and a busy room costs
one round trip per batch, not one per entry. A failure is reported once to `on_error` (the
caller closes what depended on it) and the failed batch is dropped: the streams are a
transport, and every client that lost a frame is reconnected and resyncs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from server.cluster.envelope import Fields

log = logging.getLogger("koprade.cluster")

#: Relay streams keep about this much history: a gateway reads within milliseconds, so
#: only one that stalls for longer than this can miss entries (docs/cluster.md).
OUTBOUND_HISTORY_MS = 60_000


@dataclass(slots=True)
class QueuedEntry:
    stream: str
    fields: Fields
    # Trim entries older than this stream id (approximately) when adding; "" keeps all.
    min_id: str
    # Do not create the stream: a gateway's stream exists while the gateway runs.
    existing_only: bool


class StreamWriter:
    def __init__(self, redis: Redis, *, on_error: Callable[[Exception], None]) -> None:
        self._redis = redis
        self._on_error = on_error
        self._queue: list[QueuedEntry] = []
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.sent = 0  # entries appended so far (tests, metrics)

    def add(
        self, stream: str, fields: Fields, *, min_id: str = "", existing_only: bool = False
    ) -> QueuedEntry:
        """Queue one entry; its fields may still change while `is_last_queued(entry)`."""
        entry = QueuedEntry(stream, fields, min_id, existing_only)
        self._queue.append(entry)
        if self._task is None:
            self._idle.clear()
            self._task = asyncio.get_running_loop().create_task(self._send())
        return entry

    def is_last_queued(self, entry: QueuedEntry) -> bool:
        return bool(self._queue) and self._queue[-1] is entry

    async def flushed(self) -> None:
        """Return once everything added before this call was sent (or failed)."""
        await self._idle.wait()

    async def _send(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for entry in batch:
                            pipe.xadd(
                                entry.stream,
                                cast(dict[Any, Any], entry.fields),
                                minid=entry.min_id or None,
                                approximate=True,
                                nomkstream=entry.existing_only,
                            )
                        await pipe.execute(raise_on_error=False)
                    self.sent += len(batch)
                except Exception as exc:  # Redis down or restarting: the caller resyncs
                    log.error("appending %d stream entries failed: %s", len(batch), exc)
                    try:
                        self._on_error(exc)
                    except Exception:
                        log.exception("stream error handler failed")
        finally:
            self._task = None
            self._idle.set()


def min_id_for_age(now_ms: int, age_ms: int = OUTBOUND_HISTORY_MS) -> str:
    """The stream id below which entries are older than `age_ms` (ids start with ms)."""
    return f"{max(now_ms - age_ms, 0)}-0"


#: What a read returns, normalized: per stream (its name), its entries as (id, fields).
Entries = list[tuple[str, Fields]]


def normalize(result: Any) -> list[tuple[str, Entries]]:
    """XREAD / XREADGROUP replies as plain types (redis-py types them loosely).

    Entries whose fields are gone (trimmed while pending) come back empty and are dropped.
    """
    streams: list[tuple[str, Entries]] = []
    for stream, entries in result or []:
        name = stream.decode() if isinstance(stream, bytes) else str(stream)
        streams.append((name, _entries(entries)))
    return streams


def _entries(entries: Any) -> Entries:
    found: Entries = []
    for entry_id, fields in entries or []:
        if not fields:
            continue
        key = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        found.append((key, dict(fields)))
    return found


def claimed(result: Any) -> tuple[str, Entries]:
    """An XAUTOCLAIM reply: the id to continue from ("0-0": done) and the entries."""
    next_start, entries = result[0], result[1]
    start = next_start.decode() if isinstance(next_start, bytes) else str(next_start)
    return start, _entries(entries)
