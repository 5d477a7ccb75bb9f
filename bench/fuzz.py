"""A long fuzz run against a real server process (not CI): frames and HTTP requests.

Starts `python -m server serve` on a fresh data directory, then sends
* `--frames` WebSocket frames read by the server (default one million, counted by its own
  /metrics) over many short connections: valid frames of a participant (cursor moves, new
  cards, text edits, sync steps), and, `--bad-ratio` of them (default 10 %), broken ones:
  valid frames with bytes mutated, random bytes, deep awareness states, text frames. The
  server closes a connection at its first refused frame, so a client writes more frames
  than the server reads; both counts are reported;
* `--requests` HTTP requests (default 10,000) of random and mutated bodies, query strings
  and tokens to every API route,
and reports crashes of the server process (must be 0), HTTP 5xx (must be 0), WebSocket
closes with 1011 or without a close frame (must be 0), the close codes seen, and the
server's resident memory before and after.

    .venv/bin/python bench/fuzz.py [--frames 1000000] [--requests 10000] [--time-limit 3600]

The run stops early at `--time-limit` seconds and reports what it did by then. The figures
of a run are in docs/benchmarks.md ("Fuzzing a real server").
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from pycrdt import Doc, Map, Text, create_awareness_message, create_update_message, write_var_uint

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fuzzing import mutate  # noqa: E402
from tests.support.servers import ServerProcess  # noqa: E402
from tests.support.yclient import YClient, wait_until  # noqa: E402

PROBE = b"\x00\x00\x01\x00"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- random input ------------------------------------------------------------------------------


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 2**63, 10**30, 1.5, float("nan"), float("inf"), 1e308])
    if kind in (3, 4, 5):
        alphabet = "aZ09 _-.ā☃\u0000\u200b²"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind in (6, 7):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {random_json_key(rng): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def random_json_key(rng: random.Random) -> str:
    return rng.choice(
        ["title", "name", "code", "invite", "role", "command", "phases", "seconds", "x", ""]
    )


class Frames:
    """Frames of one participant: valid ones to start from, and ways to break them."""

    def __init__(self, participant: str, rng: random.Random, *, observer: bool = False) -> None:
        self.rng = rng
        doc: Doc = Doc()
        cards = doc.get("cards", type=Map)
        self.valid: list[bytes] = [b"\x03"]  # query awareness
        for index in range(20):
            # One update per card: created and then edited, so none depends on another.
            before = doc.get_state()
            card_id = f"{participant}-{rng.getrandbits(40):x}-{index}"
            cards[card_id] = Map(
                {"text": Text(f"fuzz {index}"), "x": 1.0, "y": 2.0, "author": participant}
            )
            cards[card_id]["text"] += " edited"
            update = create_update_message(doc.get_update(before))
            # Observers may not write: what they send honestly is presence only.
            self.valid.append(update if not observer else b"\x03")
        # Mutations start from a real update whatever the role.
        self.mutable = [*self.valid, create_update_message(doc.get_update())]

    def awareness(self, client: int, clock: int, state: bytes) -> bytes:
        update = write_var_uint(1) + write_var_uint(client) + write_var_uint(clock)
        update += write_var_uint(len(state)) + state
        return create_awareness_message(update)

    def next(self, client: int, clock: int, bad_ratio: float) -> bytes | str:
        rng = self.rng
        if rng.random() >= bad_ratio:  # what honest clients send, mostly cursor moves
            if rng.random() < 0.7:
                cursor = {"x": rng.random() * 1000, "y": clock}
                state = json.dumps({"user": {"color": "#abc"}, "cursor": cursor})
                return self.awareness(client, clock, state.encode())
            return rng.choice(self.valid)
        kind = rng.randrange(100)
        if kind < 50:  # a valid frame with a few bytes flipped, dropped or inserted
            base = rng.choice(self.mutable) if kind < 35 else self.awareness(client, clock, b"{}")
            return mutate(base, rng)
        if kind < 80:
            return rng.randbytes(rng.randrange(1, 64))
        if kind < 90:
            depth = rng.choice([100, 250, 1500, 5000])
            return self.awareness(client, clock, b'{"u":' + b"[" * depth + b"]" * depth + b"}")
        if kind < 95:
            return "text"
        return b"\x00\x00" + rng.randbytes(rng.randrange(8))


# -- WebSocket phase ---------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.frames = 0  # written by the clients
        self.server_frames = 0  # read by the server (its /metrics), polled
        self.connections = 0
        self.closes: collections.Counter[int | None] = collections.Counter()
        self.statuses: collections.Counter[int] = collections.Counter()
        self.bad_error_bodies = 0
        self.transport_errors = 0


async def ws_worker(
    url: str,
    frames: Frames,
    tally: Tally,
    target: int,
    deadline: float,
    worker: int,
    bad_ratio: float,
) -> None:
    client = 10_000_000 + worker * 1_000_000
    while tally.server_frames < target and time.monotonic() < deadline:
        client += 1
        count = frames.rng.randrange(1, 100)
        try:
            async with websockets.connect(url, max_size=None, open_timeout=10) as ws:
                tally.connections += 1
                try:
                    for clock in range(count):
                        await ws.send(frames.next(client, clock + 1, bad_ratio))
                        tally.frames += 1
                    await ws.send(PROBE)
                    while True:
                        reply = await asyncio.wait_for(ws.recv(), 10)
                        if isinstance(reply, bytes) and reply.startswith(b"\x00\x01"):
                            tally.closes[None] += 1  # still open: the frames were acceptable
                            break
                except websockets.ConnectionClosed:
                    tally.closes[ws.close_code] += 1
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            tally.closes[-1] += 1
            print(f"connection failed: {exc!r}", file=sys.stderr)
            await asyncio.sleep(0.1)


async def server_frames(http: httpx.AsyncClient) -> int:
    """Frames the server has read: messages it decoded plus the ones it closed a socket for."""
    text = (await http.get("/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(("koprade_messages_received_total", "koprade_errors_total")):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


# -- HTTP phase --------------------------------------------------------------------------------


def http_request(rng: random.Random, room: str, code: str, tokens: list[str | None]) -> dict:
    routes = [
        ("POST", "/api/rooms", {"title": "T", "name": "N", "template": "empathy-map"}),
        ("POST", "/api/join", {"code": code, "name": "N", "role": "observer"}),
        ("POST", "/api/rooms/import", {"format": "koprade-board", "version": 2, "cards": []}),
        ("GET", f"/api/rooms/{room}", None),
        ("GET", f"/api/rooms/{room}/export", None),
        ("POST", f"/api/rooms/{room}/commands", {"command": "timer", "action": "start"}),
        ("POST", f"/api/rooms/{room}/commands", {"command": "voting", "perCard": 2}),
        ("POST", f"/api/rooms/{room}/commands", {"command": "set_phases", "phases": ["vote"]}),
        ("POST", f"/api/rooms/{room}/invites", {"role": "facilitator"}),
        ("GET", f"/api/rooms/{room}/participants", None),
        ("GET", f"/api/rooms/{room}/insight", None),
        ("GET", f"/api/rooms/{room}/snapshots", None),
        ("POST", f"/api/rooms/{room}/snapshots", {"name": "s"}),
        ("GET", f"/api/rooms/{room}/snapshots/1", None),
        ("POST", f"/api/rooms/{room}/snapshots/1/duplicate", {"title": "c"}),
        ("POST", f"/api/rooms/{room}/templates", {"name": "t"}),
        ("GET", "/api/templates/empathy-map", None),
        ("GET", "/api/stats", None),
    ]
    method, path, body = rng.choice(routes)
    shape = rng.randrange(6)
    if body is None or shape == 0:
        content = json.dumps(random_json(rng)).encode()
    elif shape == 1:
        content = rng.randbytes(rng.randrange(80))
    elif shape == 2:
        depth = rng.choice([300, 1500, 20000])
        content = b'{"title":' + b"[" * depth + b"]" * depth + b"}"
    else:
        changed = dict(body)
        changed[rng.choice([*changed, "extra"])] = random_json(rng)
        content = json.dumps(changed).encode()
        if shape == 5:
            content = mutate(content, rng)
    params = {
        rng.choice(["format", "lang", "snapshot", "title", "name"]): rng.choice(
            ["md", "pdf", "png", "svg", "csv", "yjs", "en", "de", "²", "1", "-1", "x" * 300]
        )
        for _ in range(rng.randrange(3))
    }
    headers = {"content-type": rng.choice(["application/json"] * 5 + ["text/plain"])}
    token = rng.choice(tokens)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return {"method": method, "url": path, "params": params, "headers": headers, "content": content}


async def http_phase(
    url: str, room: str, code: str, tokens: list, tally: Tally, target: int, deadline: float
) -> None:
    rng = random.Random(7)
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def one() -> None:
            nonlocal sent
            while sent < target and time.monotonic() < deadline:
                sent += 1
                request = http_request(rng, room, code, tokens)
                try:
                    response = await http.request(**request)
                except httpx.TransportError as exc:  # the server dropped the connection
                    tally.transport_errors += 1
                    print(f"{type(exc).__name__}: {request['method']} {request['url']}")
                    continue
                tally.statuses[response.status_code] += 1
                if response.status_code >= 400:
                    try:
                        payload = response.json()
                        ok = isinstance(payload.get("error"), str) and "message" in payload
                    except ValueError:
                        ok = False
                    if not ok:
                        tally.bad_error_bodies += 1
                if response.status_code >= 500:
                    print(f"{response.status_code}: {request} -> {response.text[:200]}")

        await asyncio.gather(*(one() for _ in range(4)))


# -- main --------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="koprade-fuzz-")) / "data"
    server = ServerProcess(data_dir, None, "--log-level", "warning").start()
    assert server.process is not None
    pid = server.process.pid
    started = time.monotonic()
    deadline = started + args.time_limit
    tally = Tally()
    try:
        info = await server.create_room("Fuzz")
        participant = await server.join(info.code, "Anna")
        observer = await server.join(info.code, "Projector", role="observer")
        watcher = await YClient(server.ws_url, info.room, participant["token"]).connect()
        rss_before = rss_kib(pid)

        http_started = time.monotonic()
        tokens = [None, info.token, participant["token"], observer["token"], "e30.e30"]
        await http_phase(server.url, info.room, info.code, tokens, tally, args.requests, deadline)
        http_seconds = time.monotonic() - http_started
        rss_after_http = rss_kib(pid)

        ws_started = time.monotonic()
        rng = random.Random(args.seed)
        workers = []
        for worker in range(args.connections):
            token = [info.token, participant["token"], observer["token"]][worker % 3]
            frames = Frames(
                participant["participant"],
                random.Random(rng.getrandbits(64)),
                observer=worker % 3 == 2,
            )
            url = f"{server.ws_url}/ws/rooms/{info.room}?token={token}"
            workers.append(
                ws_worker(url, frames, tally, args.frames, deadline, worker, args.bad_ratio)
            )

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as metrics_http:
            frames_before = await server_frames(metrics_http)

            async def progress() -> None:
                last_print = time.monotonic()
                while True:
                    await asyncio.sleep(2)
                    tally.server_frames = await server_frames(metrics_http) - frames_before
                    if time.monotonic() - last_print >= 30:
                        last_print = time.monotonic()
                        rate = tally.server_frames / (last_print - ws_started)
                        print(
                            f"  {tally.server_frames} frames read by the server "
                            f"({tally.frames} written), {tally.connections} connections, "
                            f"{rate:.0f} frames/s, RSS {rss_kib(pid)} KiB",
                            flush=True,
                        )

            reporter = asyncio.ensure_future(progress())
            await asyncio.gather(*workers)
            reporter.cancel()
            tally.server_frames = await server_frames(metrics_http) - frames_before
        ws_seconds = time.monotonic() - ws_started

        # The room still serves: the facilitator writes, the participant who watched all
        # along sees it.
        writer = await YClient(server.ws_url, info.room, info.token).connect()
        writer.cards["after-fuzz"] = writer.card("after the fuzz")
        await wait_until(lambda: "after-fuzz" in watcher.cards, timeout=30, message="relay")
        await writer.close()
        await watcher.close()
        rss_after = rss_kib(pid)
    finally:
        crashed = server.process.poll() is not None
        server.stop()

    closes = {str(code): n for code, n in sorted(tally.closes.items(), key=lambda i: str(i[0]))}
    result = {
        "http_requests": sum(tally.statuses.values()),
        "http_seconds": round(http_seconds, 1),
        "http_statuses": dict(sorted(tally.statuses.items())),
        "http_5xx": sum(n for s, n in tally.statuses.items() if s >= 500),
        "http_4xx_without_json_error": tally.bad_error_bodies,
        "http_connections_dropped": tally.transport_errors,
        "frames_read_by_server": tally.server_frames,
        "frames_written_by_clients": tally.frames,
        "connections": tally.connections,
        "ws_seconds": round(ws_seconds, 1),
        "closes (None = still open after the probe)": closes,
        "closes_1011": tally.closes.get(1011, 0),
        "closes_without_close_frame": tally.closes.get(1006, 0),
        "server_crashed": crashed,
        "rss_kib": {"before": rss_before, "after_http": rss_after_http, "after": rss_after},
    }
    print(json.dumps(result, indent=2))
    bad = result["http_5xx"] or result["closes_1011"] or crashed
    bad = bad or result["closes_without_close_frame"] or tally.bad_error_bodies
    bad = bad or tally.transport_errors
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=6, help="concurrent WebSockets")
    parser.add_argument("--time-limit", type=float, default=3600, help="seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--bad-ratio", type=float, default=0.1, help="share of frames that are broken on purpose"
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
