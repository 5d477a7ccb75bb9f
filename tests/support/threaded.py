"""A real in-process server on an event loop of its own thread, for synchronous callers.

Hypothesis runs synchronous test functions; the fuzz tests drive the server from them with
blocking HTTP and WebSocket clients while the server runs on its own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from server.config import Settings
from tests.support.servers import InProcessServer

T = TypeVar("T")


class ThreadedServer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: InProcessServer | None = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self) -> InProcessServer:
        self._thread.start()
        self.server = self.run(InProcessServer(self._settings).start())
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
