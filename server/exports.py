"""Board exports shared by the HTTP API and the CLI: the JSON export every format starts from.

The other formats (Markdown, CSV, SVG, PNG, PDF) and import live in `server.reports`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pycrdt import Map

from server.crdt.board import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    META,
    BoardDoc,
    board_to_json,
    doc_from_updates,
)
from server.crdt.meta import missing_meta
from server.reports.model import apply_room_rules
from server.storage.store import RoomRecord, Store
from server.timestamps import iso


async def load_stored_board(store: Store, room_id: str) -> BoardDoc:
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
    doc: BoardDoc,
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


def hide_people(doc: BoardDoc) -> None:
    """Drop the names from a (copied) board's `meta`."""
    meta = doc.get(META, type=Map)
    if "people" in meta:
        with doc.transaction():
            del meta["people"]
