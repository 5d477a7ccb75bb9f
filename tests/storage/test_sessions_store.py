"""Session storage against real SQLite and PostgreSQL: snapshots, templates, activity, deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from server.storage import schema
from server.storage.sessions import SessionStore, TemplateRecord
from server.storage.store import ActivityDelta, RoomRecord, Store

T0 = datetime(2026, 11, 23, 13, 5, 12, 123000, tzinfo=UTC)


def room(n: int) -> RoomRecord:
    return RoomRecord(id=f"room{n:08d}", code=f"CODE{n:02d}", title=f"Workshop {n}", created=T0)


async def test_snapshots_add_list_get_delete(store: Store) -> None:
    sessions = SessionStore(store)
    await store.create_room(room(1))
    first = await sessions.add_snapshot(
        "room00000001", name="after clustering", kind="manual", data=b"\x00\x01", author="p_a"
    )
    second = await sessions.add_snapshot(
        "room00000001", name="Before phase: vote", kind="phase", data=b"\x02" * 10, phase="cluster"
    )
    await sessions.add_snapshot("room00000002", name="other room", kind="manual", data=b"\x03")
    assert second.id > first.id
    listed = await sessions.list_snapshots("room00000001")
    assert [s.name for s in listed] == ["Before phase: vote", "after clustering"]
    assert listed[0].kind == "phase" and listed[0].phase == "cluster" and listed[0].author is None
    assert listed[1].size == 2 and listed[1].author == "p_a"
    assert listed[1].created.tzinfo is not None
    found = await sessions.get_snapshot("room00000001", first.id)
    assert found is not None and found[1] == b"\x00\x01" and found[0] == listed[1]
    # A snapshot is only found through its own room.
    assert await sessions.get_snapshot("room00000002", first.id) is None
    with pytest.raises(ValueError, match="kind"):
        await sessions.add_snapshot("room00000001", name="x", kind="weird", data=b"")
    assert await sessions.delete_snapshot("room00000001", first.id)
    assert not await sessions.delete_snapshot("room00000001", first.id)
    assert [s.id for s in await sessions.list_snapshots("room00000001")] == [second.id]


async def test_templates_add_list_get_delete(store: Store) -> None:
    sessions = SessionStore(store)
    older = TemplateRecord("t_one", "Mūsu kartēšana", "apraksts", "room00000001", T0, b"{}")
    newer = TemplateRecord("t_two", "Ours", "", None, T0 + timedelta(hours=1), b'{"cards":[]}')
    await sessions.add_template(older)
    await sessions.add_template(newer)
    assert [t.id for t in await sessions.list_templates()] == ["t_two", "t_one"]
    assert await sessions.get_template("t_one") == older
    assert await sessions.get_template("nope") is None
    assert await sessions.templates_from("room00000001") == ["t_one"]
    assert await sessions.delete_template("t_two")
    assert not await sessions.delete_template("t_two")


async def test_delete_room_removes_everything_about_it(store: Store) -> None:
    sessions = SessionStore(store)
    for n in (1, 2):
        rid = f"room{n:08d}"
        await store.create_room(room(n))
        await store.add_participant(rid, "p_anna", "Anna", "participant")
        await store.append_updates([(rid, b"\x01"), (f"{rid}/p_anna", b"\x02")])
        await store.compact(f"{rid}/p_anna", b"\x03", 0)
        await store.set_vote(rid, "p_anna", "card", 1)
        await sessions.add_snapshot(rid, name="s", kind="manual", data=b"\x04")
        await store.add_activity([ActivityDelta(rid, "p_anna", 3, 60, T0)])
    await sessions.add_template(TemplateRecord("t_1", "T", "", "room00000001", T0, b"{}"))

    await store.delete_room("room00000001")

    async with store.engine.connect() as conn:
        for table in (
            schema.rooms,
            schema.participants,
            schema.room_updates,
            schema.room_snapshots,
            schema.votes,
            schema.snapshots,
            schema.activity,
        ):
            column = table.c.id if table is schema.rooms else table.c.room_id
            left = (await conn.execute(select(column).where(column.like("room00000001%")))).all()
            assert left == [], table.name
            others = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            assert others >= 1, f"{table.name}: the other room's rows must stay"
    template = await sessions.get_template("t_1")
    assert template is not None and template.source_room is None
    assert await store.private_documents("room00000002") == ["room00000002/p_anna"]


async def test_last_activity_is_the_newest_write_of_any_kind(store: Store) -> None:
    sessions = SessionStore(store)
    await store.create_room(room(1))
    await store.create_room(room(2))
    await store.create_room(room(3))
    await store.add_participant("room00000002", "p_a", "A", "participant")
    await store.append_updates([("room00000003/p_a", b"\x01")])
    old = T0 - timedelta(days=400)
    async with store.engine.begin() as conn:
        await conn.execute(update(schema.rooms).values(created=old))
        await conn.execute(update(schema.participants).values(joined=old))
        await conn.execute(update(schema.room_updates).values(created=old))
    found = await sessions.last_activity()
    assert {rid: moment for rid, (_, moment) in found.items()} == {
        "room00000001": old,
        "room00000002": old,
        "room00000003": old,
    }
    # A later write of any kind counts: a private board's update, a vote, a snapshot.
    await store.append_updates([("room00000003/p_a", b"\x02")])
    await store.set_vote("room00000002", "p_a", "c", 1)
    found = await sessions.last_activity()
    assert found["room00000001"][1] == old
    assert found["room00000002"][1] > T0
    assert found["room00000003"][1] > T0
    assert found["room00000001"][0].code == "CODE01"


async def test_votes_and_activity_rows_for_the_data_export(store: Store) -> None:
    sessions = SessionStore(store)
    await store.create_room(room(1))
    await store.set_vote("room00000001", "p_b", "card-2", 2)
    await store.set_vote("room00000001", "p_a", "card-1", 1)
    await store.add_activity([ActivityDelta("room00000001", "p_a", 4, 90, T0)])
    rows = await sessions.votes_of("room00000001")
    assert [(r.participant_id, r.card_id, r.count) for r in rows] == [
        ("p_a", "card-1", 1),
        ("p_b", "card-2", 2),
    ]
    assert all(r.updated.tzinfo is not None for r in rows)
    figures = await sessions.activity_of("room00000001")
    assert [(a.participant_id, a.edits, a.seconds_active, a.last_seen) for a in figures] == [
        ("p_a", 4, 90, T0)
    ]
