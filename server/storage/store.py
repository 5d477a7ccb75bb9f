"""Async persistence of rooms, participants and room documents.

One class, :class:`Store`, hides the database (SQLite by default, PostgreSQL for
multi-node setups) behind a small API. Documents are stored as a compacted Yjs
snapshot plus an append-only log of later updates, so the hot path is a cheap
INSERT and a full rewrite only happens on compaction.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from server.ids import private_board_id, room_of_board
from server.storage import schema
from server.storage.commit_thread import EngineThread
from server.storage.errors import StorageError as StorageError
from server.storage.fencing import Fence, Fenced, held_rooms, require_postgres
from server.storage.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    activity,
    participants,
    room_leases,
    room_snapshots,
    room_updates,
    rooms,
    snapshots,
    templates,
    votes,
)

logger = logging.getLogger("koprade.storage")

_T = TypeVar("_T")

#: How long SQLite waits for a competing writer before failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000

#: The PostgreSQL advisory lock key taken (``pg_advisory_xact_lock``) as the first statement
#: of the transaction that creates or migrates the schema: the bytes ``b"koprade!"`` read as
#: a big-endian 64-bit integer. Processes opening one database at the same moment then
#: create (or migrate) the schema one after the other: the first does the work, the others
#: wait for its commit and find the schema finished. Without it they race on PostgreSQL's
#: catalog (duplicate key in ``pg_type``) and all but one fail. The lock is per database
#: (not per schema) and held only while the schema is checked; any other user of this key
#: in the same database would merely wait a moment.
SCHEMA_LOCK_KEY = 0x6B6F_7072_6164_6521


@dataclass(frozen=True)
class ActivityDelta:
    """Participation counted since the last flush, to add to a person's stored figures."""

    room_id: str
    participant_id: str
    edits: int
    seconds: int
    last_seen: datetime


@dataclass(frozen=True)
class ParticipantRecord:
    """Someone who joined a room; ``removed`` is set once a facilitator removed them."""

    id: str
    name: str
    role: str
    joined: datetime
    removed: datetime | None


@dataclass(frozen=True)
class RoomRecord:
    """A workshop room as stored; ``created`` is timezone-aware UTC."""

    id: str
    code: str
    title: str
    created: datetime


@dataclass(frozen=True)
class RoomSummary:
    """A room plus storage statistics, for listings and operators."""

    id: str
    code: str
    title: str
    created: datetime
    participants: int
    updates_in_log: int
    stored_bytes: int


@dataclass(frozen=True)
class StoredDocument:
    """What is needed to rebuild a room's Yjs document.

    Apply ``snapshot`` (if any) and then ``updates`` in order. ``last_update_id`` is the
    highest update id covered (the snapshot's upto id or the last update's id), 0 if the
    room has no stored content; it is the ``upto_update_id`` to pass to ``compact``.
    """

    snapshot: bytes | None
    updates: list[bytes]
    last_update_id: int


class CodeTaken(Exception):
    """``create_room`` was given a join code another room already uses."""


def _now() -> datetime:
    return datetime.now(UTC)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite setup: WAL, synchronous, busy timeout, real transactions.

    Rooms relay an update only once it is committed (durable before visible), so a commit
    must survive a crash of the process: in WAL mode, `synchronous=NORMAL` does (the
    commit is in the WAL file when COMMIT returns; the WAL is fsynced at checkpoints), at
    a few microseconds per commit instead of an fsync each (`FULL`). An OS crash or power
    loss can still take the last commits before a checkpoint (docs/operations.md).

    Disabling the driver's own transaction handling (``isolation_level = None``) and
    emitting BEGIN ourselves (see :func:`_sqlite_on_begin`) makes SELECTs part of the
    transaction, so multi-statement reads such as ``load_document`` see one snapshot.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


def _names_a_file(database: str | None) -> bool:
    """An SQLite database a second engine can open too (an in-memory one would be another,
    empty database: its commits stay on the async engine)."""
    return bool(database) and database != ":memory:" and "mode=memory" not in str(database)


class Store:
    """Database access for rooms, participants and room documents.

    Create it, ``await open()`` once, and ``await close()`` on shutdown. All methods
    raise :class:`StorageError` when the database fails (the original error is chained).

    ``fence`` (cluster mode, PostgreSQL only) makes the owner writes check, inside their
    transaction, that this process still holds the room's lease (server/storage/fencing.py):
    ``append_updates`` then stores only the rooms still held, and ``compact``, ``set_vote``,
    ``delete_votes``, ``delete_room``, ``remove_participant`` and the named snapshots of
    ``SessionStore.add_snapshot`` raise :class:`~server.storage.fencing.Fenced`. ``None``
    (a single process) checks nothing and costs nothing.
    """

    def __init__(self, url: str, *, engine_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self._engine_options: dict[str, Any] = dict(engine_options or {})
        self._engine: AsyncEngine | None = None
        # SQLite only: group commits (append_updates) run on a sync engine in one thread, in
        # one hop from the event loop instead of ~9 over aiosqlite (see commit_thread.py).
        self._commit_thread: EngineThread | None = None
        self._dialect_name = make_url(url).get_backend_name()
        # Log length per room (rows after its snapshot), kept up to date by this process so
        # a group commit does not count a room's whole log on every batch. A room seen for
        # the first time is counted once. Another process writing the same room only
        # delays compaction here, which is harmless.
        self._log_lengths: dict[str, int] = {}
        #: The fence of cluster mode (see the class docstring); None for a single process.
        self.fence: Fence | None = None

    @classmethod
    def for_settings(cls, data_dir: Path, database_url: str | None) -> Store:
        """Build the store the server settings ask for (SQLite in ``data_dir`` by default)."""
        if database_url:
            return cls(database_url)
        data_dir = Path(data_dir).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite+aiosqlite:///{data_dir / 'koprade.sqlite3'}")

    @property
    def dialect_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``; handy for logs and tests."""
        return self._dialect_name

    @property
    def engine(self) -> AsyncEngine:
        """The underlying engine (for diagnostics and tests); only valid while open."""
        if self._engine is None:
            raise StorageError("store is not open")
        return self._engine

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create the schema on first start, and check/upgrade its version."""
        if self._engine is not None:
            return
        options = dict(self._engine_options)
        if self._dialect_name != "sqlite":
            # Recover transparently from connections the server dropped (restart, failover).
            options.setdefault("pool_pre_ping", True)
        engine = create_async_engine(self.url, **options)
        if self._dialect_name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(self._prepare_schema)
        except StorageError:
            await engine.dispose()
            raise
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise StorageError(f"cannot open database {self._safe_url()}: {exc}") from exc
        except BaseException:
            await engine.dispose()
            raise
        if self._dialect_name == "sqlite" and _names_a_file(make_url(self.url).database):
            self._commit_thread = EngineThread(
                self._sync_sqlite_engine(options), name="koprade-sqlite-commit"
            )
        self._engine = engine
        logger.info("storage open: %s (schema version %d)", self._safe_url(), SCHEMA_VERSION)

    def _sync_sqlite_engine(self, options: dict[str, Any]) -> Engine:
        """A sync engine on the same SQLite file, over the stdlib driver, set up like the
        async one (the same connect and BEGIN hooks, so the same pragmas and transactions).
        """
        url = make_url(self.url).set(drivername="sqlite")
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine

    def _prepare_schema(self, conn: Connection) -> None:
        """Create tables on an empty database, or verify and migrate an existing one."""
        version_table = schema.schema_version
        if conn.dialect.name == "postgresql":
            # First statement: everything below runs once the other openers are done.
            conn.execute(select(func.pg_advisory_xact_lock(literal(SCHEMA_LOCK_KEY, BigInteger()))))
        if not inspect(conn).has_table(version_table.name):
            schema.metadata.create_all(conn)
            conn.execute(
                version_table.insert().values(id=1, version=SCHEMA_VERSION, updated=_now())
            )
            logger.info("created Koprade schema version %d", SCHEMA_VERSION)
            return
        found = conn.execute(
            select(version_table.c.version).where(version_table.c.id == 1)
        ).scalar_one_or_none()
        if found is None:
            raise StorageError(
                f"{version_table.name} exists but holds no version; the database was not "
                "created by Koprade or is damaged"
            )
        if found > SCHEMA_VERSION:
            raise StorageError(
                f"database schema version {found} is newer than this Koprade supports "
                f"({SCHEMA_VERSION}); upgrade Koprade or point it at another database"
            )
        while found < SCHEMA_VERSION:
            migrate = MIGRATIONS.get(found)
            if migrate is None:
                raise StorageError(f"no migration from schema version {found}")
            logger.info("migrating schema from version %d to %d", found, found + 1)
            migrate(conn)
            found += 1
            conn.execute(
                update(version_table)
                .where(version_table.c.id == 1)
                .values(version=found, updated=_now())
            )

    async def close(self) -> None:
        """Release all connections (and end the SQLite commit thread); the store can be
        opened again afterwards."""
        engine, self._engine = self._engine, None
        commit_thread, self._commit_thread = self._commit_thread, None
        try:
            if commit_thread is not None:
                await commit_thread.close()
        finally:
            if engine is not None:
                await engine.dispose()

    def _safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @asynccontextmanager
    async def _transaction(self, *, snapshot: bool = False) -> AsyncIterator[AsyncConnection]:
        """One transaction; DB failures come out as StorageError.

        ``snapshot=True`` asks for a consistent view across several SELECTs (SQLite gives
        that anyway inside BEGIN; PostgreSQL needs REPEATABLE READ).
        """
        engine = self.engine
        try:
            async with engine.connect() as conn:
                if snapshot and self._dialect_name == "postgresql":
                    await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"database error: {exc}") from exc

    def _upsert(self, table: Any) -> Any:
        """The dialect's INSERT that supports ON CONFLICT."""
        if self._dialect_name == "postgresql":
            return postgresql.insert(table)
        if self._dialect_name == "sqlite":
            return sqlite.insert(table)
        raise StorageError(f"unsupported database dialect {self._dialect_name!r}")

    def _write_fence(self) -> Fence | None:
        """The fence owner writes must pass (None: no check); PostgreSQL only."""
        fence = self.fence
        if fence is not None:
            require_postgres(self._dialect_name)
        return fence

    @staticmethod
    def _report_lost(fence: Fence, room_ids: Iterable[str]) -> None:
        for room_id in room_ids:
            try:
                fence.lost(room_id)
            except Exception:
                logger.exception("fence.lost failed for room %s", room_id)

    @asynccontextmanager
    async def _owner_transaction(self, board_id: str) -> AsyncIterator[AsyncConnection]:
        """``_transaction()`` for a write only the owner of the board's room may make.

        With a fence, the transaction first checks (and share-locks) the room's lease row;
        if this process no longer holds it, it rolls back, reports the room to
        ``fence.lost`` and raises :class:`Fenced` without running the body.
        """
        fence = self._write_fence()
        if fence is None:
            async with self._transaction() as conn:
                yield conn
            return
        room_id = room_of_board(board_id)
        epochs = {room_id: fence.epoch_of(room_id)}
        refused = Fenced(room_id)
        try:
            async with self._transaction() as conn:
                if not await conn.run_sync(held_rooms, fence.node, epochs):
                    raise refused
                yield conn
        except Fenced as exc:
            if exc is refused:
                self._report_lost(fence, [room_id])
            raise

    async def ping(self) -> None:
        """Round-trip to the database; raises StorageError if it does not answer."""
        async with self._transaction() as conn:
            await conn.execute(select(literal(1)))

    # -- rooms -----------------------------------------------------------------------

    async def create_room(self, room: RoomRecord) -> None:
        """Insert a new room; raises CodeTaken if its join code is already in use."""
        try:
            async with self._transaction() as conn:
                await conn.execute(
                    rooms.insert().values(
                        id=room.id, code=room.code, title=room.title, created=room.created
                    )
                )
        except StorageError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            if await self.get_room_by_code(room.code) is not None:
                raise CodeTaken(room.code) from None
            raise StorageError(f"room {room.id!r} already exists") from exc.__cause__

    @staticmethod
    def _room(row: Any) -> RoomRecord:
        return RoomRecord(id=row.id, code=row.code, title=row.title, created=row.created)

    async def get_room(self, room_id: str) -> RoomRecord | None:
        """The room with this id, or None."""
        async with self._transaction() as conn:
            row = (await conn.execute(select(rooms).where(rooms.c.id == room_id))).first()
        return None if row is None else self._room(row)

    async def get_room_by_code(self, code: str) -> RoomRecord | None:
        """The room with exactly this join code (callers normalise the code), or None."""
        async with self._transaction() as conn:
            row = (await conn.execute(select(rooms).where(rooms.c.code == code))).first()
        return None if row is None else self._room(row)

    async def list_rooms(self) -> list[RoomSummary]:
        """All rooms, newest first, with participant, log and size statistics."""
        people = (
            select(participants.c.room_id, func.count().label("n"))
            .group_by(participants.c.room_id)
            .subquery()
        )
        log = (
            select(
                room_updates.c.room_id,
                func.count().label("n"),
                func.sum(func.length(room_updates.c.data)).label("size"),
            )
            .select_from(
                room_updates.outerjoin(
                    room_snapshots, room_snapshots.c.room_id == room_updates.c.room_id
                )
            )
            .where(room_updates.c.id > func.coalesce(room_snapshots.c.upto_update_id, 0))
            .group_by(room_updates.c.room_id)
            .subquery()
        )
        stmt = (
            select(
                rooms,
                func.coalesce(people.c.n, 0).label("participants"),
                func.coalesce(log.c.n, 0).label("updates_in_log"),
                func.coalesce(log.c.size, 0).label("log_bytes"),
                func.coalesce(func.length(room_snapshots.c.data), 0).label("snapshot_bytes"),
            )
            .select_from(
                rooms.outerjoin(people, people.c.room_id == rooms.c.id)
                .outerjoin(log, log.c.room_id == rooms.c.id)
                .outerjoin(room_snapshots, room_snapshots.c.room_id == rooms.c.id)
            )
            .order_by(rooms.c.created.desc(), rooms.c.id.desc())
        )
        async with self._transaction(snapshot=True) as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            RoomSummary(
                id=row.id,
                code=row.code,
                title=row.title,
                created=row.created,
                participants=int(row.participants),
                updates_in_log=int(row.updates_in_log),
                stored_bytes=int(row.log_bytes) + int(row.snapshot_bytes),
            )
            for row in rows
        ]

    async def delete_room(self, room_id: str) -> None:
        """Remove everything stored about the room, in one transaction.

        Its record, participants, votes, update log and snapshot, its private boards,
        named snapshots and participation figures; templates saved from it stay (they are
        the lab's) but no longer name it. Its lease row goes too (cluster mode).
        """
        async with self._owner_transaction(room_id) as conn:
            await conn.execute(delete(room_updates).where(room_updates.c.room_id == room_id))
            await conn.execute(delete(room_snapshots).where(room_snapshots.c.room_id == room_id))
            # Private documents (silent brainstorming) are stored as "<room>/<participant>".
            private_docs = private_board_id(room_id, "%")
            await conn.execute(
                delete(room_updates).where(room_updates.c.room_id.like(private_docs))
            )
            await conn.execute(
                delete(room_snapshots).where(room_snapshots.c.room_id.like(private_docs))
            )
            await conn.execute(delete(votes).where(votes.c.room_id == room_id))
            await conn.execute(delete(snapshots).where(snapshots.c.room_id == room_id))
            await conn.execute(delete(activity).where(activity.c.room_id == room_id))
            await conn.execute(
                update(templates).where(templates.c.source_room == room_id).values(source_room=None)
            )
            await conn.execute(delete(participants).where(participants.c.room_id == room_id))
            await conn.execute(delete(rooms).where(rooms.c.id == room_id))
            await conn.execute(delete(room_leases).where(room_leases.c.room_id == room_id))
        for key in [k for k in self._log_lengths if room_of_board(k) == room_id]:
            del self._log_lengths[key]

    # -- participants ----------------------------------------------------------------

    async def add_participant(
        self, room_id: str, participant_id: str, name: str, role: str
    ) -> None:
        """Record a participant; for a known (room, participant) pair only the name changes."""
        stmt = self._upsert(participants).values(
            room_id=room_id,
            participant_id=participant_id,
            name=name,
            role=role,
            joined=_now(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[participants.c.room_id, participants.c.participant_id],
            set_={"name": stmt.excluded.name},
        )
        async with self._transaction() as conn:
            await conn.execute(stmt)

    async def count_participants(self, room_id: str) -> int:
        """How many participants ever joined the room."""
        async with self._transaction() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(participants)
                        .where(participants.c.room_id == room_id)
                    )
                ).scalar_one()
            )

    # -- documents -------------------------------------------------------------------

    async def load_document(self, room_id: str) -> StoredDocument:
        """The room's snapshot and the updates logged after it, read consistently."""
        async with self._transaction(snapshot=True) as conn:
            snap = (
                await conn.execute(
                    select(room_snapshots.c.data, room_snapshots.c.upto_update_id).where(
                        room_snapshots.c.room_id == room_id
                    )
                )
            ).first()
            upto = int(snap.upto_update_id) if snap is not None else 0
            rows = (
                await conn.execute(
                    select(room_updates.c.id, room_updates.c.data)
                    .where(room_updates.c.room_id == room_id, room_updates.c.id > upto)
                    .order_by(room_updates.c.id)
                )
            ).all()
        last = int(rows[-1].id) if rows else upto
        # Counted here unless this process already knows it (merged rows hold several).
        self._log_lengths.setdefault(room_id, len(rows))
        return StoredDocument(
            snapshot=bytes(snap.data) if snap is not None else None,
            updates=[bytes(row.data) for row in rows],
            last_update_id=last,
        )

    async def append_updates(
        self, batch: list[tuple[str, bytes]], *, counts: list[int] | None = None
    ) -> dict[str, tuple[int, int]]:
        """Append a group-commit batch in ONE transaction, keeping batch order in the ids.

        ``counts[i]`` is how many client updates row ``i`` holds (1 each by default; a
        merged row holds several). Returns, per room in the batch, ``(last_update_id,
        log_length)`` where log_length counts the updates in the room's log after its
        snapshot, i.e. what compaction would fold. (Rows this process did not write, or
        that a compaction left, count as one update each.)

        With a ``fence``, the rows of boards whose room this process no longer holds are
        not inserted (the others are, in the same transaction): after the commit each such
        room is reported to ``fence.lost`` once, and its boards are missing from the result.
        """
        if not batch:
            return {}
        if counts is not None and len(counts) != len(batch):
            raise ValueError("counts must give one number per row")
        fence = self._write_fence()
        epochs: dict[str, int | None] = {}
        if fence is not None:
            for room_id in dict.fromkeys(room_of_board(room) for room, _ in batch):
                epochs[room_id] = fence.epoch_of(room_id)
        created = _now()
        params = [{"room_id": room, "data": data, "created": created} for room, data in batch]
        rows_per_room: dict[str, int] = {}
        batch_counts: dict[str, int] = {}
        for i, (room, _) in enumerate(batch):
            rows_per_room[room] = rows_per_room.get(room, 0) + 1
            batch_counts[room] = batch_counts.get(room, 0) + (1 if counts is None else counts[i])
        stmt = room_updates.insert()
        if len(rows_per_room) == len(batch):
            # One row per room (what the group commit writes): there is no order to keep
            # inside the batch, so one multi-row INSERT whose RETURNING names each row's room.
            stmt_ret = stmt.returning(room_updates.c.room_id, room_updates.c.id)
        else:
            # Several rows of a room: sort_by_parameter_order makes SQLAlchemy assign ids in
            # parameter order (INSERT .. SELECT .. ORDER BY on PostgreSQL; one row per
            # statement on SQLite), so id order is batch order on every dialect.
            stmt_ret = stmt.returning(
                room_updates.c.room_id, room_updates.c.id, sort_by_parameter_order=True
            )
        uncounted = sorted(room for room in batch_counts if room not in self._log_lengths)

        def insert_and_count(
            conn: Connection,
        ) -> tuple[Sequence[Any], dict[str, int], set[str]]:
            rows, to_count = params, uncounted
            refused: set[str] = set()
            if fence is not None:
                held = held_rooms(conn, fence.node, epochs)
                refused = {room_id for room_id in epochs if room_id not in held}
                if refused:
                    rows = [
                        row
                        for (room, _), row in zip(batch, params, strict=True)
                        if room_of_board(room) in held
                    ]
                    to_count = [r for r in uncounted if room_of_board(r) in held]
                if not rows:
                    return [], {}, refused
            inserted = conn.execute(stmt_ret, rows).all()
            if not to_count:
                return inserted, {}, refused
            return (
                inserted,
                {row.room_id: int(row.n) for row in conn.execute(self._log_counts(to_count))},
                refused,
            )

        inserted, counted, refused = await self._write_transaction(insert_and_count)
        if fence is not None and refused:
            self._report_lost(fence, sorted(refused))
        stored = [room for room in batch_counts if room_of_board(room) not in refused]
        expected = sum(rows_per_room[room] for room in stored)
        if len(inserted) != expected:  # pragma: no cover - would be a driver bug
            raise StorageError(f"inserted {expected} updates but got {len(inserted)} ids back")
        last_ids: dict[str, int] = {}
        for room, new_id in inserted:
            last_ids[room] = max(int(new_id), last_ids.get(room, 0))
        result = {}
        for room in stored:
            added = batch_counts[room]
            if room in counted:  # counted inside the transaction, this batch included
                self._log_lengths[room] = counted[room] - rows_per_room[room] + added
            else:
                self._log_lengths[room] = self._log_lengths.get(room, 0) + added
            result[room] = (last_ids[room], self._log_lengths[room])
        return result

    async def _write_transaction(self, work: Callable[[Connection], _T]) -> _T:
        """``work(conn)`` in one transaction, on the commit thread for SQLite (one hop
        from the event loop, see commit_thread.py), else over the async engine; database
        failures come out as StorageError like everywhere else."""
        commit_thread = self._commit_thread
        if commit_thread is None:
            async with self._transaction() as conn:
                return await conn.run_sync(work)
        try:
            return await commit_thread.transaction(work)
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"database error: {exc}") from exc

    @staticmethod
    def _log_counts(room_ids: list[str]) -> Any:
        """Rows after each room's snapshot, per room."""
        return (
            select(room_updates.c.room_id, func.count().label("n"))
            .select_from(
                room_updates.outerjoin(
                    room_snapshots, room_snapshots.c.room_id == room_updates.c.room_id
                )
            )
            .where(
                room_updates.c.room_id.in_(room_ids),
                room_updates.c.id > func.coalesce(room_snapshots.c.upto_update_id, 0),
            )
            .group_by(room_updates.c.room_id)
        )

    async def compact(self, room_id: str, snapshot: bytes, upto_update_id: int) -> None:
        """Replace the log up to ``upto_update_id`` by ``snapshot``, in ONE transaction.

        ``snapshot`` must contain every update with id <= upto_update_id. A compaction
        older than the stored snapshot (lower upto id) is ignored for the snapshot so a
        late, stale compaction can never roll the document back.
        """
        if upto_update_id < 0:
            raise ValueError("upto_update_id must be >= 0")
        now = _now()
        stmt = self._upsert(room_snapshots).values(
            room_id=room_id, data=snapshot, upto_update_id=upto_update_id, updated=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[room_snapshots.c.room_id],
            set_={
                "data": stmt.excluded.data,
                "upto_update_id": stmt.excluded.upto_update_id,
                "updated": stmt.excluded.updated,
            },
            where=room_snapshots.c.upto_update_id <= stmt.excluded.upto_update_id,
        )
        async with self._owner_transaction(room_id) as conn:
            await conn.execute(stmt)
            await conn.execute(
                delete(room_updates).where(
                    room_updates.c.room_id == room_id, room_updates.c.id <= upto_update_id
                )
            )
            remaining = (await conn.execute(self._log_counts([room_id]))).first()
        self._log_lengths[room_id] = int(remaining.n) if remaining is not None else 0

    # -- facilitation: participants, removal, votes ----------------------------------

    async def rename_room(self, room_id: str, title: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(update(rooms).where(rooms.c.id == room_id).values(title=title))

    async def change_code(self, room_id: str, code: str) -> bool:
        """Give the room a new join code; False if there is no such room.

        Raises CodeTaken if another room has the code.
        """
        try:
            async with self._transaction() as conn:
                result = await conn.execute(
                    update(rooms).where(rooms.c.id == room_id).values(code=code)
                )
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise CodeTaken(code) from None
            raise
        return result.rowcount == 1

    async def list_participants(self, room_id: str) -> list[ParticipantRecord]:
        """Everyone who ever joined the room, in the order they joined."""
        async with self._transaction() as conn:
            rows = (
                await conn.execute(
                    select(participants)
                    .where(participants.c.room_id == room_id)
                    .order_by(participants.c.joined, participants.c.participant_id)
                )
            ).all()
        return [
            ParticipantRecord(
                id=row.participant_id,
                name=row.name,
                role=row.role,
                joined=row.joined,
                removed=row.removed,
            )
            for row in rows
        ]

    async def remove_participant(self, room_id: str, participant_id: str) -> bool:
        """Mark a participant removed (their token stops working); False if unknown."""
        async with self._owner_transaction(room_id) as conn:
            result = await conn.execute(
                update(participants)
                .where(
                    participants.c.room_id == room_id,
                    participants.c.participant_id == participant_id,
                    participants.c.removed.is_(None),
                )
                .values(removed=_now())
            )
        return result.rowcount > 0

    async def removed_participants(self, room_id: str) -> set[str]:
        async with self._transaction() as conn:
            rows = await conn.execute(
                select(participants.c.participant_id).where(
                    participants.c.room_id == room_id, participants.c.removed.is_not(None)
                )
            )
            return {row.participant_id for row in rows}

    async def load_votes(self, room_id: str) -> dict[str, dict[str, int]]:
        """participant id -> {card id: dots} for the room."""
        async with self._transaction() as conn:
            rows = await conn.execute(
                select(votes.c.participant_id, votes.c.card_id, votes.c.count).where(
                    votes.c.room_id == room_id
                )
            )
            found: dict[str, dict[str, int]] = {}
            for row in rows:
                # Row resolves `count` to the column at run time (its special-name accessor
                # for "count" and "index"); its stubs only know tuple.count.
                dots = int(row.count)  # type: ignore[call-overload]
                found.setdefault(row.participant_id, {})[row.card_id] = dots
        return found

    async def set_vote(self, room_id: str, participant_id: str, card_id: str, count: int) -> None:
        """Store one participant's dots on one card (0 deletes the row)."""
        key = (
            votes.c.room_id == room_id,
            votes.c.participant_id == participant_id,
            votes.c.card_id == card_id,
        )
        async with self._owner_transaction(room_id) as conn:
            if count <= 0:
                await conn.execute(delete(votes).where(*key))
                return
            stmt = self._upsert(votes).values(
                room_id=room_id,
                participant_id=participant_id,
                card_id=card_id,
                count=count,
                updated=_now(),
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[votes.c.room_id, votes.c.participant_id, votes.c.card_id],
                set_={"count": stmt.excluded.count, "updated": stmt.excluded.updated},
            )
            await conn.execute(stmt)

    async def private_documents(self, room_id: str) -> list[str]:
        """Ids of the stored private boards of a room ("<room>/<participant>")."""
        pattern = private_board_id(room_id, "%")
        async with self._transaction() as conn:
            logged = select(room_updates.c.room_id).where(room_updates.c.room_id.like(pattern))
            snapshotted = select(room_snapshots.c.room_id).where(
                room_snapshots.c.room_id.like(pattern)
            )
            rows = await conn.execute(logged.union(snapshotted))
            return sorted(row.room_id for row in rows)

    async def delete_votes(self, room_id: str) -> None:
        async with self._owner_transaction(room_id) as conn:
            await conn.execute(delete(votes).where(votes.c.room_id == room_id))

    # -- participation figures ---------------------------------------------------------

    async def add_activity(self, deltas: list[ActivityDelta]) -> None:
        """Add edits and seconds to each person's figures (created on first use)."""
        if not deltas:
            return
        stmt = self._upsert(activity)
        stmt = stmt.on_conflict_do_update(
            index_elements=[activity.c.room_id, activity.c.participant_id],
            set_={
                "edits": activity.c.edits + stmt.excluded.edits,
                "seconds_active": activity.c.seconds_active + stmt.excluded.seconds_active,
                "last_seen": stmt.excluded.last_seen,
            },
        )
        async with self._transaction() as conn:
            await conn.execute(
                stmt,
                [
                    {
                        "room_id": d.room_id,
                        "participant_id": d.participant_id,
                        "edits": d.edits,
                        "seconds_active": d.seconds,
                        "last_seen": d.last_seen,
                    }
                    for d in deltas
                ],
            )

    async def load_activity(
        self, room_id: str | None = None
    ) -> dict[str, dict[str, tuple[int, int]]]:
        """room id -> participant -> (edits, seconds active), for one room or all."""
        query = select(activity)
        if room_id is not None:
            query = query.where(activity.c.room_id == room_id)
        found: dict[str, dict[str, tuple[int, int]]] = {}
        async with self._transaction() as conn:
            for row in await conn.execute(query):
                found.setdefault(row.room_id, {})[row.participant_id] = (
                    int(row.edits),
                    int(row.seconds_active),
                )
        return found
