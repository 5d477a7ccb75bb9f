"""Templates: boards to start a room from. The built-in methods of the lab
(`server/templates/*.json`, in the JSON export format plus Latvian and English names) and
boards a facilitator saved from a room (only the method's structure)."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from server.crdt.board import board_to_json
from server.crdt.rules import PHASES
from server.crdt.settings import read_settings
from server.errors import Invalid, NotFound
from server.rooms.manager import RoomManager
from server.sessions.boards import export_of
from server.storage.sessions import SessionStore, TemplateRecord
from server.timestamps import iso

log = logging.getLogger("koprade.sessions")

LANGUAGES = ("lv", "en")
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@cache
def builtin_templates() -> dict[str, dict[str, Any]]:
    """The templates shipped with Koprade, by id, in the order of their file names."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(TEMPLATE_DIR.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        found[board["template"]["id"]] = board
    return found


def localized(board: dict[str, Any], lang: str) -> dict[str, Any]:
    """The board with its texts in `lang` where the template has a translation."""
    translation = (board.get("translations") or {}).get(lang)
    if not translation:
        return board
    cards = translation.get("cards", {})
    clusters = translation.get("clusters", {})
    return {
        **board,
        "cards": [{**c, "text": cards.get(c["id"], c.get("text", ""))} for c in board["cards"]],
        "clusters": [
            {**c, "title": clusters.get(c["id"], c.get("title", ""))} for c in board["clusters"]
        ],
    }


def _template_phases(board: dict[str, Any]) -> list[str] | None:
    phases = (board.get("meta") or {}).get("phases")
    if (
        isinstance(phases, list)
        and phases
        and all(p in PHASES for p in phases)
        and len(set(phases)) == len(phases)
    ):
        return list(phases)
    return None


def template_entry(board: dict[str, Any]) -> dict[str, Any]:
    info = board["template"]
    return {
        "id": info["id"],
        "builtin": True,
        "name": dict(info["name"]),
        "description": dict(info["description"]),
        "cards": len(board.get("cards", [])),
        "clusters": len(board.get("clusters", [])),
        "phases": _template_phases(board),
        "created": None,
        "sourceRoom": None,
    }


def saved_template_entry(record: TemplateRecord) -> dict[str, Any]:
    board = json.loads(record.board)
    return {
        "id": record.id,
        "builtin": False,
        # Saved templates carry the facilitator's own words, the same in every language.
        "name": {lang: record.name for lang in LANGUAGES},
        "description": {lang: record.description for lang in LANGUAGES},
        "cards": len(board.get("cards", [])),
        "clusters": len(board.get("clusters", [])),
        "phases": _template_phases(board),
        "created": iso(record.created),
        "sourceRoom": record.source_room,
    }


class Templates:
    def __init__(self, saved: SessionStore, rooms: RoomManager) -> None:
        self.saved = saved
        self.rooms = rooms

    async def list(self, *, include_saved: bool) -> list[dict[str, Any]]:
        entries = [template_entry(board) for board in builtin_templates().values()]
        if include_saved:
            entries += [saved_template_entry(t) for t in await self.saved.list_templates()]
        return entries

    async def template(
        self, template_id: Any, lang: Any, *, include_saved: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(listing entry, board in the export format) of a template, in `lang`."""
        if not isinstance(template_id, str) or not template_id:
            raise Invalid("invalid_field", "'template' must be a template id", field="template")
        if lang not in LANGUAGES:
            raise Invalid("invalid_field", "'lang' must be lv or en", field="lang")
        builtin = builtin_templates().get(template_id)
        if builtin is not None:
            return template_entry(builtin), localized(builtin, lang)
        record = await self.saved.get_template(template_id) if include_saved else None
        if record is None:
            raise NotFound("template_not_found", f"no template {template_id!r}")
        return saved_template_entry(record), json.loads(record.board)

    async def save(self, room_id: str, name: str, description: str) -> dict[str, Any]:
        """The room's current board as a template of the lab's own.

        Only the method's structure is kept: card and cluster texts and positions; card
        authors, creation times, votes and settings (names included) are left out.
        """
        exported = board_to_json(await self.rooms.board(room_id))
        cards = [
            {**{k: v for k, v in card.items() if k not in ("author", "created")}, "author": ""}
            for card in exported["cards"]
        ]
        phases = list(read_settings(await self.rooms.board(room_id)).phases)
        board = export_of(cards, exported["clusters"])
        if phases:
            board["meta"] = {"phases": phases, "phase": phases[0]}
        record = TemplateRecord(
            id="t_" + secrets.token_hex(6),
            name=name,
            description=description,
            source_room=room_id,
            created=datetime.now(UTC),
            board=json.dumps(board, ensure_ascii=False).encode(),
        )
        await self.saved.add_template(record)
        log.info("template %s saved", record.id, extra={"room": room_id})
        return saved_template_entry(record)

    async def delete(self, room_id: str, template_id: str) -> None:
        record = await self.saved.get_template(template_id)
        if record is None or record.source_room != room_id:
            raise NotFound("template_not_found", "no template saved from this room")
        await self.saved.delete_template(template_id)
