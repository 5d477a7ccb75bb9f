"""The board document contract (docs/protocol.md, section 4) and its JSON form."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map, Text

CARDS = "cards"
CLUSTERS = "clusters"
VOTES = "votes"  # written only by the server (facilitation)
META = "meta"  # written only by the server (facilitation)
ROOT_MAPS = (CARDS, CLUSTERS, VOTES, META)

EXPORT_FORMAT = "koprade-board"
EXPORT_VERSION = 2  # 2: room.participants; anonymous rooms export author ""

#: A board: its root types are the maps above (cards and clusters hold maps, meta and votes
#: plain values), so one type parameter covers them all.
BoardDoc = Doc[Map[Any]]

CARD_FIELDS = ("x", "y", "color", "author", "cluster", "created")
CLUSTER_FIELDS = ("x", "y", "w", "h")


def new_board() -> BoardDoc:
    """A document with the board's root maps declared (declaring writes nothing)."""
    doc: BoardDoc = Doc()
    for name in ROOT_MAPS:
        doc.get(name, type=Map)
    return doc


def doc_from_updates(updates: list[bytes]) -> BoardDoc:
    doc = new_board()
    for update in updates:
        doc.apply_update(update)
    return doc


def _plain(value: Any) -> Any:
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, Map):
        return value.to_py()
    return value


def _number(value: Any) -> Any:
    # Yjs numbers arrive as floats; whole numbers read better in exports.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def board_counts(doc: BoardDoc) -> dict[str, int]:
    return {
        "cards": len(doc.get(CARDS, type=Map)),
        "clusters": len(doc.get(CLUSTERS, type=Map)),
    }


def board_to_json(doc: BoardDoc) -> dict[str, Any]:
    """The board part of a JSON export: cards and clusters sorted by id, meta and votes."""
    cards = []
    for card_id, card in sorted(doc.get(CARDS, type=Map).items()):
        if not isinstance(card, Map):
            continue  # not a card per the contract; exports only carry well-formed ones
        entry: dict[str, Any] = {"id": card_id, "text": _plain(card.get("text", ""))}
        for key in CARD_FIELDS:
            if key in card:
                entry[key] = _number(_plain(card[key]))
        cards.append(entry)
    clusters = []
    for cluster_id, cluster in sorted(doc.get(CLUSTERS, type=Map).items()):
        if not isinstance(cluster, Map):
            continue
        entry = {"id": cluster_id, "title": _plain(cluster.get("title", ""))}
        for key in CLUSTER_FIELDS:
            if key in cluster:
                entry[key] = _number(_plain(cluster[key]))
        clusters.append(entry)
    return {
        "cards": cards,
        "clusters": clusters,
        "meta": doc.get(META, type=Map).to_py() or {},
        "votes": doc.get(VOTES, type=Map).to_py() or {},
    }
