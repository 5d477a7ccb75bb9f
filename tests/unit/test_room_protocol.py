"""The room's protocol driven directly: no server, no socket, no event loop.

Each test plays peers (pycrdt documents, as a Yjs client holds them) against one
`RoomProtocol`, delivering its output by hand, so every decision the room takes — who
gets which frame, when, what is stored, what is refused — is visible and deterministic.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from pycrdt import Awareness, Doc, Map, Text

from server.crdt.awareness import Identity
from server.crdt.board import CARDS, new_board
from server.crdt.errors import ProtocolError
from server.crdt.messages import (
    AwarenessMessage,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
)
from server.crdt.meta import meta_map
from server.crdt.pseudonyms import Pseudonyms
from server.crdt.rules import FACILITATOR, OBSERVER, PARTICIPANT, Rejected
from server.rooms.protocol import Outgoing, RoomProtocol, ToAll, ToPeer

INTERVAL = 0.05


@dataclass
class Peer:
    """A client as the room sees it (the handle) plus the document it holds."""

    name: str
    role: str = PARTICIPANT
    doc: Doc = field(default_factory=Doc)
    received: list[Any] = field(default_factory=list)

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return self is other

    @property
    def identity(self) -> Identity:
        return Identity(participant=self.name, name=self.name.title(), role=self.role)

    def cards(self) -> dict[str, Any]:
        return self.doc.get(CARDS, type=Map).to_py() or {}

    def edit(self, change: Any) -> bytes:
        """Make a local change (as the browser would) and return its update."""
        before = self.doc.get_state()
        with self.doc.transaction():
            change(self.doc.get(CARDS, type=Map))
        return self.doc.get_update(before)


def new_room(**settings: Any) -> RoomProtocol[Peer]:
    doc = new_board()
    room: RoomProtocol[Peer] = RoomProtocol(
        "room1",
        doc,
        pseudonyms=Pseudonyms(b"k" * 32).for_room("room1"),
        fanout_interval=INTERVAL,
    )
    with room.server_change():
        for key, value in {"phase": "explore", **settings}.items():
            meta_map(doc)[key] = value
    settle(room)
    return room


def settle(room: RoomProtocol[Peer], now: float = 1000.0) -> list[Outgoing[Peer]]:
    """Commit everything stored, run a due tick, and return what goes out."""
    room.take_stored()
    room.committed(room.stored_count)
    if room.next_tick(now) is not None:
        room.tick(max(now, room.next_tick(now) or now))
    return room.take_outgoing()


def deliver(room: RoomProtocol[Peer], frames: list[Outgoing[Peer]]) -> None:
    """Hand each frame to its recipients, as the asyncio shell does."""
    for item in frames:
        if isinstance(item.recipients, ToPeer):
            targets = [item.recipients.peer]
        else:
            targets = [p for p in room.peers if p is not item.recipients.skip]
        for peer in targets:
            message = decode_message(item.frame)
            peer.received.append(message)
            if isinstance(message, SyncStep2 | SyncUpdate):
                peer.doc.apply_update(message.update)


def join(room: RoomProtocol[Peer], peer: Peer) -> None:
    room.open(peer, peer.identity)
    assert room.receive(peer, SyncStep1(peer.doc.get_state())) is None
    deliver(room, settle(room))


def card(author: str, text: str = "idea", x: float = 0) -> Map:
    return Map({"text": Text(text), "x": x, "y": 0, "color": "#ffd966", "author": author})


def awareness_update(client_id: int, clock: int, state: dict[str, Any] | None) -> bytes:
    """A client's awareness update with this id, clock and state (pycrdt's encoder)."""
    awareness = Awareness(Doc(client_id=client_id))
    for _ in range(clock):  # each local change counts the clock up by one
        awareness.set_local_state(state if state is not None else {})
    if state is None:
        awareness.set_local_state(None)
    update = awareness.encode_awareness_update([client_id])
    return update


# -- convergence ----------------------------------------------------------------------------


def random_edit(peer: Peer, rng: random.Random, new_id: str) -> bytes:
    """Add a card, or move, type into or delete one of the peer's own (what rules allow)."""
    cards = peer.doc.get(CARDS, type=Map)
    own = [k for k, v in peer.cards().items() if v.get("author") == peer.name]
    action = rng.choice(["add", "add", "move", "type", "delete"]) if own else "add"
    before = peer.doc.get_state()
    with peer.doc.transaction():
        if action == "add":
            cards[new_id] = card(peer.name, f"card {new_id}")
        elif action == "move":
            cards[rng.choice(own)]["x"] = rng.random()
        elif action == "type":
            cards[rng.choice(own)]["text"].insert(0, "ā")
        else:
            del cards[rng.choice(own)]
    return peer.doc.get_update(before)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_peers_converge_under_random_operations(seed: int) -> None:
    rng = random.Random(seed)
    room = new_room()
    peers = [Peer(f"p{i}") for i in range(4)]
    for peer in peers:
        join(room, peer)
    undelivered: list[list[Outgoing[Peer]]] = []
    now = 1000.0
    for step in range(120):
        peer = rng.choice(peers)
        update = random_edit(peer, rng, f"{peer.name}-{step}")
        assert room.receive(peer, SyncUpdate(update)) is None
        # Output goes out in random-sized bursts, possibly out of step with the input.
        now += rng.choice([0.0, 0.01, INTERVAL])
        room.take_stored()
        if rng.random() < 0.7:
            room.committed(room.stored_count)
        due = room.next_tick(now)
        if due is not None and due <= now:
            room.tick(now)
        undelivered.append(room.take_outgoing())
        if rng.random() < 0.5:
            for frames in undelivered:
                deliver(room, frames)
            undelivered.clear()
    room.committed(room.stored_count)
    for frames in undelivered:
        deliver(room, frames)
    for _ in range(3):
        now += INTERVAL
        room.tick(now)
        deliver(room, settle(room, now))
    expected = room.doc.get(CARDS, type=Map).to_py()
    assert expected, "the run made cards"
    for peer in peers:
        assert peer.cards() == expected, f"{peer.name} converged"


# -- who gets what --------------------------------------------------------------------------


def test_a_batch_from_one_sender_is_not_sent_back_to_it() -> None:
    room = new_room()
    alice, bob, carol = Peer("alice"), Peer("bob"), Peer("carol")
    for peer in (alice, bob, carol):
        join(room, peer)
    update = alice.edit(lambda cards: cards.__setitem__("c1", card("alice")))
    assert room.receive(alice, SyncUpdate(update)) is None
    frames = settle(room)
    assert [f.recipients for f in frames] == [ToAll(alice)]
    deliver(room, frames)
    assert "c1" in bob.cards() and "c1" in carol.cards()
    assert not any(isinstance(m, SyncUpdate) for m in alice.received)


def test_a_mixed_batch_goes_to_everyone() -> None:
    room = new_room()
    alice, bob = Peer("alice"), Peer("bob")
    join(room, alice)
    join(room, bob)
    for peer, card_id in ((alice, "a"), (bob, "b")):
        update = peer.edit(lambda cards, i=card_id, p=peer: cards.__setitem__(i, card(p.name)))
        assert room.receive(peer, SyncUpdate(update)) is None
    frames = settle(room)
    assert [f.recipients for f in frames] == [ToAll(None)], "one merged update, for all"
    deliver(room, frames)
    assert set(alice.cards()) == set(bob.cards()) == {"a", "b"}


def test_one_tick_per_interval_under_load() -> None:
    room = new_room()
    alice, bob = Peer("alice"), Peer("bob")
    join(room, alice)
    join(room, bob)
    assert room.next_tick(2000.0) is None, "nothing to relay"
    first = alice.edit(lambda cards: cards.__setitem__("c1", card("alice")))
    room.receive(alice, SyncUpdate(first))
    assert room.next_tick(2000.0) == 2000.0, "idle: at once"
    room.tick(2000.0)
    second = alice.edit(lambda cards: cards["c1"].__setitem__("x", 5))
    room.receive(alice, SyncUpdate(second))
    room.take_stored()
    room.committed(room.stored_count)
    assert room.next_tick(2000.01) == pytest.approx(2000.0 + INTERVAL), "busy: one interval on"


# -- durable before visible -------------------------------------------------------------------


def test_a_relay_waits_for_its_commit_and_the_next_batch_grows_meanwhile() -> None:
    room = new_room()
    alice, bob = Peer("alice"), Peer("bob")
    join(room, alice)
    join(room, bob)
    room.receive(alice, SyncUpdate(alice.edit(lambda c: c.__setitem__("c1", card("alice")))))
    assert len(room.take_stored()) == 1
    first_count = room.stored_count
    room.tick(3000.0)
    assert room.take_outgoing() == [], "held until stored"
    assert room.waiting_for == first_count
    room.receive(alice, SyncUpdate(alice.edit(lambda c: c.__setitem__("c2", card("alice")))))
    room.take_stored()
    assert room.next_tick(3001.0) is None, "no second tick while the first waits"
    room.committed(first_count)
    frames = room.take_outgoing()
    assert len(frames) == 1 and frames[0].relay == room.relays
    deliver(room, frames)
    assert set(bob.cards()) == {"c1"}
    deliver(room, settle(room, 3001.0))
    assert set(bob.cards()) == {"c1", "c2"}


def test_a_sync_answer_waits_behind_uncommitted_content() -> None:
    room = new_room()
    alice, late = Peer("alice"), Peer("late")
    join(room, alice)
    room.receive(alice, SyncUpdate(alice.edit(lambda c: c.__setitem__("c1", card("alice")))))
    room.take_stored()
    room.open(late, late.identity)
    room.receive(late, SyncStep1(late.doc.get_state()))
    frames = room.take_outgoing()
    assert all(not isinstance(decode_message(f.frame), SyncStep2) for f in frames)
    room.committed(room.stored_count)
    deliver(room, frames + room.take_outgoing())
    assert "c1" in late.cards()


def test_a_lone_editors_change_needs_no_wait() -> None:
    room = new_room()
    alice = Peer("alice")
    join(room, alice)
    room.receive(alice, SyncUpdate(alice.edit(lambda c: c.__setitem__("c1", card("alice")))))
    room.take_stored()
    room.tick(4000.0)
    assert room.waiting_for is None, "nobody else would see it: nothing held"
    assert [f.recipients for f in room.take_outgoing()] == [ToAll(alice)]


# -- refusals --------------------------------------------------------------------------------


def test_a_refused_update_changes_nothing() -> None:
    room = new_room(phase="vote")  # participants may not add cards while voting
    alice, bob = Peer("alice"), Peer("bob")
    join(room, alice)
    join(room, bob)
    before = room.doc.get_state()
    stored = room.stored_count
    update = alice.edit(lambda cards: cards.__setitem__("c1", card("alice")))
    refusal = room.receive(alice, SyncUpdate(update))
    assert refusal is not None and refusal.peer is alice
    assert isinstance(refusal.error, Rejected) and refusal.error.rule == "phase"
    assert room.doc.get_state() == before
    assert room.stored_count == stored and room.take_stored() == []
    assert not room.batch_pending and room.take_outgoing() == []


def test_a_malformed_update_is_refused_as_a_protocol_error() -> None:
    room = new_room()
    alice = Peer("alice")
    join(room, alice)
    refusal = room.receive(alice, SyncUpdate(b"\x05\xff\xff"))
    assert refusal is not None and isinstance(refusal.error, ProtocolError)
    assert room.take_stored() == []


def test_observers_may_not_write_but_may_resync() -> None:
    room = new_room()
    alice, watcher = Peer("alice"), Peer("watcher", role=OBSERVER)
    join(room, alice)
    room.receive(alice, SyncUpdate(alice.edit(lambda c: c.__setitem__("c1", card("alice")))))
    deliver(room, settle(room))
    join(room, watcher)
    assert "c1" in watcher.cards()
    write = watcher.edit(lambda cards: cards.__setitem__("w", card("watcher")))
    refusal = room.receive(watcher, SyncUpdate(write))
    assert refusal is not None and isinstance(refusal.error, Rejected)
    assert refusal.error.rule == "observer"
    # Its own state as step 2 (on reconnect) brings nothing new: accepted.
    fresh = Peer("watcher2", role=OBSERVER)
    join(room, fresh)
    assert room.receive(fresh, SyncStep2(fresh.doc.get_update())) is None


def test_a_step_2_repeating_a_delete_set_already_sent_is_accepted() -> None:
    room = new_room()
    facilitator, alice = Peer("fac", role=FACILITATOR), Peer("alice")
    join(room, facilitator)
    join(room, alice)
    room.receive(alice, SyncUpdate(alice.edit(lambda c: c.__setitem__("c1", card("alice")))))
    deliver(room, settle(room))
    deletion = alice.edit(lambda cards: cards.pop("c1"))
    assert room.receive(alice, SyncUpdate(deletion)) is None
    deliver(room, settle(room))
    # The room moves on: participants may no longer delete anything.
    with room.server_change():
        meta_map(room.doc)["phase"] = "vote"
    deliver(room, settle(room))
    # On reconnect, Yjs sends its whole state as step 2, delete set included.
    assert room.receive(alice, SyncStep2(alice.doc.get_update())) is None
    assert "c1" not in room.doc.get(CARDS, type=Map)


# -- presence --------------------------------------------------------------------------------


def test_presence_goes_to_the_others_and_is_removed_on_close() -> None:
    room = new_room()
    alice, bob = Peer("alice"), Peer("bob")
    join(room, alice)
    join(room, bob)
    room.receive(alice, AwarenessMessage(awareness_update(11, 1, {"cursor": [1, 2]})))
    frames = settle(room)
    assert [f.recipients for f in frames] == [ToAll(alice)]
    assert 11 in room.awareness.states
    room.close(alice)
    assert 11 not in room.awareness.states
    frames = settle(room)
    assert [f.recipients for f in frames] == [ToAll(alice)], "bob hears alice go"
    assert alice not in room.peers


def test_an_echoed_presence_is_dropped() -> None:
    room = new_room()
    alice, bob = Peer("alice"), Peer("bob")
    join(room, alice)
    join(room, bob)
    published = awareness_update(11, 1, {"cursor": [1, 2]})
    room.receive(alice, AwarenessMessage(published))
    settle(room)
    # Stock y-websocket clients send back every state they receive: bob echoes alice's.
    assert room.receive(bob, AwarenessMessage(published)) is None
    assert not room.batch_pending, "nothing new to relay"
    # Nor may bob change or remove alice's state.
    room.receive(bob, AwarenessMessage(awareness_update(11, 5, None)))
    assert 11 in room.awareness.states and not room.batch_pending
    # Alice leaves; bob's late echo of her old state must not bring her back as his.
    room.close(alice)
    settle(room)
    assert room.receive(bob, AwarenessMessage(published)) is None
    assert 11 not in room.awareness.states and not room.batch_pending


def test_presence_carries_the_identity_of_its_connection() -> None:
    room = new_room()
    alice = Peer("alice")
    join(room, alice)
    forged = {"user": {"id": "someone-else", "name": "Boss"}}
    room.receive(alice, AwarenessMessage(awareness_update(11, 1, forged)))
    state = room.awareness.states[11]
    assert json.dumps(state).count("someone-else") == 0
    assert state["user"]["id"] == "alice"


def test_a_query_is_answered_to_the_asker_only() -> None:
    room = new_room()
    alice, bob = Peer("alice"), Peer("bob")
    join(room, alice)
    join(room, bob)
    room.receive(alice, AwarenessMessage(awareness_update(11, 1, {"cursor": [0, 0]})))
    settle(room)
    room.receive(bob, QueryAwareness())
    frames = room.take_outgoing()
    assert [f.recipients for f in frames] == [ToPeer(bob)]


# -- the server's own changes -------------------------------------------------------------------


def test_a_server_change_is_stored_relayed_to_all_and_rereads_the_settings() -> None:
    room = new_room()
    alice = Peer("alice")
    join(room, alice)
    assert not room.rules.locked
    with room.server_change():
        meta_map(room.doc)["locked"] = True
    assert room.rules.locked, "settings re-read after the change"
    assert len(room.take_stored()) == 1
    room.committed(room.stored_count)
    room.tick(5000.0)
    assert [f.recipients for f in room.take_outgoing()] == [ToAll(None)]
