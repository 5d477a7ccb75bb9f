"""Pseudonyms of anonymous rooms: stable with the secret, unlinkable without it."""

from __future__ import annotations

from server.crdt.pseudonyms import Pseudonyms


def test_stable_per_secret_and_room_and_different_across_them() -> None:
    room = Pseudonyms(b"s" * 32).for_room("room1")
    again = Pseudonyms(b"s" * 32).for_room("room1")  # a restarted server
    assert room.author("p_1") == again.author("p_1")
    assert room.author("p_1").startswith("a_") and "p_1" not in room.author("p_1")
    assert room.author("p_1") != room.author("p_2")
    assert room.author("p_1") != Pseudonyms(b"s" * 32).for_room("room2").author("p_1")
    assert room.author("p_1") != Pseudonyms(b"t" * 32).for_room("room1").author("p_1")
    # author, presence and client-id stand-ins are unrelated to one another
    assert room.presence("p_1").startswith("u_")
    assert room.presence("p_1")[2:] != room.author("p_1")[2:]


def test_client_id_aliases_are_positive_32_bit_and_stable() -> None:
    room = Pseudonyms(b"s" * 32).for_room("room1")
    aliases = {room.client_id(n) for n in range(2000)}
    assert all(0 < alias < 2**31 for alias in aliases)
    assert len(aliases) == 2000
    assert room.client_id(7) == Pseudonyms(b"s" * 32).for_room("room1").client_id(7)


def test_resolver_maps_pseudonyms_back() -> None:
    room = Pseudonyms(b"s" * 32).for_room("room1")
    assert room.resolver(["p_1", "p_2"]) == {room.author("p_1"): "p_1", room.author("p_2"): "p_2"}
