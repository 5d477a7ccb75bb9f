"""A limit on FAILED join attempts per client address, so join codes cannot be scanned.

Policy (docs/operations.md, "Join-code guessing"): each address has a bucket of BURST failed
attempts (an unknown or closed room's code, a bad invite) that refills by one every
REFILL_SECONDS. While the bucket is empty, every join from that address is answered 429 with
Retry-After — also one with a right code, or the answers would still tell a scanner which
codes exist. Successful joins take nothing from the bucket, so a whole workshop behind one
school NAT, or 200 benchmark clients on one machine, never meet the limit; only a burst of
wrong codes does. With ~10^9 codes a scanner gets 20 guesses a minute per address.

IPv6 addresses count per /64 (one household or host usually holds a whole /64). Memory is
bounded: MAX_ADDRESSES buckets at most; a bucket that has refilled is dropped, and when
the table is full the address that failed least recently makes room.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable

BURST = 20
REFILL_SECONDS = 3.0
MAX_ADDRESSES = 10_000


class JoinLimiter:
    def __init__(
        self,
        burst: int = BURST,
        refill_seconds: float = REFILL_SECONDS,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.max_addresses = max_addresses
        self._clock = clock
        # address -> (tokens left, when counted); least recently failed first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float:
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) / self.refill_seconds)

    def retry_after(self, address: str) -> int | None:
        """None when `address` may try to join; else whole seconds until it may."""
        key = address_key(address)
        if key not in self._buckets:
            return None
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens >= self.burst:
            del self._buckets[key]  # refilled: as good as never seen
            return None
        if tokens >= 1:
            return None
        return max(1, math.ceil((1 - tokens) * self.refill_seconds))

    def failed(self, address: str) -> None:
        """Count one failed attempt of `address`."""
        key = address_key(address)
        now = self._clock()
        tokens = self._tokens(key, now)
        self._buckets[key] = (max(0.0, tokens - 1), now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)


def address_key(address: str) -> str:
    """What is counted: the IPv4 address, or the /64 of an IPv6 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # e.g. a test client's name, or a Unix socket
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)
