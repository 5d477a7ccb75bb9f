"""Board exports shared by the HTTP API and the CLI: the JSON export every format starts from.

The other formats (Markdown, CSV, SVG, PNG, PDF) and import live in `server.reports`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pycrdt import Doc, Map

from server.crdt.board import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    META,
    board_to_json,
    doc_from_updates,
    new_board,
)
from server.crdt.meta import missing_meta
from server.errors import Unavailable
from server.ids import new_code, new_participant_id, new_room_id
from server.reports.importer import BoardExport, import_board
from server.reports.model import apply_room_rules
from server.storage.store import CodeTaken, RoomRecord, Store
from server.timestamps import iso


async def load_stored_board(store: Store, room_id: str) -> Doc:
    """A read-only copy of the board as stored (snapshot plus later updates), with the
    settings a loaded room would have (a room nobody opened yet has none stored)."""
    stored = await store.load_document(room_id)
    doc = doc_from_updates(([stored.snapshot] if stored.snapshot else []) + stored.updates)
    record = await store.get_room(room_id)
    if record is not None:
        people = {p.id: p.name for p in await store.list_participants(room_id)}
        missing = missing_meta(doc, record.title, people)
        if missing:
            meta = doc.get(META, type=Map)
            with doc.transaction():
                for key, value in missing.items():
                    meta[key] = value
    return doc


def export_json(
    record: RoomRecord,
    doc: Doc,
    participants: int | None = None,
    *,
    room_rules: bool = True,
) -> dict[str, Any]:
    """The board as JSON (docs/protocol.md, section 4), as the room's rules allow it:
    no author ids or voters in anonymous rooms, no results before a hidden vote is closed
    (`room_rules=False`: the board as stored, for internal uses that need it all).
    `participants` (how many joined) goes into `room` when given."""
    room: dict[str, Any] = {
        "id": record.id,
        "title": record.title,
        "code": record.code,
        "created": iso(record.created),
    }
    if participants is not None:
        room["participants"] = participants
    export = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "room": room,
        "exported": iso(datetime.now(UTC)),
        **board_to_json(doc),
    }
    return apply_room_rules(export) if room_rules else export


async def export_stored(
    store: Store, room_id: str, snapshot_id: int | None = None
) -> dict[str, Any] | None:
    """The JSON export of a room (or one of its snapshots) as stored, for the CLI.

    None when there is no such room or snapshot.
    """
    record = await store.get_room(room_id)
    if record is None:
        return None
    doc = await load_stored_board(store, room_id)
    if snapshot_id is not None:
        from server.storage.sessions import SessionStore

        found = await SessionStore(store).get_snapshot(room_id, snapshot_id)
        if found is None:
            return None
        live_meta, doc = doc.get(META, type=Map), doc_from_updates([found[1]])
        if live_meta.get("anonymous"):  # the room's anonymity now covers its past too
            hide_people(doc)
    return export_json(record, doc, await store.count_participants(room_id))


def hide_people(doc: Doc) -> None:
    """Drop the names from a (copied) board's `meta`."""
    meta = doc.get(META, type=Map)
    if "people" in meta:
        with doc.transaction():
            del meta["people"]


class NoCodeAvailable(Unavailable):
    """Every join code drawn was taken (a clash among ~10^9 codes, many times in a row)."""

    def __init__(self) -> None:
        super().__init__("no_code_available", "could not allocate a join code, try again")


async def create_room_record(store: Store, title: str, attempts: int = 20) -> RoomRecord:
    """A new room with a fresh id and join code; raises NoCodeAvailable."""
    for _ in range(attempts):
        candidate = RoomRecord(
            id=new_room_id(), code=new_code(), title=title, created=datetime.now(UTC)
        )
        try:
            await store.create_room(candidate)
        except CodeTaken:
            continue  # a clash among ~10^9 codes: draw again
        return candidate
    raise NoCodeAvailable()


async def import_room(
    store: Store, board: BoardExport, title: str, facilitator_name: str
) -> tuple[RoomRecord, str]:
    """A new room holding an imported board, and its facilitator (the importer).

    The board is stored as the room's first update, before anyone can know its code; the
    room's settings are completed (title, defaults, names) when it is first loaded.
    Returns the room and the facilitator's participant id.
    """
    doc = new_board()
    import_board(doc, board)
    record = await create_room_record(store, title)
    participant = new_participant_id()
    await store.add_participant(record.id, participant, facilitator_name, "facilitator")
    await store.append_updates([(record.id, doc.get_update())])
    return record, participant
