"""Table definitions for Koprade's storage layer.

Kept in SQLAlchemy Core so SQLite and PostgreSQL share one definition; the few
dialect differences (rowid alias on SQLite, BIGINT on PostgreSQL) are expressed as
type variants rather than separate code paths.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy import text as sa_text

#: Version of the schema this code creates and understands. Bump it together with an
#: entry in :data:`MIGRATIONS`.
SCHEMA_VERSION = 4

#: Longest room or participant id the tables accept (ids are generated, 12-14 chars).
MAX_ID_LENGTH = 32


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    SQLite has no timezone-aware type and hands back naive values; normalising here
    means callers on either database see the same thing.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Koprade stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        # SQLite stores the text form; dropping the offset keeps it uniform and sortable.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BIGINT on PostgreSQL; plain INTEGER on SQLite so the column is an alias of the rowid.
UpdateId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

schema_version = Table(
    "koprade_schema_version",
    metadata,
    # A single row (id = 1) so the version can be read and updated without ambiguity.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
)

rooms = Table(
    "koprade_rooms",
    metadata,
    Column("id", String(MAX_ID_LENGTH), primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("title", String(400), nullable=False),
    Column("created", UTCDateTime, nullable=False, index=True),
)

participants = Table(
    "koprade_participants",
    metadata,
    Column("room_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("participant_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("joined", UTCDateTime, nullable=False),
    # Set when a facilitator removed the participant: their token stops working.
    Column("removed", UTCDateTime, nullable=True),
)

room_updates = Table(
    "koprade_room_updates",
    metadata,
    Column("id", UpdateId, primary_key=True, autoincrement=True),
    # No foreign key on purpose: a queued update for a just-deleted room must not make
    # the whole group-commit batch fail forever.
    Column("room_id", String(MAX_ID_LENGTH), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    # AUTOINCREMENT on SQLite: never reuse ids of deleted (compacted) rows, otherwise a
    # new update could get an id at or below a snapshot's upto id and be skipped on load.
    sqlite_autoincrement=True,
)
# (room_id, id) serves both "rows of a room" and "rows of a room after id N, in order".
Index("ix_koprade_room_updates_room_id_id", room_updates.c.room_id, room_updates.c.id)

room_snapshots = Table(
    "koprade_room_snapshots",
    metadata,
    Column("room_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("upto_update_id", UpdateId, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
)

votes = Table(
    "koprade_votes",
    metadata,
    # Dot votes live here, not in the shared document: while results are hidden nobody
    # may see them, and only the server's checked commands may change them.
    Column("room_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("participant_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("card_id", String(200), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
)


snapshots = Table(
    "koprade_snapshots",
    metadata,
    # Named snapshots of a session room (issue: snapshots, exports, templates): the
    # board's full Yjs state at a moment, taken by a facilitator or automatically.
    Column("id", UpdateId, primary_key=True, autoincrement=True),
    Column("room_id", String(MAX_ID_LENGTH), nullable=False),
    Column("name", String(400), nullable=False),
    # "manual", "phase" (the phase changed), "closed" (the room closed), "restore" (the
    # live board just before a restore replaced it)
    Column("kind", String(32), nullable=False),
    Column("phase", String(32), nullable=True),
    Column("author", String(MAX_ID_LENGTH), nullable=True),
    Column("created", UTCDateTime, nullable=False),
    Column("data", LargeBinary, nullable=False),
    sqlite_autoincrement=True,
)
Index("ix_koprade_snapshots_room_id_id", snapshots.c.room_id, snapshots.c.id)

templates = Table(
    "koprade_templates",
    metadata,
    # Templates saved from boards; the built-in ones ship with the package, not here.
    Column("id", String(64), primary_key=True),
    Column("name", String(400), nullable=False),
    Column("description", String(2000), nullable=False),
    Column("source_room", String(MAX_ID_LENGTH), nullable=True),
    Column("created", UTCDateTime, nullable=False),
    # The board in the JSON export format (docs/protocol.md section 4), as UTF-8 text.
    Column("board", LargeBinary, nullable=False),
)

activity = Table(
    "koprade_activity",
    metadata,
    # Participation figures per person and room, kept up to date by the server.
    Column("room_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("participant_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("edits", Integer, nullable=False, default=0),
    Column("seconds_active", Integer, nullable=False, default=0),
    Column("last_seen", UTCDateTime, nullable=True),
)

room_leases = Table(
    "koprade_room_leases",
    metadata,
    # Cluster mode (server/storage/leases.py): which node owns a room, one row per room id
    # (never a private board's id: a private board belongs to its room's lease). The row
    # stays when a lease is released or expires, so ``epoch`` (the fencing number) only
    # ever grows; deleting the room deletes it.
    Column("room_id", String(MAX_ID_LENGTH), primary_key=True),
    Column("node", String(128), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    # Compared with the database's clock (now()), never a node's.
    Column("expires_at", UTCDateTime, nullable=False),
)


def _migrate_1_to_2(conn: Connection) -> None:
    """Facilitation: removable participants and server-side dot votes."""
    conn.execute(
        sa_text(
            "ALTER TABLE koprade_participants ADD COLUMN removed "
            + ("TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME")
        )
    )
    votes.create(conn)


def _migrate_2_to_3(conn: Connection) -> None:
    """Sessions: named snapshots, saved templates, participation figures."""
    for table in (snapshots, templates, activity):
        table.create(conn)  # with its indexes


def _migrate_3_to_4(conn: Connection) -> None:
    """Cluster mode: room leases with fencing numbers."""
    room_leases.create(conn)


#: Migrations keyed by the version they upgrade *from*; each runs inside the opening
#: transaction and must leave the schema at ``from_version + 1``.
MIGRATIONS: dict[int, Callable[[Connection], Any]] = {
    1: _migrate_1_to_2,
    2: _migrate_2_to_3,
    3: _migrate_3_to_4,
}
