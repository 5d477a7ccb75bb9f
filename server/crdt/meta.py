"""The room settings in the board's `meta` map (docs/facilitation.md): defaults and reading.

Only the server writes `meta`; these helpers are pure over a pycrdt `Doc`.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map

from server.crdt.board import META
from server.crdt.rules import PHASES, Rules

DEFAULT_VOTING: dict[str, Any] = {
    "perParticipant": 5,
    "perCard": 3,
    "anonymous": True,
    "hidden": True,
    "state": "open",
}
STOPPED_TIMER: dict[str, Any] = {
    "state": "stopped",
    "endsAt": None,
    "remainingMs": None,
    "durationMs": 0,
}


def default_meta(title: str) -> dict[str, Any]:
    """What a new room's `meta` holds (`people` is added from the participant list)."""
    return {
        "title": title,
        "phases": list(PHASES),
        "phase": PHASES[0],
        "locked": False,
        "anonymous": False,
        "editOthers": True,
        "private": False,
        "followMe": None,
        "timer": dict(STOPPED_TIMER),
        "voting": dict(DEFAULT_VOTING),
    }


def missing_meta(doc: Doc, title: str, people: dict[str, str]) -> dict[str, Any]:
    """The `meta` keys a stored board lacks: defaults, and the names of everyone who joined
    (unless the room is anonymous). Written when a room loads; exports of a room nobody
    opened yet apply them to their copy, so both carry the same settings."""
    meta = meta_map(doc)
    missing = {key: value for key, value in default_meta(title).items() if key not in meta}
    if not meta.get("anonymous", False):
        known = meta.get("people")
        merged = {**(known if isinstance(known, dict) else {}), **people}
        if merged != known:
            missing["people"] = merged
    return missing


def meta_map(doc: Doc) -> Map:
    return doc.get(META, type=Map)


def read_meta(doc: Doc) -> dict[str, Any]:
    """The settings with defaults for anything missing (older rooms, partial writes)."""
    stored = meta_map(doc).to_py() or {}
    settings = default_meta(str(stored.get("title", "")))
    settings.update(stored)
    voting = dict(DEFAULT_VOTING)
    if isinstance(stored.get("voting"), dict):
        voting.update(stored["voting"])
    settings["voting"] = voting
    return settings


def rules_from_meta(settings: dict[str, Any]) -> Rules:
    return Rules(
        phase=str(settings.get("phase", PHASES[0])),
        locked=bool(settings.get("locked")),
        edit_others=bool(settings.get("editOthers")),
        private=bool(settings.get("private")),
        anonymous=bool(settings.get("anonymous")),
    )
