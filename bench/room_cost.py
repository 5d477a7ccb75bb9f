"""The one-room workload in one process: a Room with 200 connections, no sockets, no database.

Per relay tick: about 1 SyncUpdate and 4 awareness messages from random clients (what
`bench/run.sh`'s one-room sends in 10 ms: 100 card ops/s and 400 cursor moves/s from 200
clients), decoded as server/http/ws.py does, then the event loop runs the tick, a fake
commit and the fan-out to 200 connections whose direct send only counts. What is left is
the room's own Python: the figure to compare between two trees (the sends and relays
printed must match), free of the socket writes and commit latencies that make
`bench/run.sh`'s CPU per update vary from run to run.

    .venv/bin/python bench/room_cost.py [--ticks 2000] [--held] [--profile out.prof]
    KOPRADE_TREE=/tmp/koprade-main .venv/bin/python bench/room_cost.py   # another tree

`--held`: half of each tick's messages arrive while the tick waits for its commit, as they
do on a real server. KOPRADE_TREE may be a tree from before the room became a Sans-I/O
protocol (612070c: `Room(..., on_relay=...)`); both are driven the same way. CPU times
depend on the machine and its neighbours: run the trees alternately, several times, or
count instructions: `valgrind --tool=callgrind` of `--ticks 400` minus `--ticks 100`, both
with `--frames 500` (the same setup) and PYTHONHASHSEED=0, divided by 300.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import random
import sys
import time

TREE = os.environ.get("KOPRADE_TREE") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TREE)

from pycrdt import Doc, Map, Text  # noqa: E402

from server.crdt.awareness import AwarenessEntry, Identity, encode_awareness_update  # noqa: E402
from server.crdt.board import CARDS, new_board  # noqa: E402
from server.crdt.messages import (  # noqa: E402
    EMPTY_UPDATE,
    SyncStep2,
    SyncUpdate,
    decode_message,
    encode_awareness,
    encode_update,
)
from server.crdt.meta import meta_map  # noqa: E402
from server.crdt.pseudonyms import Pseudonyms  # noqa: E402
from server.metrics import Metrics  # noqa: E402
from server.rooms.activity import Activity  # noqa: E402
from server.rooms.connection import DIRECT_SEND, Connection  # noqa: E402
from server.rooms.room import Room  # noqa: E402

NEW = os.path.exists(os.path.join(TREE, "server/rooms/protocol.py"))
N = 200


class Writer:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._seq = 0
        self._committed = 0
        self._waiters: list = []
        self._scheduled = False
        self.loop = loop
        self.enqueued = 0

    def enqueue(self, room_id: str, update: bytes) -> int:
        self._seq += 1
        self.enqueued += 1
        return self._seq

    @property
    def committed_seq(self) -> int:
        return self._committed

    def when_committed(self, seq: int, cb) -> None:
        if seq <= self._committed:
            self.loop.call_soon(cb)
            return
        self._waiters.append((seq, cb))
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._commit)

    def _commit(self) -> None:
        self._scheduled = False
        self._committed = self._seq
        waiters, self._waiters = self._waiters, []
        for _, cb in waiters:
            cb()


class FakeWS:
    def __init__(self, counter: list[int]) -> None:
        def send(data: bytes) -> bool:
            counter[0] += 1
            return True

        self.scope = {"extensions": {DIRECT_SEND: {"send_bytes": send}}}


def make_frames(ticks: int, seed: int = 7):
    rng = random.Random(seed)
    docs = [Doc(client_id=1000 + g) for g in range(N)]
    own: list[list[str]] = [[] for _ in range(N)]
    clocks = [1] * N
    cursor = [[rng.random() * 2000, rng.random() * 1200] for _ in range(N)]
    plan = []
    for t in range(ticks):
        msgs = []
        # ~1 update and ~4 awareness messages per 10 ms
        n_upd = 1 if rng.random() < 0.9 else (0 if rng.random() < 0.5 else 2)
        n_aw = rng.choice([3, 4, 4, 5])
        for _ in range(n_upd):
            g = rng.randrange(N)
            doc = docs[g]
            cards = doc.get(CARDS, type=Map)
            before = doc.get_state()
            text = f"t:{t}:{g}.{len(own[g])}"
            if not own[g] or rng.random() < 0.3:
                cid = f"{g}-{len(own[g])}"
                with doc.transaction():
                    cards[cid] = Map(
                        {
                            "text": Text(text),
                            "x": rng.randrange(3000),
                            "y": rng.randrange(2000),
                            "color": "#ffd966",
                            "author": f"p{g}",
                            "created": t,
                        }
                    )
                own[g].append(cid)
            else:
                ytext = cards[rng.choice(own[g])]["text"]
                with doc.transaction():
                    del ytext[0 : len(ytext)]
                    ytext.insert(0, text)
            msgs.append((g, encode_update(doc.get_update(before))))
        for _ in range(n_aw):
            g = rng.randrange(N)
            clocks[g] += 1
            cursor[g][0] += (rng.random() - 0.5) * 80
            cursor[g][1] += (rng.random() - 0.5) * 80
            state = {
                "user": {"name": f"bench {g}", "color": "#ffd966"},
                "cursor": {
                    "x": round(cursor[g][0]),
                    "y": round(cursor[g][1]),
                    "t": t,
                    "n": clocks[g],
                },
            }
            upd = encode_awareness_update([AwarenessEntry(1000 + g, clocks[g], state)])
            msgs.append((g, encode_awareness(upd)))
        rng.shuffle(msgs)
        plan.append(msgs)
    return plan


async def main(args) -> None:
    loop = asyncio.get_running_loop()
    plan = make_frames(max(args.frames, args.ticks + 100))
    writer = Writer(loop)
    doc = new_board()
    meta_map(doc)["phase"] = "explore"
    metrics = Metrics()
    activity = Activity(None)  # type: ignore[arg-type]
    if NEW:
        from server.rooms.hooks import Hooks

        hooks = Hooks(activity, metrics)
        room = Room(
            "roombench",
            doc,
            commits=writer,
            fanout_interval=0.0,
            hooks=hooks,
            pseudonyms=Pseudonyms(b"k" * 32).for_room("roombench"),
        )
    else:
        room = Room(
            "roombench",
            doc,
            commits=writer,
            fanout_interval=0.0,
            on_relay=metrics.relayed,
            pseudonyms=Pseudonyms(b"k" * 32).for_room("roombench"),
        )
    counter = [0]
    conns = []
    log = logging.LoggerAdapter(logging.getLogger("bench"), {})
    for g in range(N):
        c = Connection(
            FakeWS(counter),  # type: ignore[arg-type]
            Identity(participant=f"p{g}", name=f"P{g}", role="participant"),
            max_queue_bytes=1 << 30,
            max_queue_messages=1 << 20,
            log=log,
        )
        room.join(c)
        conns.append(c)
    received = metrics.received

    def handle(g: int, frame: bytes) -> None:
        # what server/ws.py's _read_frames does per frame
        conn = conns[g]
        message = decode_message(frame)
        received[type(message).__name__].inc()
        if NEW:
            refusal = room.receive(conn, message)
            if refusal is not None:
                raise RuntimeError(refusal)
        else:
            room.receive(conn, message)
            if isinstance(message, SyncUpdate | SyncStep2) and message.update != EMPTY_UPDATE:
                activity.edited("roombench", conn.identity.participant)

    for g in range(N):
        handle(g, b"\x00\x00\x01\x00")  # sync step 1 with an empty state vector
    for _ in range(10):
        await asyncio.sleep(0)

    async def run(ticks):
        for msgs in ticks:
            if args.held:
                # half the messages arrive while the tick waits for its commit
                half = len(msgs) // 2
                for g, frame in msgs[:half]:
                    handle(g, frame)
                await asyncio.sleep(0)
                for g, frame in msgs[half:]:
                    handle(g, frame)
            else:
                for g, frame in msgs:
                    handle(g, frame)
            for _ in range(6):
                await asyncio.sleep(0)

    await run(plan[:100])  # warm-up
    counter[0] = 0
    relays0 = room.relays
    prof = cProfile.Profile() if args.profile else None
    t0 = time.process_time()
    if prof:
        prof.enable()
    await run(plan[100 : 100 + args.ticks])
    if prof:
        prof.disable()
        prof.dump_stats(args.profile)
    cpu = time.process_time() - t0
    print(
        f"{TREE} ({'protocol' if NEW else 'pre-protocol'}): "
        f"{cpu * 1000:.1f} ms cpu for {args.ticks} ticks: "
        f"{cpu / args.ticks * 1e6:.1f} us/tick, sends {counter[0]}, "
        f"relays {room.relays - relays0}, "
        f"{cpu / max(counter[0], 1) * 1e9:.0f} ns/send"
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--ticks", type=int, default=2000)
    p.add_argument("--profile")
    p.add_argument("--frames", type=int, default=0, help="messages to pre-build (ticks)")
    p.add_argument("--held", action="store_true")
    asyncio.run(main(p.parse_args()))
