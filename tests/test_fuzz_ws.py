"""Property-based fuzzing of real WebSocket connections: random and mutated frames.

Each example opens a connection to a real server, sends a few frames (random bytes,
valid frames with bytes mutated, deep awareness states, text frames) and then a probe.
The server either answers the probe (the frames were acceptable) or closes with one of the
documented codes for bad input — never 1011 (a server bug) and never without a close frame.
Afterwards the room still serves everyone else.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycrdt import (
    Doc,
    Map,
    Text,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    write_var_uint,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from server.config import Settings
from tests.support.fuzzing import fuzz_settings, mutate
from tests.support.threaded import ThreadedServer
from tests.support.yclient import YClient, wait_until

#: What bad input may end in (docs/protocol.md, "Close codes").
BAD_INPUT_CLOSES = {1009, 4400, 4408, 4409}
#: Sync step 1 with an empty state vector: a connection still open answers with step 2.
PROBE = b"\x00\x00\x01\x00"


@dataclass(repr=False)
class Live:
    threaded: ThreadedServer
    ws_url: str
    room: str
    tokens: list[str]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz-ws") / "data"
    threaded = ThreadedServer(
        Settings(data_dir=data_dir, secret="fuzz-secret-0123456789abcdef", log_level="critical")
    )
    server = threaded.start()
    try:
        info = threaded.run(server.create_room("Fuzz"))
        participant = threaded.run(server.join(info.code, "Anna"))
        observer = threaded.run(server.join(info.code, "Projector", role="observer"))
        yield Live(
            threaded,
            server.ws_url,
            info.room,
            [info.token, participant["token"], observer["token"]],
        )
    finally:
        threaded.stop()


def _valid_frames(author: str) -> list[bytes]:
    doc: Doc = Doc()
    cards = doc.get("cards", type=Map)
    cards[f"f{author}"] = Map({"text": Text("fuzz"), "x": 1.0, "y": 2.0, "author": author})
    state = b'{"user":{"name":"x","color":"#abc"},"cursor":{"x":1,"y":2}}'
    awareness = bytes([1]) + write_var_uint(doc.client_id) + b"\x01" + bytes([len(state)]) + state
    return [
        create_update_message(doc.get_update()),
        create_sync_message(doc),
        create_awareness_message(awareness),
        b"\x03",
    ]


def _deep_awareness(depth: int, client: int) -> bytes:
    # A fresh client id each time: a known id with a seen clock is an echo, skipped unread.
    state = ('{"user":' + "[" * depth + "]" * depth + "}").encode()
    update = b"\x01" + write_var_uint(client) + b"\x01" + write_var_uint(len(state)) + state
    return b"\x01" + write_var_uint(len(update)) + update


@st.composite
def frame_lists(draw: st.DrawFn) -> list[bytes | str]:
    valid = _valid_frames(draw(st.sampled_from(["p_fuzz", ""])))
    frame = (
        st.binary(max_size=120)
        | st.builds(
            lambda base, seed: mutate(base, random.Random(seed)),
            st.sampled_from(valid),
            st.integers(0, 2**32),
        )
        | st.builds(
            _deep_awareness,
            st.sampled_from([150, 250, 1200, 2000, 5000]),
            st.integers(1, 2**32),
        )
        | st.sampled_from(valid)
        | st.text(max_size=10)
    )
    return draw(st.lists(frame, min_size=1, max_size=4))


def exchange(url: str, frames: list[bytes | str]) -> int | None:
    """Send the frames and the probe; None if the server answered it, else its close code."""
    with connect(url, max_size=None, open_timeout=10, close_timeout=2) as ws:
        try:
            for frame in [*frames, PROBE]:
                ws.send(frame)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                reply = ws.recv(timeout=deadline - time.monotonic())
                if isinstance(reply, bytes) and reply.startswith(b"\x00\x01"):
                    return None
            raise AssertionError("neither an answer to the probe nor a close within 10 s")
        except ConnectionClosed:
            return ws.close_code


@fuzz_settings(ci_examples=150)
@given(frames=frame_lists(), which=st.integers(0, 2))
def test_random_frames_close_only_with_documented_codes(
    live: Live, frames: list[bytes | str], which: int
) -> None:
    url = f"{live.ws_url}/ws/rooms/{live.room}?token={live.tokens[which]}"
    code = exchange(url, frames)
    assert code is None or code in BAD_INPUT_CLOSES, (code, frames)


def test_the_room_keeps_serving_after_the_fuzz(live: Live) -> None:
    async def still_syncing() -> None:
        writer = await YClient(live.ws_url, live.room, live.tokens[0]).connect()
        watcher = await YClient(live.ws_url, live.room, live.tokens[1]).connect()
        writer.cards["after"] = writer.card("after the fuzz")
        await wait_until(lambda: "after" in watcher.cards, message="relay after the fuzz")
        await writer.close()
        await watcher.close()

    live.threaded.run(asyncio.wait_for(still_syncing(), 30))
