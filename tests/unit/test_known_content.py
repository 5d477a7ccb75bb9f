"""An update that brings nothing new passes the rules, whoever sends it (issue 10, part 3).

A Yjs client's sync step 2 carries its whole delete set, and after a reconnect also
content the room already has. Only what is new is checked: an observer's step 2 of a
board it merely watched, or a participant's step 2 that repeats other people's cards, is
no change at all.
"""

from __future__ import annotations

import pytest
from pycrdt import Doc, Map

from server.crdt.awareness import Identity
from server.crdt.rules import Rejected, Rules, check_update
from server.crdt.yupdate import decode_update
from tests.unit.test_locations import ANNA, BOB, Board, new_card

OBSERVER = Identity(participant="p_obs", name="Projector", role="observer")
STRICT = Rules(edit_others=False)
OPEN = Rules()


def check_raw(board: Board, update: bytes, sender: Identity, rules: Rules = OPEN) -> None:
    decoded = decode_update(update)
    placed = board.index.place(decoded)
    check_update(
        placed,
        board.index.deleted_locations(decoded, placed),
        sender=sender,
        rules=rules,
        card_author=board.author,
    )


def board_with_a_deletion() -> Board:
    board = Board()
    board.change(lambda b: b.cards.__setitem__("a1", new_card("p_anna", "Benches")))
    board.change(lambda b: b.cards.__setitem__("b1", new_card("p_bob", "Shade")))
    board.change(lambda b: b.cards["a1"].__setitem__("x", 40.0))  # deletes the old x
    board.change(lambda b: b.cards.__delitem__("b1"))
    return board


def observers_copy(board: Board) -> Doc:
    copy: Doc = Doc()
    copy.apply_update(board.doc.get_update())
    return copy


@pytest.mark.parametrize("sender", [OBSERVER, ANNA, BOB])
def test_a_step_2_of_known_content_passes_for_every_role(sender: Identity) -> None:
    board = board_with_a_deletion()
    copy = observers_copy(board)
    # What a Yjs client answers to the server's sync step 1: the diff against the room's
    # state vector, which is empty of structs but carries every deletion it knows.
    step2 = copy.get_update(board.doc.get_state())
    assert decode_update(step2).deletes, "the step 2 carries the delete set"
    check_raw(board, step2, sender, Rules("vote", locked=True, edit_others=False))
    # And the whole state, as a client that lost its state vector would send it.
    check_raw(board, copy.get_update(), sender, Rules("closed", locked=True))


def test_an_observers_new_change_is_still_refused() -> None:
    board = board_with_a_deletion()
    client_doc = observers_copy(board)
    before = client_doc.get_state()
    del client_doc.get("cards", type=Map)["a1"]
    with pytest.raises(Rejected, match="observers cannot change the board"):
        check_raw(board, client_doc.get_update(before), OBSERVER)
    # The same deletion inside a full state (everything else known) is still new.
    with pytest.raises(Rejected, match="observers cannot change the board"):
        check_raw(board, client_doc.get_update(), OBSERVER)


def test_a_partly_known_update_checks_only_what_is_new() -> None:
    board = board_with_a_deletion()
    anna_doc = observers_copy(board)
    cards = anna_doc.get("cards", type=Map)
    cards["a2"] = new_card("p_anna", "Ramps")
    # Anna's whole state: Bob's card (known) and its deletion (known), her own new card.
    # In a room where nobody may touch others' cards, only her new card is checked.
    check_raw(board, anna_doc.get_update(), ANNA, STRICT)
    # Bob sending the same state would be adding a card in Anna's name: refused.
    with pytest.raises(Rejected, match="must name its author"):
        check_raw(board, anna_doc.get_update(), BOB, STRICT)
