"""The serving row: which process serves the rooms of a shared database.

A database given with --database-url can be shared by processes on several machines, where a
lock file cannot reach. Outside cluster mode (docs/cluster.md), one server must
serve a database's rooms: it claims the single row of ``koprade_serving`` and keeps
its ``heartbeat`` fresh; the policy (who may take the row over) is in server/serving.py.

The table is operational state, not data: it is created when first needed (checkfirst), kept
out of the schema version and of exports, and never migrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Integer, MetaData, String, Table, delete, select, update
from sqlalchemy.exc import IntegrityError

from server.storage.schema import UTCDateTime
from server.storage.store import StorageError, Store

_metadata = MetaData()

serving = Table(
    "koprade_serving",
    _metadata,
    # One row (id = 1): the process serving this database's rooms.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    # Random per process: whose claim a heartbeat or a takeover refers to.
    Column("instance", String(64), nullable=False),
    # When the process started ("<boot id>:<start ticks>" on Linux, else null): a PID that
    # runs again after a crash is another process when this differs.
    Column("process_start", String(80), nullable=True),
    Column("started", UTCDateTime, nullable=False),
    Column("heartbeat", UTCDateTime, nullable=False),
)

_ROW = 1


@dataclass(frozen=True)
class ServingRecord:
    host: str
    pid: int
    instance: str
    started: datetime
    heartbeat: datetime
    process_start: str | None = None


class ServingStore:
    """Reads and compare-and-swap writes of the serving row (no locks held between calls)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def ensure_table(self) -> None:
        try:
            async with self.store._transaction() as conn:
                await conn.run_sync(lambda c: serving.create(c, checkfirst=True))
        except StorageError:
            # Two processes creating it at the same moment: one loses the race on
            # PostgreSQL's catalog; the table is there either way.
            async with self.store._transaction() as conn:
                await conn.run_sync(lambda c: serving.create(c, checkfirst=True))

    async def holder(self) -> ServingRecord | None:
        async with self.store._transaction() as conn:
            row = (await conn.execute(select(serving).where(serving.c.id == _ROW))).first()
        if row is None:
            return None
        return ServingRecord(
            row.host, int(row.pid), row.instance, row.started, row.heartbeat, row.process_start
        )

    async def insert(self, record: ServingRecord) -> bool:
        """Claim the free row; False if another process holds it (it exists)."""
        try:
            async with self.store._transaction() as conn:
                await conn.execute(serving.insert().values(id=_ROW, **_values(record)))
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True

    async def replace(self, previous: ServingRecord, record: ServingRecord) -> bool:
        """Take the row over from `previous`; False if it changed hands meanwhile."""
        async with self.store._transaction() as conn:
            result = await conn.execute(
                update(serving)
                .where(serving.c.id == _ROW, serving.c.instance == previous.instance)
                .values(**_values(record))
            )
        return result.rowcount == 1

    async def beat(self, instance: str, now: datetime) -> bool:
        """Refresh the heartbeat; False if this process no longer holds the row."""
        async with self.store._transaction() as conn:
            result = await conn.execute(
                update(serving)
                .where(serving.c.id == _ROW, serving.c.instance == instance)
                .values(heartbeat=now)
            )
        return result.rowcount == 1

    async def release(self, instance: str) -> None:
        async with self.store._transaction() as conn:
            await conn.execute(
                delete(serving).where(serving.c.id == _ROW, serving.c.instance == instance)
            )


def _values(record: ServingRecord) -> dict[str, object]:
    return {
        "host": record.host,
        "pid": record.pid,
        "instance": record.instance,
        "started": record.started,
        "heartbeat": record.heartbeat,
        "process_start": record.process_start,
    }
