"""What bounding the JSON depth costs on the hot awareness path.

Every cursor move a client publishes is an awareness entry whose JSON state the server
parses (server/crdt/awareness.py, `RawAwarenessEntry.parse`). Since issue 10 it is parsed by
`server/safejson.py` (pydantic_core, depth-bounded) instead of `json.loads` (which raises
RecursionError on deep input). This times both parsers on typical states, same process,
and the whole `parse` of an entry.

    .venv/bin/python bench/json_cost.py [--repeat 200000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit

from server import safejson
from server.crdt.awareness import RawAwarenessEntry

STATES = {
    "cursor move": {
        "user": {"name": "Anna Bērziņa", "color": "#e91e63", "id": "p_4f9c2a1b7d3e"},
        "cursor": {"x": 1234.5, "y": 678.25},
    },
    "cursor + selection": {
        "user": {"name": "Jānis", "color": "#3f51b5", "id": "p_0123456789ab"},
        "cursor": {"x": 10, "y": 20},
        "selection": [f"card-{i}" for i in range(10)],
        "viewport": {"x": 0, "y": 0, "zoom": 1.25},
    },
}


def per_call_ns(function, repeat: int) -> float:
    runs = [timeit.timeit(function, number=repeat) / repeat * 1e9 for _ in range(5)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200_000)
    args = parser.parse_args()
    print(f"{'state':<20} {'bytes':>5} {'json.loads':>11} {'safejson':>9} {'entry.parse':>12}")
    for name, state in STATES.items():
        text = json.dumps(state, ensure_ascii=False)
        entry = RawAwarenessEntry(12345678, 42, text)
        standard = per_call_ns(lambda t=text: json.loads(t), args.repeat)
        bounded = per_call_ns(lambda t=text: safejson.loads(t), args.repeat)
        whole = per_call_ns(entry.parse, args.repeat)
        print(
            f"{name:<20} {len(text.encode()):>5} {standard:>8.0f} ns {bounded:>6.0f} ns "
            f"{whole:>9.0f} ns"
        )


if __name__ == "__main__":
    main()
