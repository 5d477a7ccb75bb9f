"""Shared Hypothesis set-up for the fuzz tests (tests/test_fuzz_*.py).

Seeded (`derandomize`): CI runs the same examples every time, within its time budget.
KOPRADE_FUZZ_EXAMPLES=N runs N examples per test instead, e.g. 5000 for a longer local run.
"""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("KOPRADE_FUZZ_EXAMPLES", "0") or 0)


def fuzz_settings(ci_examples: int) -> settings:
    return settings(
        max_examples=EXAMPLES or ci_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


#: Any JSON value, nested a few levels.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)


def mutate(data: bytes, rng: random.Random, rounds: int = 3) -> bytes:
    """Flip, drop, duplicate or insert a few bytes of `data` (a classic mutation fuzzer)."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, rounds)):
        choice = rng.randrange(5)
        position = rng.randrange(len(buffer) + 1)
        if choice == 0 and buffer:
            index = min(position, len(buffer) - 1)
            buffer[index] ^= 1 << rng.randrange(8)
        elif choice == 1 and buffer:
            del buffer[position : position + rng.randint(1, 4)]
        elif choice == 2:
            buffer[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif choice == 3 and buffer:
            index = min(position, len(buffer) - 1)
            buffer[index] = rng.choice((0x00, 0x7F, 0x80, 0xFF))
        else:
            start = rng.randrange(len(buffer) + 1)
            buffer[position:position] = buffer[start : start + rng.randint(1, 8)]
    return bytes(buffer)
