"""Participation insight: who contributed how much, per room and across the lab.

For facilitators during a session (so they can invite quieter people in) and for the lab's
monitoring of how workshops go. The equality measure is deliberately simple: the share of
all cards written by the most active quarter of participants (1.0: they wrote everything;
with equal contributions it is about 0.25), plus the Gini coefficient of cards per person.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Map

from server.crdt.board import CARDS, BoardDoc
from server.crdt.pseudonyms import Pseudonyms
from server.crdt.rules import OBSERVER, PARTICIPANT
from server.crdt.settings import read_settings
from server.exports import load_stored_board
from server.storage.store import ParticipantRecord, Store
from server.timestamps import iso


def equality(counts: list[int]) -> dict[str, Any]:
    """Top-quarter share and Gini coefficient of contributions (None when nothing yet)."""
    total = sum(counts)
    if not counts or total == 0:
        return {"topQuarterShare": None, "gini": None, "quarterSize": 0}
    ordered = sorted(counts)
    n = len(ordered)
    quarter = max(1, math.ceil(n / 4))
    top = sum(ordered[-quarter:]) / total
    weighted = sum((i + 1) * value for i, value in enumerate(ordered))
    gini = (2 * weighted) / (n * total) - (n + 1) / n
    return {
        "topQuarterShare": round(top, 3),
        "gini": round(max(gini, 0.0), 3),
        "quarterSize": quarter,
    }


def cards_by_author(doc: BoardDoc, pseudonyms: dict[str, str] | None = None) -> dict[str, int]:
    """Cards per participant; authors written as pseudonyms (anonymous mode) are counted
    for the participant behind them (`pseudonyms`: pseudonym -> participant id)."""
    pseudonyms = pseudonyms or {}
    counts: dict[str, int] = {}
    for card in doc.get(CARDS, type=Map).values():
        if isinstance(card, Map):
            author = card.get("author")
            if isinstance(author, str) and author:
                author = pseudonyms.get(author, author)
                counts[author] = counts.get(author, 0) + 1
    return counts


@dataclass
class RoomFigures:
    """Everything the insight of one room is computed from."""

    people: list[ParticipantRecord]
    doc: BoardDoc
    votes: dict[str, dict[str, int]]
    activity: dict[str, tuple[int, float]]  # participant -> (edits, seconds)
    connected: set[str]
    # Author pseudonym -> participant id, to attribute anonymous cards (server only).
    pseudonyms: dict[str, str] = field(default_factory=dict)


def room_insight(figures: RoomFigures) -> dict[str, Any]:
    settings = read_settings(figures.doc)
    anonymous = settings.anonymous
    cards = cards_by_author(figures.doc, figures.pseudonyms)
    rows = []
    for person in figures.people:
        if person.role == OBSERVER:
            continue
        edits, seconds = figures.activity.get(person.id, (0, 0.0))
        row: dict[str, Any] = {
            "role": person.role,
            "cards": cards.get(person.id, 0),
            "edits": edits,
            "votes": sum(figures.votes.get(person.id, {}).values()),
            "secondsActive": int(seconds),
            "connected": person.id in figures.connected,
            "removed": person.removed is not None,
        }
        if not anonymous:
            # Anonymous rooms hide who wrote what from everyone, facilitators included.
            row = {"participant": person.id, "name": person.name, **row}
        rows.append(row)
    rows.sort(key=lambda row: (-row["cards"], -row["edits"]))
    contributors = [row["cards"] for row in rows if row["role"] == PARTICIPANT]
    return {
        "anonymous": anonymous,
        "phase": settings.phase,
        "participants": rows,
        "totals": {
            "participants": len(contributors),
            "cards": sum(cards.values()),
            "edits": sum(row["edits"] for row in rows),
            "votes": sum(row["votes"] for row in rows),
            "silent": sum(1 for count in contributors if count == 0),
        },
        "equality": equality(contributors),
    }


async def stored_figures(
    store: Store, room_id: str, doc: BoardDoc | None = None, pseudonyms: Pseudonyms | None = None
) -> RoomFigures:
    """A room's figures from the database; `doc` is the live board when the room is loaded,
    `pseudonyms` the server's (without them anonymous cards count for nobody)."""
    activity = (await store.load_activity(room_id)).get(room_id, {})
    people = await store.list_participants(room_id)
    return RoomFigures(
        people=people,
        doc=doc if doc is not None else await load_stored_board(store, room_id),
        votes=await store.load_votes(room_id),
        activity={p: (edits, float(seconds)) for p, (edits, seconds) in activity.items()},
        connected=set(),
        pseudonyms=(
            pseudonyms.for_room(room_id).resolver(p.id for p in people) if pseudonyms else {}
        ),
    )


async def lab_stats(
    store: Store,
    live_doc: Callable[[str], BoardDoc | None] = lambda room_id: None,
    pseudonyms: Pseudonyms | None = None,
) -> dict[str, Any]:
    """Figures across every room, for the lab's monitoring (live documents where loaded)."""
    rooms = []
    for summary in await store.list_rooms():
        figures = await stored_figures(store, summary.id, live_doc(summary.id), pseudonyms)
        insight = room_insight(figures)
        rooms.append(
            {
                "room": summary.id,
                "title": summary.title,
                "created": iso(summary.created),
                "phase": insight["phase"],
                **insight["totals"],
                "topQuarterShare": insight["equality"]["topQuarterShare"],
                "gini": insight["equality"]["gini"],
                "hoursActive": round(
                    sum(row["secondsActive"] for row in insight["participants"]) / 3600, 2
                ),
            }
        )
    shares = [room["topQuarterShare"] for room in rooms if room["topQuarterShare"] is not None]
    return {
        "rooms": len(rooms),
        "participants": sum(room["participants"] for room in rooms),
        "cards": sum(room["cards"] for room in rooms),
        "votes": sum(room["votes"] for room in rooms),
        "edits": sum(room["edits"] for room in rooms),
        "hoursActive": round(sum(room["hoursActive"] for room in rooms), 2),
        "medianTopQuarterShare": round(statistics.median(shares), 3) if shares else None,
        "byRoom": rooms,
    }
