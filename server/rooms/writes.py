"""The server's own changes to a board, each one `Room.change()` (a transaction with origin
`SERVER_ORIGIN`).

Commands (docs/facilitation.md) change the room only through these; the room stores and
relays them like any update, and re-reads its settings afterwards.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Map, Text

from server.crdt.board import CARD_FIELDS, CARDS, CLUSTER_FIELDS, CLUSTERS, VOTES
from server.crdt.meta import meta_map, missing_meta
from server.crdt.pseudonyms import AUTHOR_PREFIX
from server.rooms.room import Room


def write_meta(room: Room, **values: Any) -> None:
    """Set `meta` keys in one transaction (None is stored as null); the rules follow."""
    meta = meta_map(room.doc)
    with room.change():
        for key, value in values.items():
            if key not in meta or meta[key] != value:
                meta[key] = value


def complete_meta(room: Room, title: str, people: dict[str, str]) -> None:
    """Give a loaded board every setting it lacks, and the names of everyone who joined."""
    missing = missing_meta(room.doc, title, people)
    if missing:
        write_meta(room, **missing)


def set_person(room: Room, participant: str, name: str) -> None:
    """A new participant's name in `meta.people` (not while the room is anonymous)."""
    if room.anonymous:
        return
    people = dict(room.settings.people or {})
    if people.get(participant) != name:
        people[participant] = name
        write_meta(room, people=people)


def set_people(room: Room, people: dict[str, str] | None) -> None:
    """Replace `meta.people`; None removes it (anonymous mode)."""
    meta = meta_map(room.doc)
    with room.change():
        if people is None:
            if "people" in meta:
                del meta["people"]
        else:
            meta["people"] = people


def write_tallies(room: Room, tallies: dict[str, dict[str, Any]] | None) -> None:
    """Make the `votes` map hold exactly these results (None or {}: no results shown)."""
    results = room.doc.get(VOTES, type=Map)
    tallies = _tallies_as_shown(room, tallies or {})
    with room.change():
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
        values = {key: card[key] for key in CARD_FIELDS if key in card}
        values["text"] = str(card.get("text", ""))
        found[card_id] = values
    return found


def shown_author(room: Room, author: Any) -> Any:
    """The `author` a card may carry on this board: a pseudonym while it is anonymous.

    Pseudonyms and empty authors stay as they are; anything else (a participant id) is
    replaced by its pseudonym, so nobody's id reaches an anonymous board.
    """
    if not room.anonymous or not isinstance(author, str) or not author:
        return author
    if author.startswith(AUTHOR_PREFIX):
        return author
    return room.pseudonyms.author(author)


def _as_shown(room: Room, cards: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if not room.anonymous:
        return cards
    return {
        card_id: {**values, "author": shown_author(room, values["author"])}
        if "author" in values
        else values
        for card_id, values in cards.items()
    }


def _tallies_as_shown(room: Room, tallies: dict[str, Any]) -> dict[str, Any]:
    """Named votes' `voters` keyed by pseudonym while the board is anonymous."""
    if not room.anonymous:
        return tallies
    shown: dict[str, Any] = {}
    for card_id, tally in tallies.items():
        voters = tally.get("voters") if isinstance(tally, dict) else None
        if isinstance(voters, dict):
            tally = {**tally, "voters": {shown_author(room, k): v for k, v in voters.items()}}
        shown[card_id] = tally
    return shown


def anonymize_authors(room: Room) -> None:
    """Every card's author becomes its pseudonym (anonymous mode switched on), one transaction.

    The old values are deleted structs: pycrdt's garbage collection drops their content, so
    neither a late joiner nor a restarted server's board carries them (tests/test_anonymity.py).
    """
    with room.change():
        for card in room.doc.get(CARDS, type=Map).values():
            if not isinstance(card, Map) or "author" not in card:
                continue
            author = card["author"]
            shown = shown_author(room, author)
            if shown != author:
                card["author"] = shown


def add_cards(room: Room, cards: dict[str, dict[str, Any]]) -> None:
    """Put cards on the board in one transaction (same ids, same content; authors as the
    board shows them, see `shown_author`)."""
    if not cards:
        return
    cards = _as_shown(room, cards)
    target = room.doc.get(CARDS, type=Map)
    with room.change():
        for card_id, values in cards.items():
            fields = {key: values[key] for key in CARD_FIELDS if key in values}
            target[card_id] = Map({**fields, "text": Text(str(values.get("text", "")))})


def remove_cards(room: Room, card_ids: list[str]) -> None:
    target = room.doc.get(CARDS, type=Map)
    with room.change():
        for card_id in card_ids:
            if card_id in target:
                del target[card_id]


def replace_board(
    room: Room,
    cards: dict[str, dict[str, Any]],
    clusters: dict[str, dict[str, Any]],
    tallies: dict[str, Any],
) -> None:
    """Make the board's cards, clusters and vote results equal to these, in one transaction.

    A restore (server/sessions/snapshots.py) keeps history: cards and clusters not in the target are
    deleted, missing ones created with their old ids, and of the others only the fields
    that differ are written. `meta` (the room's settings) is left alone; in an anonymous
    room the restored cards' authors are pseudonyms (`shown_author`).
    """
    cards = _as_shown(room, cards)
    tallies = _tallies_as_shown(room, tallies)
    with room.change():
        _replace_entries(room.doc.get(CARDS, type=Map), cards, CARD_FIELDS, "text")
        _replace_entries(room.doc.get(CLUSTERS, type=Map), clusters, CLUSTER_FIELDS, "title")
        results = room.doc.get(VOTES, type=Map)
        for card_id in [key for key in results.keys() if key not in tallies]:
            del results[card_id]
        for card_id, value in tallies.items():
            if results.get(card_id) != value:
                results[card_id] = value


def _replace_entries(
    live: Map[Any], target: dict[str, dict[str, Any]], fields: tuple[str, ...], text_field: str
) -> None:
    for entry_id in [key for key in live.keys() if key not in target]:
        del live[entry_id]
    for entry_id, values in target.items():
        text = str(values.get(text_field, ""))
        entry = live.get(entry_id)
        if not isinstance(entry, Map):
            scalars = {key: values[key] for key in fields if key in values}
            live[entry_id] = Map({**scalars, text_field: Text(text)})
            continue
        for key in fields:
            if key not in values:
                if key in entry:
                    del entry[key]
            elif entry.get(key) != values[key]:
                entry[key] = values[key]
        current = entry.get(text_field)
        if not isinstance(current, Text):
            entry[text_field] = Text(text)
        else:
            _rewrite(current, text)


def _rewrite(text: Text, wanted: str) -> None:
    """Change a Y.Text into `wanted`, touching only the part between common ends."""
    old = str(text)
    if old == wanted:
        return
    start = 0
    while start < min(len(old), len(wanted)) and old[start] == wanted[start]:
        start += 1
    end_old, end_new = len(old), len(wanted)
    while end_old > start and end_new > start and old[end_old - 1] == wanted[end_new - 1]:
        end_old -= 1
        end_new -= 1
    # pycrdt counts positions in UTF-8 bytes.
    at = len(old[:start].encode())
    if end_old > start:
        del text[at : at + len(old[start:end_old].encode())]
    if end_new > start:
        text.insert(at, wanted[start:end_new])
