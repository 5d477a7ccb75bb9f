"""The pure protocol layer, without sockets: frames and awareness updates in, typed values out."""

from __future__ import annotations

import pytest
from pycrdt import (
    Awareness,
    Doc,
    Map,
    Text,
    create_awareness_message,
    create_sync_message,
    create_update_message,
)

from server.crdt.awareness import (
    AnonymousPresence,
    AwarenessEntry,
    Identity,
    bind_identity,
    decode_awareness_update,
    encode_awareness_update,
)
from server.crdt.board import board_to_json, doc_from_updates
from server.crdt.errors import ProtocolError
from server.crdt.messages import (
    AwarenessMessage,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_query_awareness,
    encode_sync_step2,
)


def sample_doc() -> Doc:
    doc: Doc = Doc()
    doc.get("cards", type=Map)["c1"] = Map({"text": Text("idea"), "x": 1.0, "y": 2.0})
    return doc


def test_decodes_what_pycrdt_encodes() -> None:
    doc = sample_doc()
    assert decode_message(create_sync_message(doc)) == SyncStep1(doc.get_state())
    assert decode_message(create_update_message(doc.get_update())) == SyncUpdate(doc.get_update())
    assert decode_message(encode_sync_step2(b"\x00\x00")) == SyncStep2(b"\x00\x00")
    awareness = Awareness(doc)
    awareness.set_local_state({"user": {"name": "A"}})
    payload = awareness.encode_awareness_update([doc.client_id])
    assert decode_message(create_awareness_message(payload)) == AwarenessMessage(payload)
    assert decode_message(encode_query_awareness()) == QueryAwareness()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "empty frame"),
        (b"\x09", "unknown message type 9"),
        (b"\x00", "truncated message (varuint)"),
        (b"\x00\x05\x00", "unknown sync message type 5"),
        (b"\x00\x02\x05ab", "truncated message (declared 5 bytes, 2 left)"),
        (b"\x00\x02\x01ab", "1 unexpected trailing bytes"),
        (b"\x80" * 9, "varuint too long"),
        (b"\xff\xff\xff\xff\xff\xff\xff\x7f", "varuint out of range"),
    ],
)
def test_malformed_frames_raise(frame: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_message(frame)
    assert str(caught.value) == reason
    assert caught.value.reason == f"malformed message: {reason}"


def test_awareness_round_trip_includes_removals() -> None:
    entries = [
        AwarenessEntry(7, 3, {"user": {"name": "Anna"}, "cursor": {"x": 1, "y": 2}}),
        AwarenessEntry(9, 4, None),
    ]
    encoded = encode_awareness_update(entries)
    assert decode_awareness_update(encoded) == entries
    # pycrdt's own Awareness reads what we write: a removal of a known client included.
    peer = Awareness(Doc())
    peer.apply_awareness_update(encode_awareness_update([AwarenessEntry(9, 4, {})]), "x")
    assert 9 in peer.states
    peer.apply_awareness_update(encoded, "x")
    assert 9 not in peer.states
    assert peer.states[7]["user"]["name"] == "Anna"


def test_bind_identity_overwrites_user_and_keeps_safe_fields() -> None:
    me = Identity(participant="p_1", name="Anna", role="participant")
    state = {"user": {"name": "Boss", "id": "p_x", "color": "#abc", "admin": True}, "cursor": None}
    assert bind_identity(state, me) == {
        "user": {"name": "Anna", "id": "p_1", "role": "participant", "color": "#abc"},
        "cursor": None,
    }
    assert bind_identity({"user": "nonsense"}, me)["user"] == {
        "name": "Anna",
        "id": "p_1",
        "role": "participant",
    }
    assert "color" not in bind_identity({"user": {"color": "x" * 100}}, me)["user"]


def test_bind_identity_in_an_anonymous_room_shows_a_label_and_an_alias() -> None:
    me = Identity(participant="p_1", name="Anna", role="participant")
    state = {"user": {"name": "Anna", "id": "p_1", "color": "#abc"}, "cursor": {"x": 1, "y": 2}}
    bound = bind_identity(state, me, AnonymousPresence("u_alias", 3))
    # no name, no id, and no color (clients derive colors from ids: it would link the two)
    assert bound == {
        "user": {"name": "Participant 3", "id": "u_alias", "number": 3, "role": "participant"},
        "cursor": {"x": 1, "y": 2},
    }
    observer = Identity(participant="p_2", name="Olga", role="observer")
    assert bind_identity({}, observer, AnonymousPresence("u_o", 4))["user"]["name"] == "Observer 4"


def test_board_json_follows_the_contract() -> None:
    doc = sample_doc()
    doc.get("clusters", type=Map)["k"] = Map({"title": Text("Mobility"), "x": 0.0, "w": 300.0})
    copy = doc_from_updates([doc.get_update()])
    assert board_to_json(copy) == {
        "cards": [{"id": "c1", "text": "idea", "x": 1, "y": 2}],
        "clusters": [{"id": "k", "title": "Mobility", "x": 0, "w": 300}],
        "meta": {},
        "votes": {},
    }
