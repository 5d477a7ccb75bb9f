"""Stream entries between processes (server/cluster/envelope.py): every kind survives the
round trip, and what cannot be read is refused as a `BadEntry`, never anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.cluster.envelope import (
    BadEntry,
    Call,
    CloseConnection,
    Closed,
    Delivered,
    Opened,
    PeerKey,
    Received,
    Relayed,
    Reply,
    Wake,
    decode_inbound,
    decode_outbound,
    encode_inbound,
    encode_outbound,
)
from server.tokens import Claims

CLAIMS = Claims(room="r1", participant="p_1", name="Anna Bērziņa", role="participant", issued_at=7)
PEER = PeerKey("host-1-ab12", 42)


@pytest.mark.parametrize(
    "entry",
    [
        Opened("r1", PEER, CLAIMS),
        Received("r1/p_1", PEER, CLAIMS, b"\x00\x02\x01\x00"),
        Closed("r1", PEER),
        Call("host-1-ab12", "c7", {"method": "POST", "path": "/api/x", "headers": []}, b"{}"),
    ],
)
def test_inbound_entries_round_trip(entry: object) -> None:
    assert decode_inbound(encode_inbound(entry)) == entry  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "entry",
    [
        Relayed("r1", "n1", 3, PEER, b"\x00\x02"),
        Relayed("r1", "n1", 3, None, b""),
        Delivered("r1/p_1", "n1", 1, (1, 5, 9), b"\x01"),
        CloseConnection("r1", "n1", 2, 5, 4409, "phase changed: ļ", b"\x64"),
        CloseConnection("r1", "n1", 2, 5, 1012, "moved", None),
        Reply("c7", 201, [("content-type", "application/json")], b'{"ok":true}'),
        Wake(),
    ],
)
def test_outbound_entries_round_trip(entry: object) -> None:
    assert decode_outbound(encode_outbound(entry)) == entry  # type: ignore[arg-type]


@given(st.dictionaries(st.binary(max_size=3), st.binary(max_size=20), max_size=6))
def test_any_garbage_is_a_bad_entry_or_an_entry(fields: dict[bytes, bytes]) -> None:
    for decode in (decode_inbound, decode_outbound):
        try:
            decode(fields)
        except BadEntry:
            pass


def test_a_peer_key_names_gateway_and_connection() -> None:
    assert PeerKey.decode(PeerKey("a b-1", 3).encode()) == PeerKey("a b-1", 3)
    with pytest.raises(BadEntry):
        PeerKey.decode(b"no-number")
