"""Boards a new room starts from: a template's or a snapshot's cards and clusters, seeded
into a room nobody has opened yet as its first stored update."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.crdt.board import EXPORT_FORMAT, EXPORT_VERSION, new_board
from server.reports.importer import import_board
from server.storage.store import Store

#: What of a template's or copied board's `meta` a new room takes over.
SEEDED = ("phases", "phase")


def export_of(cards: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON board export holding just these cards and clusters."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "cards": cards,
        "clusters": clusters,
        "meta": {},
        "votes": {},
    }


async def seed(store: Store, room_id: str, board: dict[str, Any]) -> None:
    """Give a room that nobody has opened yet its first board, from a JSON export.

    Cards and clusters, and the phase sequence of a template (`meta.phases`, `phase`);
    everything else of `meta` gets the defaults when the room first loads. Cards
    without a creation time (template cards) are created now.
    """
    created = int(datetime.now(UTC).timestamp() * 1000)
    board = {
        **board,
        "cards": [{"created": created, **card} for card in board.get("cards", [])],
        "meta": {k: v for k, v in (board.get("meta") or {}).items() if k in SEEDED},
        "votes": {},
    }
    doc = new_board()
    import_board(doc, board)
    # The room's first stored update, before anyone can know its code.
    await store.append_updates([(room_id, doc.get_update())])
