"""What anonymity costs per awareness update: a cursor move handled by `Room` in a named
and in an anonymous room (alias of the client id, neutral label, presence alias).

    .venv/bin/python bench/anonymous_awareness_cost.py [--people 50] [--moves 20000]

`people` connections each publish a state, then cursor moves round-robin; the relay is not
run (it is the same in both modes), so this is the receive path alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from server.crdt.awareness import AwarenessEntry, Identity, encode_awareness_update
from server.crdt.board import new_board
from server.crdt.pseudonyms import Pseudonyms
from server.rooms.room import Room


class _Connection:
    """What `Room` reads of a connection on this path."""

    def __init__(self, n: int) -> None:
        self.identity = Identity(participant=f"p_{n:012x}", name=f"Person {n}", role="participant")
        self.client_ids: set[int] = set()

    def send(self, frame: bytes) -> None:
        pass


async def run(anonymous: bool, people: int, moves: int) -> float:
    room = Room(
        "benchroom1234",
        new_board(),
        persist=lambda room_id, update: None,
        fanout_interval=3600,
        pseudonyms=Pseudonyms(b"s" * 32).for_room("benchroom1234"),
    )
    room.anonymous = anonymous
    connections = [_Connection(n) for n in range(people)]
    clocks = [0] * people
    for connection in connections:
        room.join(connection)  # type: ignore[arg-type]
    updates = []
    for i in range(moves):
        n = i % people
        clocks[n] += 1
        state = {"user": {"name": "x", "color": "#123456"}, "cursor": {"x": i, "y": n}}
        entry = AwarenessEntry(1000 + n, clocks[n], state)
        updates.append((connections[n], encode_awareness_update([entry])))
    start = time.perf_counter()
    for connection, update in updates:
        room._apply_awareness(connection, update)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    room.close()
    return elapsed / moves * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--moves", type=int, default=20_000)
    args = parser.parse_args()
    named = asyncio.run(run(False, args.people, args.moves))
    anonymous = asyncio.run(run(True, args.people, args.moves))
    print(
        json.dumps(
            {"named_us_per_move": round(named, 2), "anonymous_us_per_move": round(anonymous, 2)}
        )
    )


if __name__ == "__main__":
    main()
