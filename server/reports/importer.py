"""Reading a board's JSON export back into a board: import, and later templates.

`read_export` checks an export strictly (format, version 1 or 2, every field's type and
bounds) and raises `InvalidExport` naming the first wrong field; `import_board` writes a
checked export into a document in one transaction. Both are pure over a pycrdt `Doc`, so
the HTTP API, the CLI and templates share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map, Text

from server.crdt.board import CARDS, CLUSTERS, EXPORT_FORMAT, META, VOTES
from server.crdt.rules import PHASES, is_phase_sequence

READABLE_VERSIONS = (1, 2)
MAX_CARDS = 5000
MAX_CLUSTERS = 1000
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 10_000
MAX_TITLE_LENGTH = 200
MAX_NAME_LENGTH = 200
MAX_COORDINATE = 1e9
MAX_VOTES = 1_000_000
#: Settings carried over from an export's `meta`; the rest (title, timer, follow-me,
#: private mode) belongs to the session that was running, not to the board.
IMPORTED_SETTINGS = ("phases", "phase", "locked", "anonymous", "editOthers", "voting", "people")


class InvalidExport(ValueError):
    """The data is not a board export Koprade can read; `field` names the first bad one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class BoardExport:
    """A checked export: plain values ready to be written into a board."""

    version: int
    title: str  # the room's title; "" when the export has none (a template)
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    votes: dict[str, dict[str, Any]] = field(default_factory=dict)


# -- checks ------------------------------------------------------------------------------------


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidExport(name, f"'{name}' must be an object")
    return value


def _list(value: Any, name: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidExport(name, f"'{name}' must be a list")
    if len(value) > limit:
        raise InvalidExport(name, f"'{name}' may hold at most {limit} entries")
    return value


def _string(value: Any, name: str, limit: int, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidExport(name, f"'{name}' must be a string")
    if len(value) > limit:
        raise InvalidExport(name, f"'{name}' must be at most {limit} characters")
    if not empty and not value.strip():
        raise InvalidExport(name, f"'{name}' must not be empty")
    return value


def _number(
    value: Any, name: str, low: float = -MAX_COORDINATE, high: float = MAX_COORDINATE
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidExport(name, f"'{name}' must be a number")
    try:
        finite = math.isfinite(value) and low <= value <= high
    except OverflowError:
        finite = False
    if not finite:
        raise InvalidExport(name, f"'{name}' must be between {low:g} and {high:g}")
    return value


def _whole(value: Any, name: str, low: int, high: int) -> int:
    number = _number(value, name, low, high)
    if number != int(number):
        raise InvalidExport(name, f"'{name}' must be a whole number")
    return int(number)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidExport(name, f"'{name}' must be true or false")
    return value


def _id(value: Any, name: str) -> str:
    return _string(value, name, MAX_ID_LENGTH, empty=False)


def _card(raw: Any, name: str) -> tuple[str, dict[str, Any]]:
    raw = _object(raw, name)
    card_id = _id(raw.get("id"), f"{name}.id")
    card: dict[str, Any] = {"text": _string(raw.get("text", ""), f"{name}.text", MAX_TEXT_LENGTH)}
    for key in ("x", "y"):
        if key in raw:
            card[key] = _number(raw[key], f"{name}.{key}")
    if "color" in raw:
        card["color"] = _string(raw["color"], f"{name}.color", 64)
    if "author" in raw:
        card["author"] = _string(raw["author"], f"{name}.author", MAX_ID_LENGTH)
    if "cluster" in raw:
        card["cluster"] = _id(raw["cluster"], f"{name}.cluster")
    if "created" in raw:
        card["created"] = _number(raw["created"], f"{name}.created", 0, 253_402_300_800_000)
    return card_id, card


def _cluster(raw: Any, name: str) -> tuple[str, dict[str, Any]]:
    raw = _object(raw, name)
    cluster_id = _id(raw.get("id"), f"{name}.id")
    cluster: dict[str, Any] = {
        "title": _string(raw.get("title", ""), f"{name}.title", MAX_TEXT_LENGTH)
    }
    for key in ("x", "y"):
        if key in raw:
            cluster[key] = _number(raw[key], f"{name}.{key}")
    for key in ("w", "h"):
        if key in raw:
            cluster[key] = _number(raw[key], f"{name}.{key}", 0, MAX_COORDINATE)
    return cluster_id, cluster


def _voting(raw: Any) -> dict[str, Any]:
    raw = _object(raw, "meta.voting")
    voting: dict[str, Any] = {}
    if "perParticipant" in raw:
        voting["perParticipant"] = _whole(
            raw["perParticipant"], "meta.voting.perParticipant", 1, 100
        )
    if "perCard" in raw:
        voting["perCard"] = _whole(
            raw["perCard"], "meta.voting.perCard", 1, voting.get("perParticipant", 100)
        )
    for key in ("anonymous", "hidden"):
        if key in raw:
            voting[key] = _bool(raw[key], f"meta.voting.{key}")
    if "state" in raw:
        if raw["state"] not in ("open", "closed"):
            raise InvalidExport("meta.voting.state", "'meta.voting.state' must be open or closed")
        voting["state"] = raw["state"]
    return voting


def _settings(raw: Any) -> dict[str, Any]:
    meta = _object(raw, "meta")
    settings: dict[str, Any] = {}
    if "phases" in meta:
        phases = meta["phases"]
        # Strings first: a list or object inside is unhashable in the sequence check.
        if not isinstance(phases, list) or not all(isinstance(p, str) for p in phases):
            phases = None
        if not is_phase_sequence(phases):
            raise InvalidExport(
                "meta.phases", f"'meta.phases' must list distinct phases from {', '.join(PHASES)}"
            )
        settings["phases"] = list(phases)
    if "phase" in meta:
        if meta["phase"] not in settings.get("phases", PHASES):
            raise InvalidExport("meta.phase", "'meta.phase' must be one of the room's phases")
        settings["phase"] = meta["phase"]
    for key in ("locked", "anonymous", "editOthers"):
        if key in meta:
            settings[key] = _bool(meta[key], f"meta.{key}")
    if "voting" in meta:
        settings["voting"] = _voting(meta["voting"])
    if "people" in meta and not settings.get("anonymous"):
        people = _object(meta["people"], "meta.people")
        if len(people) > MAX_CARDS:
            raise InvalidExport("meta.people", f"'meta.people' may hold at most {MAX_CARDS}")
        settings["people"] = {
            _id(person, "meta.people"): _string(name, f"meta.people.{person}", MAX_NAME_LENGTH)
            for person, name in people.items()
        }
    return settings


def _votes(raw: Any) -> dict[str, dict[str, Any]]:
    votes = _object(raw, "votes")
    if len(votes) > MAX_CARDS:
        raise InvalidExport("votes", f"'votes' may hold at most {MAX_CARDS} entries")
    checked: dict[str, dict[str, Any]] = {}
    for card_id, tally in votes.items():
        name = f"votes.{card_id}"
        _id(card_id, "votes")
        tally = _object(tally, name)
        entry: dict[str, Any] = {"count": _whole(tally.get("count"), f"{name}.count", 0, MAX_VOTES)}
        if "voters" in tally:
            voters = _object(tally["voters"], f"{name}.voters")
            entry["voters"] = {
                _id(voter, f"{name}.voters"): _whole(dots, f"{name}.voters.{voter}", 0, MAX_VOTES)
                for voter, dots in voters.items()
            }
        checked[card_id] = entry
    return checked


def read_export(data: Any) -> BoardExport:
    """Check a JSON export (version 1 or 2); raises InvalidExport on the first wrong field."""
    data = _object(data, "body")
    if data.get("format") != EXPORT_FORMAT:
        raise InvalidExport("format", f"'format' must be {EXPORT_FORMAT!r}")
    version = data.get("version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise InvalidExport(
            "version", f"'version' must be one of {', '.join(map(str, READABLE_VERSIONS))}"
        )
    # `room` is optional (templates have none); its title, when there, must be a title.
    room = _object(data.get("room", {}), "room")
    title = ""
    if "title" in room:
        title = " ".join(_string(room["title"], "room.title", MAX_TITLE_LENGTH).split())
    board = BoardExport(version=int(version), title=title)
    for index, raw in enumerate(_list(data.get("clusters", []), "clusters", MAX_CLUSTERS)):
        cluster_id, cluster = _cluster(raw, f"clusters[{index}]")
        if cluster_id in board.clusters:
            raise InvalidExport(f"clusters[{index}].id", f"cluster id {cluster_id!r} appears twice")
        board.clusters[cluster_id] = cluster
    for index, raw in enumerate(_list(data.get("cards", []), "cards", MAX_CARDS)):
        card_id, card = _card(raw, f"cards[{index}]")
        if card_id in board.cards:
            raise InvalidExport(f"cards[{index}].id", f"card id {card_id!r} appears twice")
        board.cards[card_id] = card
    board.settings = _settings(data.get("meta", {}))
    board.votes = _votes(data.get("votes", {}))
    if board.settings.get("anonymous"):
        for card in board.cards.values():
            if "author" in card:
                card["author"] = ""  # as a version 2 export of an anonymous room has it
        for tally in board.votes.values():
            tally.pop("voters", None)
    return board


# -- writing -----------------------------------------------------------------------------------


def import_board(
    doc: Doc,
    export: dict[str, Any] | BoardExport,
    *,
    settings: bool = True,
    votes: bool = True,
    origin: str = "server",
) -> BoardExport:
    """Write an export's cards and clusters (same ids, text, places, colours, authors,
    creation times), and unless told otherwise its settings and vote results, into `doc`
    in one transaction. Entries with the same ids are replaced; nothing else is removed.

    Imported results are a record of the earlier session: `voting.state` becomes "closed"
    when there are any, so they stay visible (a new vote in the room replaces them).
    """
    board = export if isinstance(export, BoardExport) else read_export(export)
    cards, clusters = doc.get(CARDS, type=Map), doc.get(CLUSTERS, type=Map)
    meta, results = doc.get(META, type=Map), doc.get(VOTES, type=Map)
    with doc.transaction(origin=origin):
        for cluster_id, values in board.clusters.items():
            plain = {key: value for key, value in values.items() if key != "title"}
            clusters[cluster_id] = Map({**plain, "title": Text(values["title"])})
        for card_id, values in board.cards.items():
            plain = {key: value for key, value in values.items() if key != "text"}
            cards[card_id] = Map({**plain, "text": Text(values["text"])})
        if settings:
            for key, value in board.settings.items():
                if key == "voting" and votes and board.votes:
                    value = {**value, "state": "closed"}
                meta[key] = value
            if votes and board.votes and "voting" not in board.settings:
                voting = meta.get("voting")
                meta["voting"] = {**(voting if isinstance(voting, dict) else {}), "state": "closed"}
        if votes:
            for card_id, tally in board.votes.items():
                results[card_id] = tally
    return board
