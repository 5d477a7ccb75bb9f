"""What the facilitation checks cost per update, next to what applying the update costs.

Every client update is read (server/crdt/yupdate.py), placed (locations.py) and checked
(rules.py) before pycrdt applies it. This measures both steps on the updates the benchmark's
clients send — a new card, a text rewrite, a move — on a board that already holds N cards,
and prints the check's cost as a ratio to pycrdt's `apply_update` of the same update.

    .venv/bin/python bench/check_cost.py [--cards 5000] [--repeat 2000]

Same process, same updates, so the ratio is what to read; absolute times depend on the
machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from pycrdt import Doc, Map, Text

from server.crdt.awareness import Identity
from server.crdt.locations import LocationIndex
from server.crdt.rules import Rules, check_update
from server.crdt.yupdate import decode_update

AUTHOR = Identity(participant="p_bench", name="Bench", role="participant")


def new_card(index: int) -> Map:
    return Map(
        {
            "text": Text(f"t:{1_700_000_000_000 + index}:7.{index}"),
            "x": float(index % 3000),
            "y": float(index % 2000),
            "color": "#ffd966",
            "author": AUTHOR.participant,
            "created": 1_700_000_000_000.0,
        }
    )


def board(cards: int) -> Doc:
    doc: Doc = Doc()
    target = doc.get("cards", type=Map)
    for start in range(0, cards, 250):
        with doc.transaction():
            for index in range(start, min(start + 250, cards)):
                target[f"seed-{index}"] = new_card(index)
    return doc


def client_update(server: Doc, edit: Callable[[Map], None]) -> bytes:
    client: Doc = Doc()
    client.apply_update(server.get_update())
    edit(client.get("cards", type=Map))
    return client.get_update(server.get_state())


def rewrite(cards: Map) -> None:
    text = cards["seed-1"]["text"]
    assert isinstance(text, Text)
    with cards.doc.transaction():
        del text[0 : len(text)]
        text += "t:1700000009999:7.99"


def measure(server: Doc, index: LocationIndex, update: bytes, repeat: int) -> dict[str, float]:
    cards = server.get("cards", type=Map)

    def author(card_id: str) -> str | None:
        card = cards.get(card_id)
        return None if card is None else card.get("author", "")

    def check() -> None:
        decoded = decode_update(update)
        placed = index.place(decoded)
        deleted = index.deleted_locations(decoded, placed)
        check_update(placed, deleted, sender=AUTHOR, rules=Rules(), card_author=author)

    def apply() -> None:
        copy: Doc = Doc()
        copy.apply_update(state)
        started = time.perf_counter()
        copy.apply_update(update)
        applied.append(time.perf_counter() - started)

    state = server.get_update()
    checked = []
    for _ in range(repeat):
        started = time.perf_counter()
        check()
        checked.append(time.perf_counter() - started)
    applied: list[float] = []
    for _ in range(min(repeat, 200)):  # each needs a fresh copy of the board
        apply()
    check_us = statistics.median(checked) * 1e6
    apply_us = statistics.median(applied) * 1e6
    return {
        "check_us": round(check_us, 1),
        "apply_us": round(apply_us, 1),
        "ratio": round(check_us / apply_us, 2),
        "bytes": len(update),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    server = board(args.cards)
    started = time.perf_counter()
    index = LocationIndex()
    full = decode_update(server.get_update(), max_structs=2**62)
    index.add(index.place(full), full)
    build_ms = (time.perf_counter() - started) * 1000
    cases = {
        "add card": lambda cards: cards.__setitem__("new-card", new_card(10**6)),
        "rewrite text": rewrite,
        "move card": lambda cards: cards["seed-2"].__setitem__("x", 42.0),
    }
    results = {}
    print(f"board: {args.cards} cards, index built in {build_ms:.0f} ms ({len(index)} runs)")
    print(f"{'update':<14} {'bytes':>6} {'check µs':>9} {'apply µs':>9} {'check/apply':>12}")
    for name, edit in cases.items():
        figures = measure(server, index, client_update(server, edit), args.repeat)
        results[name] = figures
        print(
            f"{name:<14} {figures['bytes']:>6} {figures['check_us']:>9} "
            f"{figures['apply_us']:>9} {figures['ratio']:>11}x"
        )
    print(
        "RESULT " + json.dumps({"cards": args.cards, "index_build_ms": round(build_ms), **results})
    )


if __name__ == "__main__":
    main()
