"""Interop with the real thing: stock `yjs` + npm `y-websocket` clients in Node.

Each `NodeClient` is one `node tests/interop/client.mjs` process — a `Y.Doc` with the
`WebsocketProvider` the browser uses — driven step by step over stdin/stdout JSON lines.
The Python side is `YClient` (pycrdt), so every exchange crosses two independent
implementations through the real server.

Requirements: `node` (>= 20) and the pinned packages, installed with
`npm ci --prefix tests/interop` (scripts/test.sh, and so .ci/run, does this). The tests
fail with that command in the message when they are missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Text

from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, card, wait_until

INTEROP = Path(__file__).resolve().parent
CLIENT = INTEROP / "client.mjs"
INSTALL_COMMAND = "npm ci --prefix tests/interop"
TIMEOUT = 10.0  # for any single expected event
LIFETIME = 60  # seconds after which a Node client exits by itself, whatever happens


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` (>= 20) is not on PATH: the yjs interop tests need Node.js")
    for package in ("yjs", "y-websocket", "y-protocols", "ws"):
        if not (INTEROP / "node_modules" / package / "package.json").is_file():
            pytest.fail(
                f"tests/interop/node_modules/{package} is missing: run `{INSTALL_COMMAND}` "
                "(scripts/test.sh does) before the interop tests"
            )
    return node


class NodeClient:
    """One `client.mjs` process: a real Yjs client, its events recorded as they arrive."""

    def __init__(self, node: str, label: str) -> None:
        self.node = node
        self.label = label
        self.process: asyncio.subprocess.Process | None = None
        self.client_id: int | None = None
        self.synced = False
        self.status = "new"
        self.board: dict[str, Any] = {"cards": {}, "clusters": {}}
        self.states: dict[int, dict[str, Any]] = {}
        self.closes: list[dict[str, Any]] = []
        self.exit_reason: str | None = None
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._replies: dict[int, dict[str, Any]] = {}
        self._seq = 0
        self._tasks: list[asyncio.Task[None]] = []

    # -- process ---------------------------------------------------------------------------

    async def start(self, ws_url: str, room: str, token: str) -> NodeClient:
        self.process = await asyncio.create_subprocess_exec(
            self.node, str(CLIENT),
            "--url", f"{ws_url}/ws/rooms", "--room", room,
            "--label", self.label, "--lifetime", str(LIFETIME),
            cwd=INTEROP,
            env={**os.environ, "KOPRADE_TOKEN": token},  # not in argv, where `ps` shows it
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=4 * 1024 * 1024,
        )  # fmt: skip
        self._tasks = [
            asyncio.ensure_future(self._read_events()),
            asyncio.ensure_future(self._read_stderr()),
        ]
        await self.wait_for(lambda: self.synced, "first sync")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def _read_events(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            try:
                event = json.loads(line)
            except ValueError:
                self.stderr.append(f"(stdout, not JSON) {line.decode(errors='replace')}")
                continue
            self.events.append(event)
            self._handle(event)

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.stderr.append(line.decode(errors="replace"))

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "ready":
            self.client_id = event["client_id"]
        elif kind == "synced":
            self.synced = event["synced"]
        elif kind == "status":
            self.status = event["status"]
        elif kind == "board":
            self.board = {"cards": event["cards"], "clusters": event["clusters"]}
        elif kind == "awareness":
            self.states = {int(key): value for key, value in event["states"].items()}
        elif kind == "closed":
            self.closes.append(event)
        elif kind == "exit":
            self.exit_reason = event["reason"]
        elif kind in ("ack", "error") and event.get("seq") is not None:
            self._replies[event["seq"]] = event

    def describe(self) -> str:
        tail = "".join(self.stderr[-20:]) or "(empty)\n"
        code = None if self.process is None else self.process.returncode
        return f"Node client {self.label!r} (pid {self.pid}, exit {code}); stderr:\n{tail}"

    # -- driving ---------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[], bool], message: str, timeout: float = TIMEOUT
    ) -> None:
        """Poll until predicate() holds; fail at once (with stderr) if the process died."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if not self.running and all(task.done() for task in self._tasks):
                raise AssertionError(f"{message}: the process ended.\n{self.describe()}")
            if loop.time() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {message}.\n{self.describe()}"
                )
            await asyncio.sleep(0.01)

    async def command(self, op: str, **fields: Any) -> None:
        """Send one command and wait until the client acknowledged having run it."""
        assert self.process is not None and self.process.stdin is not None
        self._seq += 1
        seq = self._seq
        line = json.dumps({"op": op, "seq": seq, **fields}) + "\n"
        self.process.stdin.write(line.encode())
        await asyncio.wait_for(self.process.stdin.drain(), TIMEOUT)
        await self.wait_for(lambda: seq in self._replies, f"the ack of {op}")
        reply = self._replies[seq]
        assert reply["event"] == "ack", f"{op} failed in Node: {reply}\n{self.describe()}"

    def peers(self) -> dict[int, dict[str, Any]]:
        return {cid: state for cid, state in self.states.items() if cid != self.client_id}

    def text(self, card_id: str) -> str | None:
        found = self.board["cards"].get(card_id)
        return None if found is None else found.get("text")

    # -- ending ----------------------------------------------------------------------------

    async def quit(self) -> int:
        """Graceful: provider.destroy() and exit; returns the exit status."""
        await self.command("quit")
        return await self.wait_exit()

    async def kill(self) -> int:
        """SIGKILL by PID: the socket vanishes without a close frame or awareness removal."""
        os.kill(self.pid, signal.SIGKILL)
        return await self.wait_exit()

    async def wait_exit(self, timeout: float = TIMEOUT) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"did not exit in {timeout}s.\n{self.describe()}") from None

    async def cleanup(self) -> None:
        """Make sure the process is gone (SIGKILL by PID) and its pipes are read to the end."""
        if self.process is None:
            return
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), TIMEOUT)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=TIMEOUT)
            for task in pending:
                task.cancel()


StartNode = Callable[[str, str, str], Awaitable[NodeClient]]


@pytest.fixture
async def start_node(server: InProcessServer) -> AsyncIterator[StartNode]:
    """Start Node clients against the test's server; every one is killed at the end."""
    node = node_executable()
    started: list[NodeClient] = []

    async def start(room: str, token: str, label: str = "node") -> NodeClient:
        client = NodeClient(node, label)
        started.append(client)
        return await client.start(server.ws_url, room, token)

    try:
        yield start
    finally:
        for client in started:
            await client.cleanup()


def now_ms() -> float:
    return time.time() * 1000


# ---------------------------------------------------------------------------------- tests


async def test_cards_and_edits_cross_between_yjs_and_pycrdt(
    server: InProcessServer, start_node: StartNode
) -> None:
    info = await server.create_room("Interop")
    anna = await server.join(info.code, "Anna")
    node = await start_node(info.room, anna["token"], "anna")
    python = await YClient(server.ws_url, info.room, info.token).connect()

    # Yjs -> pycrdt: a card exactly as the contract (docs/protocol.md §4) describes it.
    before = now_ms()
    await node.command(
        "add_card", id="card-node", text="Bus stops with benches",
        x=10.5, y=20, color="#ffd966", author=anna["participant"],
    )  # fmt: skip
    await wait_until(lambda: "card-node" in python.cards, TIMEOUT, "Node's card at pycrdt")
    written = python.cards["card-node"]
    assert isinstance(written["text"], Text)
    assert str(written["text"]) == "Bus stops with benches"
    assert (written["x"], written["y"]) == (10.5, 20)
    assert written["color"] == "#ffd966"
    assert written["author"] == anna["participant"]
    assert before - 1000 <= written["created"] <= now_ms() + 1000
    assert "cluster" not in written

    # pycrdt -> Yjs: an edit of that card's text and a card of its own.
    text = written["text"]
    text += " and shade"
    python.cards["card-python"] = card("Late buses", x=-5, y=7.25, author="p_python")
    await node.wait_for(
        lambda: (
            node.text("card-node") == "Bus stops with benches and shade"
            and node.text("card-python") == "Late buses"
        ),
        "pycrdt's edit and card at Node",
    )
    from_python = node.board["cards"]["card-python"]
    assert (from_python["x"], from_python["y"], from_python["color"]) == (-5, 7.25, "#ffd966")

    # Both again, interleaved on the same text: the merge is identical on both sides.
    await node.command("edit_text", id="card-node", insert="Wide ", index=0)
    text = python.cards["card-node"]["text"]
    text += "!"
    await node.wait_for(
        lambda: node.text("card-node") == "Wide Bus stops with benches and shade!",
        "both edits at Node",
    )
    await wait_until(
        lambda: str(python.cards["card-node"]["text"]) == node.text("card-node"),
        TIMEOUT,
        "both edits at pycrdt",
    )
    assert python.board() == node.board

    # The server reads the Yjs-written card per the contract.
    export = await server.export_board(info.room, info.token)
    exported = {entry["id"]: entry for entry in export["cards"]}
    assert exported["card-node"] == {
        "id": "card-node",
        "text": "Wide Bus stops with benches and shade!",
        "x": 10.5,
        "y": 20,
        "color": "#ffd966",
        "author": anna["participant"],
        "created": node.board["cards"]["card-node"]["created"],
    }
    await python.close()
    assert await node.quit() == 0


async def test_two_yjs_clients_converge_through_the_server(
    server: InProcessServer, start_node: StartNode
) -> None:
    info = await server.create_room("Two tablets")
    anna = await server.join(info.code, "Anna")
    bob = await server.join(info.code, "Bob")
    first = await start_node(info.room, anna["token"], "anna")
    second = await start_node(info.room, bob["token"], "bob")
    p_a, p_b = anna["participant"], bob["participant"]

    await first.command("add_card", id="a1", text="Shared taxis", x=1, y=2, author=p_a)
    await second.wait_for(lambda: second.text("a1") == "Shared taxis", "a1 at the second")

    # Edits on both sides at once, the same text included: no ordering between them.
    await asyncio.gather(
        first.command("edit_text", id="a1", append=" for rural areas"),
        second.command("edit_text", id="a1", insert="Cheap ", index=0),
        first.command("add_card", id="a2", text="Ride sharing app", author=p_a),
        second.command("add_card", id="b1", text="Volunteer drivers", author=p_b),
        second.command("move_card", id="a1", x=300, y=400),
    )
    want = {"a1", "a2", "b1"}
    for client in (first, second):
        await client.wait_for(
            lambda c=client: (
                set(c.board["cards"]) == want
                and "Cheap " in c.text("a1")
                and "for rural areas" in c.text("a1")
            ),
            f"all edits at {client.label}",
        )
    await first.wait_for(lambda: first.board == second.board, "the two boards to converge")
    assert first.text("a1") == "Cheap Shared taxis for rural areas"
    assert (first.board["cards"]["a1"]["x"], first.board["cards"]["a1"]["y"]) == (300, 400)
    assert await first.quit() == 0
    assert await second.quit() == 0


async def _presence_room(
    server: InProcessServer, start_node: StartNode
) -> tuple[NodeClient, NodeClient, YClient, dict[str, Any]]:
    """Anna (Node) publishes a spoofed identity; Bob (Node) and a pycrdt client watch."""
    info = await server.create_room("Presence")
    anna_join = await server.join(info.code, "Anna")
    anna = await start_node(info.room, anna_join["token"], "anna")
    bob = await start_node(info.room, (await server.join(info.code, "Bob"))["token"], "bob")
    python = await YClient(server.ws_url, info.room, info.token).connect()

    spoof = {"user": {"name": "Spoof", "color": "#123456", "id": "x"}, "cursor": {"x": 1, "y": 2}}
    await anna.command("set_presence", state=spoof)
    bound = {
        "user": {
            "name": "Anna",
            "id": anna_join["participant"],
            "role": "participant",
            "color": "#123456",
        },
        "cursor": {"x": 1, "y": 2},
    }
    assert anna.client_id is not None
    await wait_until(
        lambda: python.peers().get(anna.client_id) == bound, TIMEOUT, "Anna's bound state at pycrdt"
    )
    await bob.wait_for(lambda: bob.peers().get(anna.client_id) == bound, "Anna's state at Bob")

    # Cursor moves are relayed, still bound to the token.
    await anna.command("set_cursor", x=300, y=150)
    moved = {**bound, "cursor": {"x": 300, "y": 150}}
    await wait_until(
        lambda: python.peers().get(anna.client_id) == moved, TIMEOUT, "the cursor move at pycrdt"
    )
    await bob.wait_for(lambda: bob.peers().get(anna.client_id) == moved, "the cursor move at Bob")

    # Bob published only y-protocols' initial `{}` at clock 0, which no awareness (Yjs's,
    # pycrdt's, the server's) applies, and echoes of Anna's state, which the server drops.
    assert set(python.peers()) == {anna.client_id}
    return anna, bob, python, anna_join


async def test_presence_is_bound_relayed_and_removed_on_quit(
    server: InProcessServer, start_node: StartNode
) -> None:
    anna, bob, python, _ = await _presence_room(server, start_node)
    # The pycrdt client's spoof is bound as well, as a Yjs client sees it.
    await python.set_presence({"user": {"name": "Spoof", "id": "x"}, "cursor": None})
    await bob.wait_for(
        lambda: (
            bob.peers().get(python.doc.client_id, {}).get("user", {}).get("name") == "Facilitator"
        ),
        "pycrdt's bound state at Bob",
    )
    assert bob.peers()[python.doc.client_id]["user"]["role"] == "facilitator"

    assert await anna.quit() == 0
    await wait_until(
        lambda: anna.client_id not in python.peers(), TIMEOUT, "Anna's removal at pycrdt"
    )
    await bob.wait_for(lambda: anna.client_id not in bob.peers(), "Anna's removal at Bob")
    await python.close()
    await bob.wait_for(lambda: python.doc.client_id not in bob.peers(), "pycrdt's removal at Bob")
    assert await bob.quit() == 0


async def test_presence_removed_when_the_yjs_client_is_killed(
    server: InProcessServer, start_node: StartNode
) -> None:
    anna, bob, python, _ = await _presence_room(server, start_node)
    assert await anna.kill() == -signal.SIGKILL
    await wait_until(
        lambda: anna.client_id not in python.peers(), TIMEOUT, "Anna's removal at pycrdt"
    )
    await bob.wait_for(lambda: anna.client_id not in bob.peers(), "Anna's removal at Bob")
    await python.close()
    assert await bob.quit() == 0


async def test_yjs_client_merges_offline_edits_on_reconnect(
    server: InProcessServer, start_node: StartNode
) -> None:
    info = await server.create_room("Offline")
    python = await YClient(server.ws_url, info.room, info.token).connect()
    python.cards["shared"] = card("shared")
    tablet_join = await server.join(info.code, "Tablet")
    tablet = await start_node(info.room, tablet_join["token"], "tablet")
    await tablet.wait_for(lambda: tablet.text("shared") == "shared", "the initial card")
    await tablet.command("set_cursor", x=5, y=5)
    assert tablet.client_id is not None
    await wait_until(lambda: tablet.client_id in python.peers(), TIMEOUT, "tablet presence")

    await tablet.command("disconnect")  # provider.disconnect(): Wi-Fi gone
    await tablet.wait_for(lambda: tablet.status == "disconnected", "the tablet to go offline")
    await wait_until(lambda: tablet.client_id not in python.peers(), TIMEOUT, "the tablet to leave")
    await tablet.command(
        "add_card", id="offline-1", text="written offline", author=tablet_join["participant"]
    )
    await tablet.command("edit_text", id="shared", append=" (tablet)")
    python.cards["online-1"] = card("written online meanwhile")
    text = python.cards["shared"]["text"]
    text.insert(0, "[online] ")
    assert not tablet.synced
    assert "online-1" not in tablet.board["cards"]

    await tablet.command("connect")  # provider.connect(): back online
    await tablet.wait_for(lambda: tablet.synced, "the tablet to sync again")
    await wait_until(lambda: "offline-1" in python.cards, TIMEOUT, "the offline card at pycrdt")
    await tablet.wait_for(lambda: "online-1" in tablet.board["cards"], "the online card")
    await tablet.wait_for(lambda: python.board() == tablet.board, "the boards to converge")
    assert tablet.text("shared") == "[online] shared (tablet)"
    # Presence comes back with the tablet's next awareness change. (Its first message after
    # reconnecting re-sends the state at the clock everyone already saw removed, which stock
    # y-protocols ignores everywhere; web/src/board/presence.js re-announces on connect for that.)
    await tablet.command("set_cursor", x=6, y=6)
    await wait_until(
        lambda: (
            python.peers().get(tablet.client_id, {}).get("user", {}).get("id")
            == tablet_join["participant"]
        ),
        TIMEOUT,
        "the tablet's presence again",
    )
    await python.close()
    assert await tablet.quit() == 0
