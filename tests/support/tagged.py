"""Clients that keep writing tagged cards and reconnect whenever their socket closes.

Each card's id names its client and a sequence number (as `bench/loadgen.mjs` tags its ops),
so after any failure a test can say exactly which ops are missing, and where.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from tests.support.yclient import YClient


class TaggedWriter:
    def __init__(self, name: str, room: str, token: str, ws_urls: Callable[[], str]) -> None:
        self.name = name
        self._room = room
        self._token = token
        self._ws_urls = ws_urls
        self.client = YClient(ws_urls(), room, token)
        self.written: list[str] = []
        self.reconnects = 0
        self.refusals: list[tuple[int | None, str | None]] = []
        self._numbers = itertools.count(1)

    async def connect(self, timeout: float = 30.0) -> None:
        """Connect (again), through the next address, until it works or `timeout` passes."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            self.client.url = f"{self._ws_urls()}/ws/rooms/{self._room}?token={self._token}"
            try:
                await self.client.connect(timeout=3.0)
                return
            except Exception as exc:  # refused, timed out, closed while syncing: again
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} could not reconnect: {exc!r}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    def write(self) -> str:
        """One tagged card; written offline too (sent on the next connect)."""
        card_id = f"{self.name}-{next(self._numbers)}"
        self.client.cards[card_id] = self.client.card(card_id, x=len(self.written), y=0)
        self.written.append(card_id)
        return card_id

    async def keep_writing(self, stop: asyncio.Event, interval: float = 0.05) -> None:
        """Write a card every `interval` until `stop`, reconnecting whenever closed."""
        while not stop.is_set():
            if not self.client.connected:
                code = self.client.close_code
                if code is not None and code not in (1000, 1001, 1006, 1012, 1013):
                    self.refusals.append((code, self.client.close_reason))
                self.reconnects += 1
                await self.connect()
            self.write()
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass

    def missing(self, ids: set[str]) -> list[str]:
        """Which of this client's ops are not in `ids`."""
        return [card_id for card_id in self.written if card_id not in ids]

    async def close(self) -> None:
        await self.client.close()
