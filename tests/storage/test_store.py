"""Store against real SQLite and PostgreSQL: schema lifecycle, rooms, documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map, Text
from sqlalchemy import inspect, select, update
from sqlalchemy import text as sa_text

from server.storage import schema
from server.storage.store import (
    CodeTaken,
    RoomRecord,
    StorageError,
    Store,
    StoredDocument,
)

from .conftest import Database

T0 = datetime(2026, 11, 23, 13, 5, 12, 123000, tzinfo=UTC)


def room(n: int, *, created: datetime | None = None) -> RoomRecord:
    return RoomRecord(
        id=f"room{n:08d}",
        code=f"CODE{n:02d}",
        title=f"Workshop {n}",
        created=created or T0 + timedelta(minutes=n),
    )


class Board:
    """A real pycrdt document that records every update it produces."""

    def __init__(self) -> None:
        self.doc = Doc()
        self.updates: list[bytes] = []
        self._sub = self.doc.observe(lambda event: self.updates.append(event.update))
        self.cards = self.doc.get("cards", type=Map)
        self.clusters = self.doc.get("clusters", type=Map)

    def add_card(self, card_id: str, text: str, x: float, y: float) -> None:
        with self.doc.transaction():
            self.cards[card_id] = Map(
                {"text": Text(text), "x": x, "y": y, "color": "#ffd966", "author": "p_1"}
            )

    def edit(self, card_id: str, more: str) -> None:
        text = self.cards[card_id]["text"]
        text.insert(len(text), more)

    def move(self, card_id: str, x: float, y: float) -> None:
        with self.doc.transaction():
            self.cards[card_id]["x"] = x
            self.cards[card_id]["y"] = y

    def content(self) -> dict[str, Any]:
        return {"cards": self.cards.to_py(), "clusters": self.clusters.to_py()}


def rebuild(stored: StoredDocument) -> dict[str, Any]:
    """Apply what the store returned to a fresh document, as the server does on load."""
    doc = Doc()
    if stored.snapshot is not None:
        doc.apply_update(stored.snapshot)
    for data in stored.updates:
        doc.apply_update(data)
    return {
        "cards": doc.get("cards", type=Map).to_py(),
        "clusters": doc.get("clusters", type=Map).to_py(),
    }


# -- schema lifecycle ---------------------------------------------------------------


async def test_open_creates_schema_and_reopen_keeps_data(database: Database) -> None:
    first = database.make_store()
    await first.open()
    async with first.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        versions = (await conn.execute(select(schema.schema_version.c.version))).all()
    assert {
        "koprade_schema_version",
        "koprade_rooms",
        "koprade_participants",
        "koprade_room_updates",
        "koprade_room_snapshots",
        "koprade_votes",
        "koprade_snapshots",
        "koprade_templates",
        "koprade_activity",
        "koprade_room_leases",
    } <= tables
    assert [v for (v,) in versions] == [schema.SCHEMA_VERSION] == [4]
    await first.create_room(room(1))
    await first.append_updates([("room00000001", b"\x01"), ("room00000001", b"\x02")])
    await first.close()

    second = database.make_store()
    await second.open()
    try:
        assert await second.get_room("room00000001") == room(1)
        loaded = await second.load_document("room00000001")
        assert loaded.updates == [b"\x01", b"\x02"]
        async with second.engine.connect() as conn:
            versions = (await conn.execute(select(schema.schema_version.c.version))).all()
        assert [v for (v,) in versions] == [4]
    finally:
        await second.close()


async def test_newer_schema_version_is_refused(database: Database) -> None:
    first = database.make_store()
    await first.open()
    async with first.engine.begin() as conn:
        await conn.execute(update(schema.schema_version).values(version=schema.SCHEMA_VERSION + 1))
    await first.close()

    second = database.make_store()
    with pytest.raises(StorageError, match=r"schema version 5 is newer .* supports \(4\)"):
        await second.open()
    with pytest.raises(StorageError, match="not open"):
        await second.ping()


async def test_schema_1_is_migrated_and_keeps_its_data(database: Database) -> None:
    """A database written by the first release (schema 1) opens, upgraded to the latest."""
    first = database.make_store()
    await first.open()
    await first.create_room(room(1))
    await first.add_participant("room00000001", "p_anna", "Anna", "participant")
    async with first.engine.begin() as conn:  # back to what schema 1 looked like
        for table in (
            schema.votes,
            schema.snapshots,
            schema.templates,
            schema.activity,
            schema.room_leases,
        ):
            await conn.run_sync(table.drop)
        await conn.execute(sa_text("ALTER TABLE koprade_participants DROP COLUMN removed"))
        await conn.execute(update(schema.schema_version).values(version=1))
    await first.close()

    second = database.make_store()
    await second.open()
    try:
        async with second.engine.connect() as conn:
            versions = (await conn.execute(select(schema.schema_version.c.version))).all()
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert [v for (v,) in versions] == [schema.SCHEMA_VERSION]
        assert {
            "koprade_votes",
            "koprade_snapshots",
            "koprade_activity",
            "koprade_room_leases",
        } <= tables
        assert [p.name for p in await second.list_participants("room00000001")] == ["Anna"]
        assert await second.remove_participant("room00000001", "p_anna")
        assert await second.removed_participants("room00000001") == {"p_anna"}
        await second.set_vote("room00000001", "p_anna", "card-1", 2)
        assert await second.load_votes("room00000001") == {"p_anna": {"card-1": 2}}
    finally:
        await second.close()


async def test_schema_3_is_migrated_to_4_with_the_leases_table(database: Database) -> None:
    """A database of the previous release (schema 3) gains koprade_room_leases, data kept."""
    first = database.make_store()
    await first.open()
    await first.create_room(room(1))
    await first.append_updates([("room00000001", b"\x01")])
    async with first.engine.begin() as conn:  # back to what schema 3 looked like
        await conn.run_sync(schema.room_leases.drop)
        await conn.execute(update(schema.schema_version).values(version=3))
    await first.close()

    second = database.make_store()
    await second.open()
    try:
        async with second.engine.connect() as conn:
            versions = (await conn.execute(select(schema.schema_version.c.version))).all()
            columns = await conn.run_sync(
                lambda c: {
                    col["name"]: col for col in inspect(c).get_columns("koprade_room_leases")
                }
            )
            primary = await conn.run_sync(
                lambda c: inspect(c).get_pk_constraint("koprade_room_leases")
            )
        assert [v for (v,) in versions] == [4]
        assert set(columns) == {"room_id", "node", "epoch", "expires_at"}
        assert not any(col["nullable"] for col in columns.values())
        assert primary["constrained_columns"] == ["room_id"]
        assert await second.get_room("room00000001") == room(1)
        assert (await second.load_document("room00000001")).updates == [b"\x01"]
    finally:
        await second.close()


async def test_votes_and_removals(store: Store) -> None:
    await store.open()
    await store.create_room(room(1))
    await store.add_participant("room00000001", "p_a", "A", "participant")
    assert not await store.remove_participant("room00000001", "p_unknown")
    assert await store.remove_participant("room00000001", "p_a")
    assert not await store.remove_participant("room00000001", "p_a"), "removed once"
    await store.set_vote("room00000001", "p_a", "c1", 1)
    await store.set_vote("room00000001", "p_a", "c1", 3)
    await store.set_vote("room00000001", "p_a", "c2", 1)
    await store.set_vote("room00000001", "p_a", "c2", 0)
    assert await store.load_votes("room00000001") == {"p_a": {"c1": 3}}
    await store.delete_votes("room00000001")
    assert await store.load_votes("room00000001") == {}
    await store.close()


async def test_open_is_idempotent_and_close_reopens(store: Store) -> None:
    await store.open()
    await store.ping()
    await store.close()
    with pytest.raises(StorageError, match="not open"):
        await store.get_room("x")
    await store.open()
    await store.ping()


def test_for_settings_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    default = Store.for_settings(data_dir, None)
    assert data_dir.is_dir()
    assert default.dialect_name == "sqlite"
    assert default.url == f"sqlite+aiosqlite:///{data_dir.resolve() / 'koprade.sqlite3'}"
    explicit = Store.for_settings(data_dir, "postgresql+asyncpg://u@db/koprade")
    assert explicit.url == "postgresql+asyncpg://u@db/koprade"
    assert explicit.dialect_name == "postgresql"


async def test_for_settings_store_works(tmp_path: Path) -> None:
    store = Store.for_settings(tmp_path / "data", None)
    await store.open()
    try:
        await store.create_room(room(1))
        assert (tmp_path / "data" / "koprade.sqlite3").is_file()
        async with store.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert mode == "wal"
        assert busy > 0
    finally:
        await store.close()


async def test_unreachable_database_raises_storage_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "db.sqlite3"
    store = Store(f"sqlite+aiosqlite:///{missing}")
    with pytest.raises(StorageError, match="cannot open database"):
        await store.open()


# -- rooms and participants ---------------------------------------------------------


async def test_rooms_create_get_and_by_code(store: Store) -> None:
    await store.create_room(room(1))
    got = await store.get_room("room00000001")
    assert got == room(1)
    assert got is not None and got.created.tzinfo is not None
    assert got.created.utcoffset() == timedelta(0)
    assert await store.get_room_by_code("CODE01") == room(1)
    assert await store.get_room("nope") is None
    assert await store.get_room_by_code("NOPE00") is None


async def test_created_is_normalised_to_utc(store: Store) -> None:
    cest = timezone(timedelta(hours=2))
    local = datetime(2026, 6, 1, 12, 0, 0, 500, tzinfo=cest)
    await store.create_room(room(7, created=local))
    got = await store.get_room("room00000007")
    assert got is not None
    assert got.created == local
    assert got.created.tzinfo == UTC
    assert got.created.hour == 10


async def test_duplicate_code_raises_code_taken(store: Store) -> None:
    await store.create_room(room(1))
    clash = RoomRecord(id="otherroom001", code="CODE01", title="Clash", created=T0)
    with pytest.raises(CodeTaken):
        await store.create_room(clash)
    assert await store.get_room("otherroom001") is None
    same_id = RoomRecord(id="room00000001", code="FRESH1", title="Again", created=T0)
    with pytest.raises(StorageError, match="already exists"):
        await store.create_room(same_id)
    # The failed inserts left nothing behind and the store still works.
    await store.create_room(RoomRecord(id="otherroom001", code="FRESH2", title="Ok", created=T0))


async def test_participants(store: Store) -> None:
    await store.create_room(room(1))
    assert await store.count_participants("room00000001") == 0
    await store.add_participant("room00000001", "p_a", "Anna", "facilitator")
    await store.add_participant("room00000001", "p_b", "Ben", "participant")
    await store.add_participant("room00000001", "p_b", "Benjamin", "participant")
    assert await store.count_participants("room00000001") == 2
    assert await store.count_participants("other") == 0
    table = schema.participants
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(table.c.participant_id, table.c.name, table.c.role, table.c.joined)
                .where(table.c.room_id == "room00000001")
                .order_by(table.c.participant_id)
            )
        ).all()
    assert [(r.participant_id, r.name, r.role) for r in rows] == [
        ("p_a", "Anna", "facilitator"),
        ("p_b", "Benjamin", "participant"),
    ]
    now = datetime.now(UTC)
    for r in rows:
        assert r.joined.tzinfo == UTC
        assert now - timedelta(minutes=5) < r.joined <= now + timedelta(seconds=1)


async def test_list_rooms_newest_first_with_counts(store: Store) -> None:
    assert await store.list_rooms() == []
    for n in (1, 3, 2):
        await store.create_room(room(n))
    await store.add_participant("room00000001", "p_a", "Anna", "facilitator")
    await store.add_participant("room00000001", "p_b", "Ben", "participant")
    await store.add_participant("room00000002", "p_c", "Cem", "participant")
    result = await store.append_updates(
        [("room00000001", b"a" * 10), ("room00000001", b"b" * 20), ("room00000003", b"c" * 5)]
    )
    await store.compact("room00000001", b"s" * 100, result["room00000001"][0] - 1)

    summaries = await store.list_rooms()
    assert [s.id for s in summaries] == ["room00000003", "room00000002", "room00000001"]
    by_id = {s.id: s for s in summaries}
    one = by_id["room00000001"]
    assert (one.code, one.title, one.created) == ("CODE01", "Workshop 1", room(1).created)
    assert (one.participants, one.updates_in_log, one.stored_bytes) == (2, 1, 100 + 20)
    two = by_id["room00000002"]
    assert (two.participants, two.updates_in_log, two.stored_bytes) == (1, 0, 0)
    three = by_id["room00000003"]
    assert (three.participants, three.updates_in_log, three.stored_bytes) == (0, 1, 5)


# -- documents ----------------------------------------------------------------------


async def test_load_empty_document(store: Store) -> None:
    assert await store.load_document("room00000001") == StoredDocument(None, [], 0)
    assert await store.append_updates([]) == {}


async def test_append_and_load_keep_order_across_rooms(store: Store) -> None:
    batch = [
        ("a", b"a1"),
        ("b", b"b1"),
        ("a", b"a2"),
        ("c", b"c1"),
        ("b", b"b2"),
        ("a", b"a3"),
    ]
    result = await store.append_updates(batch)
    assert set(result) == {"a", "b", "c"}
    assert [n for _, n in (result["a"], result["b"], result["c"])] == [3, 2, 1]
    # Ids follow batch order: the room that appears last in the batch has the highest id.
    assert result["c"][0] < result["b"][0] < result["a"][0]

    second = await store.append_updates([("b", b"b3"), ("a", b"a4")])
    assert second["b"] == (second["a"][0] - 1, 3)
    assert second["a"][1] == 4
    assert second["a"][0] > result["a"][0]

    a = await store.load_document("a")
    assert a.snapshot is None
    assert a.updates == [b"a1", b"a2", b"a3", b"a4"]
    assert a.last_update_id == second["a"][0]
    b = await store.load_document("b")
    assert b.updates == [b"b1", b"b2", b"b3"]
    assert b.last_update_id == second["b"][0]
    c = await store.load_document("c")
    assert (c.updates, c.last_update_id) == ([b"c1"], result["c"][0])


async def test_large_batch_keeps_order(store: Store) -> None:
    batch = [(f"r{i % 7}", i.to_bytes(4, "big")) for i in range(3000)]
    result = await store.append_updates(batch)
    for r in range(7):
        loaded = await store.load_document(f"r{r}")
        expected = [data for room_id, data in batch if room_id == f"r{r}"]
        assert loaded.updates == expected
        assert result[f"r{r}"] == (loaded.last_update_id, len(expected))


async def test_batch_of_one_row_per_room_is_one_insert_in_batch_order(store: Store) -> None:
    """The group commit's shape (a row per room); more rooms than one INSERT page holds."""
    batch = [(f"r{i}", i.to_bytes(4, "big")) for i in range(1500)]
    result = await store.append_updates(batch)
    ids = [result[room][0] for room, _ in batch]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for room, data in (batch[0], batch[777], batch[-1]):
        loaded = await store.load_document(room)
        assert loaded.updates == [data]
        assert result[room] == (loaded.last_update_id, 1)
    again = await store.append_updates([("r5", b"x"), ("r3", b"y")])
    assert again == {"r5": (ids[-1] + 1, 2), "r3": (ids[-1] + 2, 2)}


async def test_log_length_counts_the_updates_merged_rows_hold(store: Store) -> None:
    first = await store.append_updates([("a", b"a1..a5"), ("b", b"b1")], counts=[5, 1])
    assert (first["a"][1], first["b"][1]) == (5, 1)
    second = await store.append_updates([("a", b"a6..a8")], counts=[3])
    assert second["a"] == ((await store.load_document("a")).last_update_id, 8)
    await store.compact("a", b"snapshot", second["a"][0])
    third = await store.append_updates([("a", b"a9+a10")], counts=[2])
    assert third["a"][1] == 2
    with pytest.raises(ValueError):
        await store.append_updates([("a", b"x")], counts=[1, 1])


async def test_compaction_keeps_content_and_only_deletes_upto(store: Store) -> None:
    board = Board()
    board.add_card("c1", "Buses at night", 10, 20)
    board.add_card("c2", "Benches", 100, 20)
    board.edit("c1", " more often")
    board.move("c2", 140, 60)
    with board.doc.transaction():
        board.clusters["k1"] = Map({"title": Text("Transport"), "x": 0, "y": 0, "w": 300, "h": 200})
    assert len(board.updates) == 5
    result = await store.append_updates([("room", u) for u in board.updates])
    other = await store.append_updates([("other", b"untouched")])
    last_id, log_length = result["room"]
    assert log_length == 5
    before = await store.load_document("room")
    assert rebuild(before) == board.content()

    # Compact only the first three updates: the snapshot is the doc state at that point.
    partial = Doc()
    for u in board.updates[:3]:
        partial.apply_update(u)
    upto = last_id - 2
    await store.compact("room", partial.get_update(), upto)
    loaded = await store.load_document("room")
    assert loaded.snapshot is not None
    assert loaded.updates == board.updates[3:]
    assert loaded.last_update_id == last_id
    assert rebuild(loaded) == board.content()

    # Now everything; the log of this room becomes empty, other rooms are untouched.
    await store.compact("room", board.doc.get_update(), last_id)
    loaded = await store.load_document("room")
    assert loaded.updates == []
    assert loaded.last_update_id == last_id
    assert rebuild(loaded) == board.content()
    assert (await store.load_document("other")).updates == [b"untouched"]
    assert (await store.load_document("other")).last_update_id == other["other"][0]


async def test_load_after_compaction_plus_later_updates(store: Store) -> None:
    board = Board()
    board.add_card("c1", "Idea", 1, 2)
    board.edit("c1", "!")
    result = await store.append_updates([("room", u) for u in board.updates])
    await store.compact("room", board.doc.get_update(), result["room"][0])

    seen = len(board.updates)
    board.add_card("c2", "Later", 5, 5)
    board.move("c1", 50, 60)
    board.edit("c2", " idea")
    later = await store.append_updates([("room", u) for u in board.updates[seen:]])
    assert later["room"][1] == 3  # only rows after the snapshot count

    loaded = await store.load_document("room")
    assert loaded.snapshot is not None
    assert loaded.updates == board.updates[seen:]
    assert loaded.last_update_id == later["room"][0]
    assert rebuild(loaded) == board.content()
    assert board.content()["cards"]["c2"]["text"] == "Later idea"


async def test_stale_compaction_does_not_roll_back_snapshot(store: Store) -> None:
    board = Board()
    board.add_card("c1", "One", 0, 0)
    first = await store.append_updates([("room", board.updates[0])])
    old_snapshot = board.doc.get_update()
    board.add_card("c2", "Two", 0, 0)
    second = await store.append_updates([("room", board.updates[1])])
    await store.compact("room", board.doc.get_update(), second["room"][0])
    await store.compact("room", old_snapshot, first["room"][0])
    loaded = await store.load_document("room")
    assert loaded.last_update_id == second["room"][0]
    assert rebuild(loaded) == board.content()


async def test_ids_are_not_reused_after_compacting_everything(store: Store) -> None:
    """A new update must never get an id at or below an existing snapshot's upto id."""
    result = await store.append_updates([("room", b"1"), ("room", b"2"), ("room", b"3")])
    upto = result["room"][0]
    await store.compact("room", b"snapshot", upto)  # the table is now empty
    after = await store.append_updates([("room", b"4")])
    assert after["room"] == (after["room"][0], 1)
    assert after["room"][0] > upto
    loaded = await store.load_document("room")
    assert (loaded.snapshot, loaded.updates) == (b"snapshot", [b"4"])


async def test_delete_room(store: Store) -> None:
    await store.create_room(room(1))
    await store.create_room(room(2))
    for r in ("room00000001", "room00000002"):
        await store.add_participant(r, "p_a", "Anna", "facilitator")
    result = await store.append_updates(
        [("room00000001", b"x"), ("room00000001", b"y"), ("room00000002", b"z")]
    )
    await store.compact("room00000001", b"snap", result["room00000001"][0] - 1)

    await store.delete_room("room00000001")
    assert await store.get_room("room00000001") is None
    assert await store.get_room_by_code("CODE01") is None
    assert await store.count_participants("room00000001") == 0
    assert await store.load_document("room00000001") == StoredDocument(None, [], 0)
    assert [s.id for s in await store.list_rooms()] == ["room00000002"]
    assert (await store.load_document("room00000002")).updates == [b"z"]
    assert await store.count_participants("room00000002") == 1
    # The code is free again.
    await store.create_room(RoomRecord(id="room00000009", code="CODE01", title="New", created=T0))
    await store.delete_room("does-not-exist")
