"""What every report shows, read once from a board's JSON export (docs/protocol.md, section 4).

The renderers (Markdown, CSV, SVG, PNG, PDF) draw from this view only, so the room's rules
hold in all of them alike: `apply_room_rules` first removes what the room does not show
(author names of an anonymous room, vote results before a hidden vote is closed), and the
view never looks anywhere else for names or votes.

Exports come from live boards that clients write, so every value is read defensively: a
wrong type becomes a neutral default instead of an error.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server import timestamps

DEFAULT_CARD_COLOR = "#ffe27a"
_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
# Characters XML 1.0 cannot hold (and that no report wants): C0 controls but tab and newline,
# lone surrogates, U+FFFE/U+FFFF.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

#: Phase names as the web client shows them (web/src/i18n).
PHASE_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "explore": "Explore",
        "ideate": "Ideate",
        "cluster": "Cluster",
        "vote": "Vote",
        "discuss": "Discuss",
        "closed": "Closed",
    },
    "lv": {
        "explore": "Izpēte",
        "ideate": "Ideju ģenerēšana",
        "cluster": "Grupēšana",
        "vote": "Balsošana",
        "discuss": "Apspriešana",
        "closed": "Noslēgums",
    },
}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "report": "Workshop report",
        "date": "Date",
        "phase": "Phase",
        "participants": "Participants",
        "cards": "Cards",
        "clusters": "Clusters",
        "exported": "Exported",
        "results": "Vote results",
        "votes_hidden": "Votes are hidden until the facilitator closes the vote.",
        "no_votes": "No votes yet.",
        "unclustered": "Unclustered cards",
        "untitled": "(untitled cluster)",
        "no_cards": "No cards.",
        "board": "Board",
        "vote_one": "vote",
        "vote_many": "votes",
        "anonymous": "Anonymous room: no author names.",
        "rank": "#",
        "card": "Card",
        "cluster": "Cluster",
        "page": "Page",
        "empty": "The board is empty.",
    },
    "lv": {
        "report": "Darbnīcas atskaite",
        "date": "Datums",
        "phase": "Fāze",
        "participants": "Dalībnieki",
        "cards": "Kartītes",
        "clusters": "Grupas",
        "exported": "Eksportēts",
        "results": "Balsojuma rezultāti",
        "votes_hidden": "Balsis ir slēptas, līdz vadītājs noslēdz balsojumu.",
        "no_votes": "Balsu vēl nav.",
        "unclustered": "Kartītes ārpus grupām",
        "untitled": "(grupa bez nosaukuma)",
        "no_cards": "Kartīšu nav.",
        "board": "Tāfele",
        "vote_one": "balss",
        "vote_many": "balsis",
        "anonymous": "Anonīma telpa: autoru vārdu nav.",
        "rank": "#",
        "card": "Kartīte",
        "cluster": "Grupa",
        "page": "Lapa",
        "empty": "Tāfele ir tukša.",
    },
}
LANGUAGES = tuple(LABELS)


# -- the room's rules over an export ---------------------------------------------------------


def is_anonymous(export: dict[str, Any]) -> bool:
    meta = export.get("meta")
    return isinstance(meta, dict) and meta.get("anonymous") is True


def results_visible(export: dict[str, Any]) -> bool:
    """May vote results be shown? Not while a hidden vote is still open.

    Rooms without voting settings (exports from before facilitation) show whatever
    results they hold.
    """
    meta = export.get("meta")
    voting = meta.get("voting") if isinstance(meta, dict) else None
    if not isinstance(voting, dict):
        return True
    return voting.get("hidden", True) is False or voting.get("state") == "closed"


def apply_room_rules(export: dict[str, Any]) -> dict[str, Any]:
    """A copy of the export without what the room's rules keep from people.

    * anonymous room: no `meta.people`, every card's `author` is "", no `voters` in results;
    * hidden vote not closed yet: no results at all (the board holds none then either;
      this makes sure of it).
    """
    export = copy.deepcopy(export)
    meta = export.get("meta")
    votes = export.get("votes")
    if is_anonymous(export):
        if isinstance(meta, dict):
            meta.pop("people", None)
        for card in export.get("cards") or []:
            if isinstance(card, dict) and "author" in card:
                card["author"] = ""
        if isinstance(votes, dict):
            for tally in votes.values():
                if isinstance(tally, dict):
                    tally.pop("voters", None)
    if not results_visible(export):
        export["votes"] = {}
    return export


# -- plain values ----------------------------------------------------------------------------


def json_object(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def clean_text(value: Any) -> str:
    """A string fit for every format: line ends unified, tabs as spaces, no control chars."""
    if not isinstance(value, str):
        return ""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return _UNPRINTABLE.sub("", value)


def number(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    value = float(value)
    return value if math.isfinite(value) else default


def card_color(value: Any) -> str:
    return (
        value.lower() if isinstance(value, str) and _HEX_COLOR.match(value) else DEFAULT_CARD_COLOR
    )


def iso_ms(ms: int | None) -> str:
    """ISO 8601 (UTC, milliseconds, Z) of a ms-since-epoch timestamp; "" when unknown."""
    return "" if ms is None else timestamps.iso_ms(ms)


def human_time(ms: int | None) -> str:
    """`2026-11-23 14:05 UTC`; "" when unknown."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _timestamp_ms(value: Any) -> int | None:
    ms = number(value, math.nan)
    # Plausible ms-since-epoch only (1970 .. year 9999): anything else is not a time.
    if math.isnan(ms) or not 0 <= ms < 253_402_300_800_000:
        return None
    return int(ms)


def _utc_text(iso: Any, pattern: str) -> str:
    """An ISO timestamp from the export formatted in UTC; "" when unreadable."""
    if not isinstance(iso, str):
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(pattern)


def _date_of(iso: Any) -> str:
    """The day (YYYY-MM-DD, UTC) of an ISO timestamp from the export."""
    return _utc_text(iso, "%Y-%m-%d")


def _human_iso(iso: Any) -> str:
    return _utc_text(iso, "%Y-%m-%d %H:%M UTC")


# -- the view ---------------------------------------------------------------------------------


@dataclass
class CardView:
    id: str
    text: str
    x: float
    y: float
    color: str
    author_id: str
    author: str  # the author's name; "" when unknown or the room is anonymous
    cluster_id: str | None  # a cluster on the board, else None
    cluster_title: str
    created: int | None  # ms since epoch
    votes: int | None  # None while results are not shown
    voters: list[tuple[str, int]] = field(default_factory=list)  # (name, dots), named votes


@dataclass
class ClusterView:
    id: str
    title: str  # as written; may be ""
    x: float
    y: float
    w: float
    h: float
    cards: list[CardView] = field(default_factory=list)


@dataclass
class Report:
    title: str
    room_id: str
    date: str  # YYYY-MM-DD, the day the room was created (the workshop's day)
    exported: str  # human time of the export
    phase: str
    anonymous: bool  # the room hides authors (meta.anonymous)
    participants: int | None
    results_visible: bool
    cards: list[CardView]  # every card, in reading order (top to bottom, left to right)
    clusters: list[ClusterView]  # by title
    unclustered: list[CardView]
    ranked: list[CardView]  # cards with votes, most first (empty while results are hidden)
    labels: dict[str, str]
    lang: str = "en"

    def cluster_label(self, cluster: ClusterView) -> str:
        return cluster.title.strip() or self.labels["untitled"]

    def votes_label(self, count: int) -> str:
        # Latvian agrees with the last digit: 1, 21, 31 balss; 11 balsis.
        one = count % 10 == 1 and count % 100 != 11 if self.lang == "lv" else count == 1
        return f"{count} {self.labels['vote_one' if one else 'vote_many']}"


def _reading_order(card: CardView) -> tuple[float, float, str]:
    return (card.y, card.x, card.id)


def build_report(export: dict[str, Any], lang: str = "en") -> Report:
    """The report view of an export (after `apply_room_rules`)."""
    export = apply_room_rules(export)
    lang = lang if lang in LABELS else "en"
    labels = LABELS[lang]
    room = json_object(export.get("room"))
    meta = json_object(export.get("meta"))
    people_raw = meta.get("people")
    anonymous = is_anonymous(export)
    # Names come from `meta.people` only; an anonymous room has none (and shows none).
    named_room = not anonymous and isinstance(people_raw, dict)
    given_names = json_object(people_raw) if named_room else {}
    people = {str(k): clean_text(v) for k, v in given_names.items()}
    visible = results_visible(export)
    votes = json_object(export.get("votes")) if visible else {}

    clusters: dict[str, ClusterView] = {}
    for raw in export.get("clusters") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        clusters[raw["id"]] = ClusterView(
            id=raw["id"],
            title=" ".join(clean_text(raw.get("title")).split()),
            x=number(raw.get("x")),
            y=number(raw.get("y")),
            w=number(raw.get("w"), 240.0),
            h=number(raw.get("h"), 160.0),
        )

    cards: list[CardView] = []
    for raw in export.get("cards") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        cluster_id = raw.get("cluster") if raw.get("cluster") in clusters else None
        author = raw.get("author")
        author_id = author if isinstance(author, str) else ""
        tally = votes.get(raw["id"]) if visible else None
        count: int | None = None
        voters: list[tuple[str, int]] = []
        if visible:
            count = 0
            if isinstance(tally, dict):
                count = int(max(0.0, number(tally.get("count"))))
                named = tally.get("voters")
                if named_room and isinstance(named, dict):
                    voters = sorted(
                        (
                            (people.get(str(voter), ""), int(number(dots)))
                            for voter, dots in named.items()
                        ),
                        key=lambda item: (-item[1], item[0].casefold()),
                    )
        cards.append(
            CardView(
                id=raw["id"],
                text=clean_text(raw.get("text")).strip(),
                x=number(raw.get("x")),
                y=number(raw.get("y")),
                color=card_color(raw.get("color")),
                author_id=author_id,
                author=people.get(author_id, ""),
                cluster_id=cluster_id,
                cluster_title=clusters[cluster_id].title if cluster_id else "",
                created=_timestamp_ms(raw.get("created")),
                votes=count,
                voters=voters,
            )
        )
    cards.sort(key=_reading_order)
    for card in cards:
        if card.cluster_id:
            clusters[card.cluster_id].cards.append(card)
    ordered_clusters = sorted(
        clusters.values(), key=lambda c: (c.title.strip() == "", c.title.casefold(), c.id)
    )
    ranked = sorted(
        (card for card in cards if card.votes),
        key=lambda card: (-(card.votes or 0), card.text.casefold(), card.id),
    )
    participants = room.get("participants")
    if isinstance(participants, bool) or not isinstance(participants, int):
        participants = len(people) if people else None
    return Report(
        title=" ".join(clean_text(room.get("title")).split()) or "Koprade",
        room_id=str(room.get("id") or ""),
        date=_date_of(room.get("created")) or _date_of(export.get("exported")),
        exported=_human_iso(export.get("exported")),
        phase=PHASE_NAMES[lang].get(clean_text(meta.get("phase")), clean_text(meta.get("phase"))),
        anonymous=anonymous,
        participants=participants,
        results_visible=visible,
        cards=cards,
        clusters=ordered_clusters,
        unclustered=[card for card in cards if card.cluster_id is None],
        ranked=ranked,
        labels=labels,
        lang=lang,
    )
