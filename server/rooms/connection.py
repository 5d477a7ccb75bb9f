"""One client's WebSocket as the room sees it: a direct send, else a bounded outbox.

The room never awaits a socket. It hands bytes to `send()`, which writes them at once when
the socket takes them without waiting (the server's protocol offers that, `DIRECT_SEND`)
and otherwise queues them for the connection's writer task, so a slow or dead client cannot
stall anyone else; a client that falls too far behind is closed with 4408 and resyncs when
it reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketState

from server.crdt.awareness import Identity

CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
# The standard "try again later": the database failed; nothing the client did is wrong.
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_BAD_MESSAGE = 4400
CLOSE_INVALID_TOKEN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_ROOM_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
#: Cluster mode: the room moved to another process (or the transport failed); the standard
#: "service restart", so the client reconnects at once and syncs with the new owner.
CLOSE_MOVED = 1012
MOVED_REASON = "the room moved to another server; reconnecting"
STORAGE_UNAVAILABLE = "storage unavailable: try again later"

#: ASGI scope extension offered by Koprade's WebSocket protocol (`server/serve.py`):
#: ``{"send_bytes": f}``, where ``f(data)`` writes one binary message at once and returns
#: True, or returns False when the socket cannot take it without waiting.
DIRECT_SEND = "koprade.direct_send"

# WebSocket close reasons are limited to 123 bytes of UTF-8.
_MAX_REASON_BYTES = 123
_CLOSE_TIMEOUT = 2.0


def clip_reason(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= _MAX_REASON_BYTES:
        return reason
    return encoded[: _MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


class Connection:
    def __init__(
        self,
        websocket: WebSocket,
        identity: Identity,
        *,
        max_queue_bytes: int,
        max_queue_messages: int,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.websocket = websocket
        self.identity = identity
        self.log = log
        # Awareness client ids this connection published; removed when it closes.
        self.client_ids: set[int] = set()
        self._max_queue_bytes = max_queue_bytes
        self._max_queue_messages = max_queue_messages
        self._outbox: deque[bytes] = deque()
        self._outbox_bytes = 0
        self._ready = asyncio.Event()
        self._close: tuple[int, str] | None = None
        # Set while the writer awaits a send, so close_soon() can abandon a stuck one.
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._abandoned_send = False
        self._last_words: bytes | None = None
        # The protocol's synchronous send, if the server offers one (see DIRECT_SEND).
        extension = (websocket.scope.get("extensions") or {}).get(DIRECT_SEND) or {}
        self._send_now: Callable[[bytes], bool] | None = extension.get("send_bytes")
        self.closed = False

    @property
    def remote(self) -> bool:
        """A socket of this process (see `room.Member`)."""
        return False

    @property
    def sends_directly(self) -> bool:
        """Whether the server's protocol lets `send()` write without the writer task."""
        return self._send_now is not None

    @property
    def closing(self) -> bool:
        """A close frame is pending or sent: the server ended this connection."""
        return self._close is not None

    def send(self, data: bytes) -> None:
        """Send bytes to this client, or queue them; never blocks, never raises.

        With nothing queued and the socket taking data (the usual case), the bytes are
        written right here, without waking the writer task. Otherwise they join the
        bounded outbox, in order, and the writer sends them as the client reads.
        """
        if self.closed or self._close is not None:
            return
        if self._send_now is not None and not self._outbox and not self._sending:
            try:
                if self._send_now(data):
                    return
            except Exception as exc:  # the writer meets the same error and ends quietly
                self.log.debug("direct send failed: %s", exc.__class__.__name__)
        if (
            self._outbox_bytes + len(data) > self._max_queue_bytes
            or len(self._outbox) >= self._max_queue_messages
        ):
            self.log.warning(
                "send queue overflow (%d messages, %d bytes): closing slow client",
                len(self._outbox),
                self._outbox_bytes,
            )
            self.close_soon(CLOSE_TOO_SLOW, "too slow: send queue overflow")
            return
        self._outbox.append(data)
        self._outbox_bytes += len(data)
        self._ready.set()

    def close_soon(self, code: int, reason: str, *, last_words: bytes | None = None) -> None:
        """Drop the backlog and have the writer close the socket with this code.

        `last_words` is one frame sent right before the close frame (why it closes).

        If the writer is stuck sending to a client that stopped reading, that send is
        abandoned (nothing of it was written yet), so the close never waits behind it.
        """
        if self._close is not None or self.closed:
            return
        self._close = (code, clip_reason(reason))
        self._last_words = last_words
        self._outbox.clear()
        self._outbox_bytes = 0
        if self._sending and self._writer is not None:
            self._abandoned_send = True
            self._writer.cancel()
        self._ready.set()

    def mark_disconnected(self) -> None:
        """The peer is gone: drop the backlog and let the writer end."""
        self.closed = True
        self._outbox.clear()
        self._outbox_bytes = 0
        self._ready.set()

    async def run_writer(self) -> None:
        """Drain the outbox into the socket until the connection ends.

        The writer is the only coroutine that sends on the socket, close frames included.
        A client that disconnects mid-send is routine: the error ends this writer quietly.
        """
        self._writer = asyncio.current_task()
        try:
            while not self.closed:
                await self._ready.wait()
                self._ready.clear()
                while self._outbox and self._close is None and not self.closed:
                    data = self._outbox.popleft()
                    self._outbox_bytes -= len(data)
                    self._sending = True
                    try:
                        await self.websocket.send_bytes(data)
                    finally:
                        self._sending = False
                if self._close is not None and not self.closed:
                    await self._send_close(*self._close)
                    return
        except asyncio.CancelledError:
            if not self._abandoned_send:
                raise  # the writer itself is being cancelled
            # close_soon() abandoned a send stuck behind a client that stopped reading.
            writer = self._writer
            assert writer is not None  # set above: the task running this very method
            writer.uncancel()
            assert self._close is not None
            await self._send_close(*self._close)
        except Exception as exc:  # disconnect races surface as several exception types
            self.log.debug("writer stopped: %s", exc.__class__.__name__)
        finally:
            self.closed = True

    async def _send_close(self, code: int, reason: str) -> None:
        if self.websocket.application_state != WebSocketState.CONNECTED:
            return
        try:
            # A client too slow to read may never let the close frame through.
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                if self._last_words is not None:
                    await self.websocket.send_bytes(self._last_words)
                await self.websocket.close(code=code, reason=reason)
        except Exception as exc:
            self.log.debug("close failed: %s", exc.__class__.__name__)
