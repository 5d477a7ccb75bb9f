"""Property-based fuzzing of the frame decoder: any bytes raise ProtocolError or decode.

Covers what a client's frame meets before the room's document: the y-websocket message
decoder, the awareness scan and each entry's JSON, and the Yjs update reader with the
placement of its structs. Random bytes, and valid frames with a few bytes mutated.
"""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text, create_awareness_message, create_update_message

from server.crdt.awareness import scan_awareness_update
from server.crdt.errors import ProtocolError
from server.crdt.locations import LocationIndex
from server.crdt.messages import AwarenessMessage, SyncStep2, SyncUpdate, decode_message
from server.crdt.yupdate import decode_update, refuse_unsupported_content
from tests.support.fuzzing import fuzz_settings, mutate


def _valid_frames() -> list[bytes]:
    doc: Doc = Doc()
    cards = doc.get("cards", type=Map)
    cards["c1"] = Map({"text": Text("hello ☃"), "x": 1.5, "y": -2, "author": "p_1"})
    first = doc.get_update()
    after_first = doc.get_state()
    cards["c1"]["text"] += " world"
    cards["c2"] = Map({"tags": Array([1, "two", {"three": [3]}]), "created": 2**40})
    del cards["c1"]
    second = doc.get_update(after_first)
    state = b'{"user":{"name":"Anna","color":"#abc"},"cursor":{"x":1,"y":2}}'
    awareness = bytes([1, 0x87, 0xAD, 0x4B, 3, len(state)]) + state
    return [
        create_update_message(first),
        create_update_message(second),
        b"\x00\x01" + bytes([len(first) & 0x7F]) + first[:127],
        b"\x00\x00\x01\x00",
        create_awareness_message(awareness),
        b"\x03",
    ]


VALID_FRAMES = _valid_frames()


def read_frame(frame: bytes) -> None:
    """Everything the server reads from one frame before applying it; ProtocolError only."""
    try:
        message = decode_message(frame)
        if isinstance(message, AwarenessMessage):
            for entry in scan_awareness_update(message.update):
                entry.parse()
        elif isinstance(message, SyncUpdate | SyncStep2):
            decoded = decode_update(message.update)
            refuse_unsupported_content(decoded)
            LocationIndex().place(decoded)
    except ProtocolError:
        pass


@fuzz_settings(ci_examples=1500)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_errors(frame: bytes) -> None:
    read_frame(frame)


@fuzz_settings(ci_examples=1500)
@given(st.sampled_from(VALID_FRAMES), st.integers(0, 2**32))
def test_mutated_frames_raise_only_protocol_errors(frame: bytes, seed: int) -> None:
    read_frame(mutate(frame, random.Random(seed)))


@fuzz_settings(ci_examples=300)
@given(st.binary(max_size=300))
def test_random_awareness_payloads_raise_only_protocol_errors(payload: bytes) -> None:
    read_frame(create_awareness_message(payload))
