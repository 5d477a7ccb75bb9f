"""The room's rules, checked on a client's update before it touches the document.

Pure: it gets the update's placed structs and deleted locations (see `locations.py`), the
room's current settings, who sent it, and a way to look up a card's author in the room's
document; it raises `Rejected` or returns. docs/facilitation.md is the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from server.crdt.awareness import Identity
from server.crdt.board import CARDS, CLUSTERS
from server.crdt.locations import GARBAGE, Location, Placed

FACILITATOR = "facilitator"
PARTICIPANT = "participant"
OBSERVER = "observer"

ADD, EDIT, MOVE, CLUSTER = "add", "edit", "move", "cluster"

#: What participants may do in each phase (facilitators may always do everything).
PHASE_ACTIONS: dict[str, frozenset[str]] = {
    # The first phase is open: a room nobody facilitates yet works like a plain board.
    "explore": frozenset({ADD, EDIT, MOVE, CLUSTER}),
    "ideate": frozenset({ADD, EDIT, MOVE}),
    "cluster": frozenset({ADD, EDIT, MOVE, CLUSTER}),
    "vote": frozenset(),
    "discuss": frozenset({ADD, EDIT, MOVE}),
    "closed": frozenset(),
}
PHASES = tuple(PHASE_ACTIONS)


def is_phase_sequence(value: object) -> bool:
    """A non-empty list of distinct known phase ids (a room's `meta.phases`)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(phase in PHASE_ACTIONS for phase in value)
        and len(set(value)) == len(value)
    )


VOTING_PHASE = "vote"
CLOSED_PHASE = "closed"

_MOVE_FIELDS = frozenset({"x", "y", "cluster"})
_EDIT_FIELDS = frozenset({"text", "color"})
_SET_ONCE_FIELDS = frozenset({"author", "created"})
_ACTION_WORDS = {
    ADD: "adding cards",
    EDIT: "editing cards",
    MOVE: "moving cards",
    CLUSTER: "changing clusters",
}


class Rejected(Exception):
    """A client update the room's rules forbid; nothing of it was applied."""

    close_code = 4409

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule

    @property
    def reason(self) -> str:
        return f"update rejected: {self}"


@dataclass(frozen=True, slots=True)
class Rules:
    """The settings of `meta` that decide what participants' updates may do."""

    phase: str = "explore"
    locked: bool = False
    edit_others: bool = True
    private: bool = False
    # New cards name their author by pseudonym (server/crdt/pseudonyms.py), never by id.
    anonymous: bool = False


#: A card's author in the room's document: None when there is no such card.
CardAuthor = Callable[[str], str | None]


def check_update(
    placed: list[Placed],
    deleted: Iterable[Location],
    *,
    sender: Identity,
    rules: Rules,
    card_author: CardAuthor,
) -> None:
    """Raise Rejected if `sender` may not make this change under `rules`.

    `placed` and `deleted` hold only what the room does not have yet (see locations.py).
    An update that brings nothing new — a sync step 2 repeating known content and its
    whole delete set, as every Yjs client sends on reconnect — changes nothing and passes
    for every role, observers included.
    """
    written = [entry.location for entry in placed if entry.location != GARBAGE]
    removed = [location for location in deleted if location != GARBAGE]
    if not placed and not removed:
        return
    for location in (*written, *removed):
        if location[0] not in (CARDS, CLUSTERS):
            raise Rejected("server-only", f"'{location[0]}' is written only by the server")
    if sender.role == FACILITATOR:
        return
    if sender.role != PARTICIPANT:
        raise Rejected("observer", "observers cannot change the board")
    _Check(sender, rules, card_author).run(placed, removed)


class _Check:
    def __init__(self, sender: Identity, rules: Rules, card_author: CardAuthor) -> None:
        self.sender = sender
        self.rules = rules
        self._card_author = card_author
        self._authors: dict[str, str | None] = {}
        # Both the participant id and the pseudonym name the sender's own cards; a new card
        # in an anonymous room must carry the pseudonym.
        self.own_authors = sender.own_authors
        pseudonym = sender.pseudonym
        accepted = (pseudonym,) if rules.anonymous and pseudonym else tuple(self.own_authors)
        self.new_card_authors = {(author,) for author in accepted}
        self.allowed = frozenset() if rules.locked else PHASE_ACTIONS.get(rules.phase, frozenset())

    def run(self, placed: list[Placed], removed: list[Location]) -> None:
        created = self._created_cards(placed)
        written = [entry.location for entry in placed if entry.location[:1] == (CARDS,)]
        for entry in placed:
            location = entry.location
            if location == GARBAGE:
                continue
            if location[0] == CLUSTERS:
                self.need(CLUSTER)
            elif len(location) == 2:
                if location[1] not in created:
                    self.own(EDIT, location[1])  # a new value replacing an existing card
            elif len(location) == 3 and location[1] not in created:
                self.field(location[1], location[2])
        # Deleting (or replacing) a card deletes its fields too: one decision for the card.
        whole = {
            location[1]
            for location in (*removed, *written)
            if len(location) == 2 and location[0] == CARDS
        }
        for location in removed:
            if location[0] == CLUSTERS:
                self.need(CLUSTER)
            elif len(location) == 2:
                self.own(EDIT, location[1])  # deleting a card
            elif len(location) == 3 and location[1] not in whole:
                self.field(location[1], location[2])

    def _created_cards(self, placed: list[Placed]) -> set[str]:
        """Cards this update creates (a new map under a new card id), author checked."""
        created: set[str] = set()
        authors = {
            entry.location[1]: entry.struct.values
            for entry in placed
            if len(entry.location) == 3
            and entry.location[0] == CARDS
            and entry.location[2] == "author"
        }
        for entry in placed:
            location = entry.location
            if len(location) != 2 or location[0] != CARDS:
                continue
            card_id = location[1]
            if self.card_author(card_id) is not None:
                continue  # replaces an existing card: checked as an edit of that card
            self.need(ADD)
            if self.rules.private:
                raise Rejected(
                    "private", "silent brainstorming: new cards go to your private board"
                )
            if entry.struct.content != "type":
                raise Rejected("contract", "a card must be a map")
            if authors.get(card_id) not in self.new_card_authors:
                raise Rejected("author", "a new card must name its author: the sender")
            created.add(card_id)
        return created

    def card_author(self, card_id: str) -> str | None:
        """The document lookup, once per card and update (an edit has many structs)."""
        if card_id not in self._authors:
            self._authors[card_id] = self._card_author(card_id)
        return self._authors[card_id]

    def need(self, action: str) -> None:
        if action in self.allowed:
            return
        if self.rules.locked:
            raise Rejected("locked", f"{_ACTION_WORDS[action]} is not allowed: the board is locked")
        raise Rejected(
            "phase", f"{_ACTION_WORDS[action]} is not allowed in the {self.rules.phase} phase"
        )

    def own(self, action: str, card_id: str) -> None:
        self.need(action)
        author = self.card_author(card_id)
        if author is not None and author not in self.own_authors and not self.rules.edit_others:
            raise Rejected("owner", "only its author can change or delete this card")

    def field(self, card_id: str, name: str) -> None:
        if name in _MOVE_FIELDS:
            self.need(MOVE)
        elif name in _EDIT_FIELDS:
            self.own(EDIT, card_id)
        elif name in _SET_ONCE_FIELDS:
            raise Rejected("contract", f"a card's '{name}' is set once, when it is created")
        else:
            raise Rejected("contract", f"cards have no field '{name}'")
