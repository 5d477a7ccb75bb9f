"""Board exports shared by the HTTP API and the CLI (JSON now; more formats later)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pycrdt import Doc

from server.crdt.board import EXPORT_FORMAT, EXPORT_VERSION, board_to_json, doc_from_updates
from server.storage.store import RoomRecord, Store


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as in docs/protocol.md."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def load_stored_board(store: Store, room_id: str) -> Doc:
    """A read-only copy of the board as stored (snapshot plus later updates)."""
    stored = await store.load_document(room_id)
    return doc_from_updates(([stored.snapshot] if stored.snapshot else []) + stored.updates)


def export_json(record: RoomRecord, doc: Doc) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "room": {
            "id": record.id,
            "title": record.title,
            "code": record.code,
            "created": iso(record.created),
        },
        "exported": iso(datetime.now(UTC)),
        **board_to_json(doc),
    }
