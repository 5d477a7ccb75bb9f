"""One serving process per shared database (--database-url), outside cluster mode.

Servers on one database but in different processes would each hold their own copy of a room
and relay only to their own clients, splitting the room. So `koprade serve` with a database
URL claims the database's serving row (server/storage/serving.py) before it listens, refreshes
its heartbeat every HEARTBEAT_SECONDS and deletes the row on a clean stop. Another `koprade
serve` is refused with the holder's host and PID. A holder that died without deleting it
does not block a restart for long: its row is taken over

* at once on the same host when its process no longer runs (kill -9, OOM, a container
  that came back): its PID is gone or now names a process that started at another time
  (the PID was handed out again), or it is our own PID (a container's PID 1 restarted);
* by anyone once its heartbeat is older than EXPIRY_SECONDS (the holder's host is gone).

In cluster mode (--redis-url, docs/cluster.md) nobody claims it: many processes serve the
database there, one owner per room by the room's lease. Only serving processes claim the
row: `koprade export/stats/rooms list`, tests and other readers open the database freely
beside a running server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server.storage.serving import ServingRecord, ServingStore
from server.storage.store import StorageError, Store

log = logging.getLogger("koprade.serving")

HEARTBEAT_SECONDS = 5.0
EXPIRY_SECONDS = 30.0


class DatabaseInUse(Exception):
    """Another live process serves the database's rooms."""

    def __init__(self, holder: ServingRecord) -> None:
        age = (datetime.now(UTC) - holder.heartbeat).total_seconds()
        super().__init__(
            f"another Koprade server (PID {holder.pid} on host {holder.host}, started "
            f"{holder.started:%Y-%m-%d %H:%M:%S} UTC, last heartbeat {age:.0f} s ago) is "
            "already serving this database; outside cluster mode (--redis-url) one server "
            f"serves a database: stop that one first (a crashed one is taken over after "
            f"{EXPIRY_SECONDS:.0f} s without heartbeat)"
        )
        self.holder = holder


def process_start(pid: int) -> str | None:
    """When process `pid` started, as "<boot id>:<start ticks>" (Linux); None if unknown.

    With the PID it names one process for good: a PID the kernel hands out again after a
    crash belongs to a process with another start.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (name)"; the name may hold spaces
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def holder_running(holder: ServingRecord) -> bool:
    """Whether the holder's process (on this host) still runs."""
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    if holder.process_start is None:
        return True
    return process_start(holder.pid) == holder.process_start


def may_take_over(holder: ServingRecord, me: ServingRecord, now: datetime) -> bool:
    """Whether the row of `holder` may be taken by `me` (see the module's docstring)."""
    if now - holder.heartbeat > timedelta(seconds=EXPIRY_SECONDS):
        return True
    if holder.host != me.host:
        return False
    return holder.pid == me.pid or not holder_running(holder)


class ServingClaim:
    """This process's claim on a database: acquire before listening, keep, release."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        now = datetime.now(UTC)
        self.me = ServingRecord(
            host=socket.gethostname(),
            pid=os.getpid(),
            instance=secrets.token_hex(16),
            started=now,
            heartbeat=now,
            process_start=process_start(os.getpid()),
        )
        self.held = False
        self._store: Store | None = None
        self._task: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Claim the row or raise DatabaseInUse; opens and closes its own connection."""
        store = Store(self.database_url)
        await store.open()
        try:
            rows = ServingStore(store)
            await rows.ensure_table()
            for _ in range(3):  # bounded: each round loses only to a process that just won
                if await rows.insert(self.me):
                    break
                holder = await rows.holder()
                if holder is None:
                    continue  # released between our two statements
                if not may_take_over(holder, self.me, datetime.now(UTC)):
                    raise DatabaseInUse(holder)
                if await rows.replace(holder, self.me):
                    log.warning(
                        "took over the database from PID %d on %s (no longer running or "
                        "no heartbeat since %s)",
                        holder.pid,
                        holder.host,
                        holder.heartbeat.isoformat(),
                    )
                    break
            else:
                holder = await rows.holder()
                if holder is not None:
                    raise DatabaseInUse(holder)
                raise StorageError("could not claim the serving row")
            self.held = True
        finally:
            await store.close()

    def start(self, on_lost: Callable[[], None]) -> None:
        """Keep the heartbeat fresh from the running loop; `on_lost` if another took over."""
        self._task = asyncio.ensure_future(self._beat(on_lost))

    async def _beat(self, on_lost: Callable[[], None]) -> None:
        store = Store(self.database_url)
        self._store = store
        while True:
            try:
                await store.open()  # once; again after a failed open
                if not await ServingStore(store).beat(self.me.instance, datetime.now(UTC)):
                    log.error(
                        "another server took over this database (no heartbeat from here for "
                        "%.0f s); stopping so that one server serves its rooms",
                        EXPIRY_SECONDS,
                    )
                    self.held = False
                    on_lost()
                    return
            except StorageError as exc:
                log.warning("serving heartbeat failed: %s", exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def release(self) -> None:
        """Stop the heartbeat and free the row (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.held:
            store = self._store or Store(self.database_url)
            try:
                await store.open()
                await ServingStore(store).release(self.me.instance)
                self.held = False
            except StorageError as exc:
                log.warning("could not release the serving row: %s", exc)
            finally:
                await store.close()
        elif self._store is not None:
            await self._store.close()
        self._store = None
