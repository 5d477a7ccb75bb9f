"""The server's own changes to a board, each one transaction with origin "server".

Commands (docs/facilitation.md) change the room only through these; the room's observer
persists and relays them like any update, and the room re-reads its settings afterwards.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Map, Text

from server.crdt.board import CARDS, VOTES
from server.crdt.meta import default_meta, meta_map
from server.rooms.room import Room

SERVER_ORIGIN = "server"
_CARD_VALUE_FIELDS = ("x", "y", "color", "author", "cluster", "created")


def write_meta(room: Room, **values: Any) -> None:
    """Set `meta` keys (None deletes a key only for `people`; other keys store null)."""
    meta = meta_map(room.doc)
    with room.doc.transaction(origin=SERVER_ORIGIN):
        for key, value in values.items():
            if meta.get(key) != value:
                meta[key] = value
    room.refresh_settings()


def complete_meta(room: Room, title: str, people: dict[str, str]) -> None:
    """Give a loaded board every setting it lacks, and the names of everyone who joined."""
    meta = meta_map(room.doc)
    missing = {key: value for key, value in default_meta(title).items() if key not in meta}
    anonymous = bool(meta.get("anonymous", False))
    if not anonymous:
        known = meta.get("people")
        merged = {**(known if isinstance(known, dict) else {}), **people}
        if merged != known:
            missing["people"] = merged
    if missing:
        write_meta(room, **missing)


def set_person(room: Room, participant: str, name: str) -> None:
    """A new participant's name in `meta.people` (not while the room is anonymous)."""
    if room.anonymous:
        return
    people = room.settings.get("people")
    people = dict(people) if isinstance(people, dict) else {}
    if people.get(participant) != name:
        people[participant] = name
        write_meta(room, people=people)


def set_people(room: Room, people: dict[str, str] | None) -> None:
    """Replace `meta.people`; None removes it (anonymous mode)."""
    meta = meta_map(room.doc)
    with room.doc.transaction(origin=SERVER_ORIGIN):
        if people is None:
            if "people" in meta:
                del meta["people"]
        else:
            meta["people"] = people
    room.refresh_settings()


def write_tallies(room: Room, tallies: dict[str, dict[str, Any]] | None) -> None:
    """Make the `votes` map hold exactly these results (None or {}: no results shown)."""
    results = room.doc.get(VOTES, type=Map)
    tallies = tallies or {}
    with room.doc.transaction(origin=SERVER_ORIGIN):
        for card_id in [key for key in results.keys() if key not in tallies]:
            del results[card_id]
        for card_id, value in tallies.items():
            if results.get(card_id) != value:
                results[card_id] = value


def read_cards(room: Room) -> dict[str, dict[str, Any]]:
    """Every well-formed card of a board as plain values (text as a string)."""
    found: dict[str, dict[str, Any]] = {}
    for card_id, card in room.doc.get(CARDS, type=Map).items():
        if not isinstance(card, Map):
            continue
        values = {key: card[key] for key in _CARD_VALUE_FIELDS if key in card}
        values["text"] = str(card.get("text", ""))
        found[card_id] = values
    return found


def add_cards(room: Room, cards: dict[str, dict[str, Any]]) -> None:
    """Put cards on the board in one transaction (same ids, same content)."""
    if not cards:
        return
    target = room.doc.get(CARDS, type=Map)
    with room.doc.transaction(origin=SERVER_ORIGIN):
        for card_id, values in cards.items():
            fields = {key: values[key] for key in _CARD_VALUE_FIELDS if key in values}
            target[card_id] = Map({**fields, "text": Text(str(values.get("text", "")))})


def remove_cards(room: Room, card_ids: list[str]) -> None:
    target = room.doc.get(CARDS, type=Map)
    with room.doc.transaction(origin=SERVER_ORIGIN):
        for card_id in card_ids:
            if card_id in target:
                del target[card_id]
