"""Where an update's structs land (locations.py) and what the rules make of it (rules.py).

Pure: real updates from pycrdt documents, no server. The Node interop tests and
tests/test_facilitation.py cover the same path with yjs clients against the real server.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pycrdt import Doc, Map, Text

from server.crdt.awareness import Identity
from server.crdt.errors import ProtocolError
from server.crdt.locations import (
    GARBAGE,
    Location,
    LocationIndex,
    Placed,
    UnknownReference,
    _Intervals,
)
from server.crdt.rules import Rejected, Rules, check_update
from server.crdt.yupdate import decode_update

Edit = Callable[["Client"], object]
ANNA = Identity(participant="p_anna", name="Anna", role="participant")
BOB = Identity(participant="p_bob", name="Bob", role="participant")


class Board:
    """The server's side: a document whose every accepted change is placed by an index.

    Edits are made on a client's copy, and the client's update is placed (and checked)
    before the board applies it, as in a room.
    """

    def __init__(self) -> None:
        self.doc: Doc = Doc()
        self.cards = self.doc.get("cards", type=Map)
        self.index = LocationIndex()

    def client_update(self, edit: Edit) -> bytes:
        client = Client(self.doc)
        edit(client)
        return client.doc.get_update(self.doc.get_state())

    def change(self, edit: Edit) -> tuple[list[Placed], set[Location]]:
        update = self.client_update(edit)
        decoded = decode_update(update)
        placed = self.index.place(decoded)
        deleted = self.index.deleted_locations(decoded, placed)
        self.doc.apply_update(update)
        self.index.add(placed, decoded)
        return placed, deleted

    def author(self, card_id: str) -> str | None:
        card = self.cards.get(card_id)
        return None if card is None else card.get("author", "")


class Client:
    def __init__(self, board: Doc) -> None:
        self.doc: Doc = Doc()
        self.doc.apply_update(board.get_update())
        self.cards = self.doc.get("cards", type=Map)


def new_card(author: str, text: str = "idea") -> Map:
    return Map({"text": Text(text), "x": 0.0, "y": 0.0, "color": "#ffd966", "author": author})


def locations(placed: list[Placed]) -> set[Location]:
    return {entry.location for entry in placed}


def test_a_new_card_is_placed_under_its_id_and_fields() -> None:
    board = Board()
    placed, deleted = board.change(lambda b: b.cards.__setitem__("c1", new_card("p_anna")))
    assert locations(placed) == {
        ("cards", "c1"),
        ("cards", "c1", "text"),
        ("cards", "c1", "x"),
        ("cards", "c1", "y"),
        ("cards", "c1", "color"),
        ("cards", "c1", "author"),
    }
    assert deleted == set()


def test_edits_are_placed_by_their_origin() -> None:
    board = Board()
    board.change(lambda b: b.cards.__setitem__("c1", new_card("p_anna", "Benches")))

    def type_more(b: Client) -> None:
        text = b.cards["c1"]["text"]
        text += " and shade"

    placed, _ = board.change(type_more)
    assert locations(placed) == {("cards", "c1", "text")}

    placed, deleted = board.change(lambda b: b.cards["c1"].__setitem__("x", 250.0))
    assert locations(placed) == {("cards", "c1", "x")}
    assert deleted == {("cards", "c1", "x")}, "the old value of x is deleted"

    def cut(b: Client) -> None:
        del b.cards["c1"]["text"][0:4]

    placed, deleted = board.change(cut)
    assert placed == [] and deleted == {("cards", "c1", "text")}


def test_a_full_state_repeats_old_deletions_but_they_are_not_new() -> None:
    board = Board()
    board.change(lambda b: b.cards.__setitem__("c1", new_card("p_anna")))
    board.change(lambda b: b.cards["c1"].__setitem__("x", 5.0))
    full = decode_update(board.doc.get_update())
    assert full.deletes, "the full state carries the delete set"
    placed = board.index.place(full)
    assert placed == [], "everything is known already"
    assert board.index.deleted_locations(full, placed) == set()


def test_unknown_references_are_refused() -> None:
    origin: Doc = Doc()
    origin.get("cards", type=Map)["c1"] = new_card("p_anna", "Benches")
    before = origin.get_state()
    text = origin.get("cards", type=Map)["c1"]["text"]
    text += "!"
    edit_only = decode_update(origin.get_update(before))
    with pytest.raises(UnknownReference, match="refers to content the document does not have"):
        LocationIndex().place(edit_only)

    deleting = Doc()
    deleting.get("cards", type=Map)["c1"] = new_card("p_anna")
    state = deleting.get_state()
    del deleting.get("cards", type=Map)["c1"]
    only_delete = decode_update(deleting.get_update(state))
    with pytest.raises(UnknownReference, match="deletes content"):
        LocationIndex().deleted_locations(only_delete, [])


def test_an_update_placing_structs_on_each_other_resolves_in_any_order() -> None:
    """Two clients' structs merged: the second's text hangs on the first's card."""
    a: Doc = Doc()
    a.get("cards", type=Map)["c1"] = new_card("p_anna", "one")
    b: Doc = Doc()
    b.apply_update(a.get_update())
    text = b.get("cards", type=Map)["c1"]["text"]
    text += " two"
    merged = decode_update(b.get_update())
    assert len({struct.client for struct in merged.structs}) == 2
    assert ("cards", "c1", "text") in locations(LocationIndex().place(merged))


def test_intervals_merge_and_report_gaps() -> None:
    intervals = _Intervals()
    for start, end in [(10, 20), (30, 40), (20, 25), (5, 8), (24, 31)]:
        intervals.add(start, end)
    assert list(zip(intervals.starts, intervals.ends, strict=True)) == [(5, 8), (10, 40)]
    assert list(intervals.missing(0, 50)) == [(0, 5), (8, 10), (40, 50)]
    assert list(intervals.missing(12, 30)) == []


# -- rules ------------------------------------------------------------------------------------


def check(board: Board, edit: Edit, sender: Identity, rules: Rules | None = None) -> None:
    update = board.client_update(edit)
    decoded = decode_update(update)
    placed = board.index.place(decoded)
    deleted = board.index.deleted_locations(decoded, placed)
    check_update(placed, deleted, sender=sender, rules=rules or Rules(), card_author=board.author)
    board.doc.apply_update(update)
    board.index.add(placed, decoded)


def test_rules_table() -> None:
    board = Board()
    check(board, lambda b: b.cards.__setitem__("a1", new_card("p_anna")), ANNA)
    with pytest.raises(Rejected, match="must name its author") as forged:
        check(Board(), lambda b: b.cards.__setitem__("x", new_card("p_bob")), ANNA)
    assert forged.value.rule == "author"
    with pytest.raises(Rejected, match="adding cards is not allowed in the vote phase"):
        check(Board(), lambda b: b.cards.__setitem__("x", new_card("p_anna")), ANNA, Rules("vote"))
    strict = Rules(edit_others=False)
    check(board, lambda b: b.cards["a1"].__setitem__("y", 3.0), BOB, strict)  # move: fine
    with pytest.raises(Rejected, match="only its author") as owner:
        check(board, lambda b: b.cards["a1"].__setitem__("color", "#000000"), BOB, strict)
    assert owner.value.rule == "owner"
    with pytest.raises(Rejected, match="cards have no field 'votes'"):
        check(board, lambda b: b.cards["a1"].__setitem__("votes", 3), ANNA)
    with pytest.raises(Rejected, match="the board is locked"):
        check(board, lambda b: b.cards["a1"].__setitem__("y", 9.0), ANNA, Rules(locked=True))
    with pytest.raises(Rejected, match="private board"):
        check(
            board, lambda b: b.cards.__setitem__("p", new_card("p_anna")), ANNA, Rules(private=True)
        )
    facilitator = Identity(participant="p_f", name="F", role="facilitator")
    check(
        board, lambda b: b.cards["a1"].__setitem__("color", "#111111"), facilitator, Rules("closed")
    )
    observer = Identity(participant="p_o", name="O", role="observer")
    with pytest.raises(Rejected, match="observers cannot change the board"):
        check(board, lambda b: b.cards["a1"].__setitem__("x", 1.0), observer)


def test_garbage_is_harmless_and_the_empty_location_is_distinct() -> None:
    assert GARBAGE == ()
    assert issubclass(UnknownReference, ProtocolError)


def test_runs_keep_known_parts_and_learn_the_rest() -> None:
    from server.crdt.locations import _Runs

    runs = _Runs()
    runs.add(0, 5, ("cards", "a", "text"))
    runs.add(5, 8, ("cards", "a", "text"))  # contiguous, same place: one run
    runs.add(10, 12, ("cards", "b"))
    runs.add(3, 15, ("cards", "c"))  # overlaps both: only 8-10 and 12-15 are new
    assert list(zip(runs.starts, runs.ends, runs.locations, strict=True)) == [
        (0, 8, ("cards", "a", "text")),
        (8, 10, ("cards", "c")),
        (10, 12, ("cards", "b")),
        (12, 15, ("cards", "c")),
    ]
    assert runs.find(9) == ("cards", "c") and runs.find(11) == ("cards", "b")
    assert runs.find(15) is None
