"""The room settings in the board's `meta` map (docs/facilitation.md): the defaults a room
starts with and completes (reading them as a typed value: `server/crdt/settings.py`).

Only the server writes `meta`; these helpers are pure over a pycrdt `Doc`.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Map

from server.crdt.board import META, BoardDoc
from server.crdt.rules import PHASES

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


def missing_meta(doc: BoardDoc, title: str, people: dict[str, str]) -> dict[str, Any]:
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


def meta_map(doc: BoardDoc) -> Map[Any]:
    return doc.get(META, type=Map)
