"""A real y-websocket client for tests: a `websockets` connection plus a pycrdt `Doc`.

It speaks the protocol with pycrdt's own helpers (not the server's codec), so tests check
the server against an independent implementation, and it records everything it receives.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import websockets
from pycrdt import (
    Awareness,
    Doc,
    Map,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
)
from websockets.asyncio.client import ClientConnection

from tests.support.polling import wait_until

__all__ = ["YClient", "card", "wait_until"]


class YClient:
    def __init__(
        self,
        ws_url: str,
        room: str,
        token: str | None,
        doc: Doc[Map[Any]] | None = None,
        *,
        private: bool = False,
    ) -> None:
        path = f"{ws_url}/ws/rooms/{room}" + ("/private" if private else "")
        self.url = path + (f"?token={token}" if token is not None else "")
        # Who the token says we are: new cards name this participant as their author.
        self.participant = _token_subject(token)
        # Koprade's own messages (type 100), decoded: hello, votes, rejected.
        self.messages: list[dict[str, Any]] = []
        self.doc: Doc[Map[Any]] = doc if doc is not None else Doc()
        self.awareness = Awareness(self.doc)
        self.ws: ClientConnection | None = None
        self.synced = asyncio.Event()
        self.frames: list[bytes] = []
        self.awareness_messages = 0
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._applying_remote = False
        self._subscription = self.doc.observe(self._on_local_change)
        self.offline_updates: list[bytes] = []
        self._sends: set[asyncio.Future[None]] = set()

    # -- connection ------------------------------------------------------------------------

    async def connect(self, *, wait_synced: bool = True, timeout: float = 5.0) -> YClient:
        self.synced.clear()
        self.close_code = None
        self.close_reason = None
        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=timeout)
        self._reader = asyncio.ensure_future(self._read())
        try:
            await self.ws.send(create_sync_message(self.doc))
            for update in self.offline_updates:
                await self.ws.send(create_update_message(update))
            self.offline_updates.clear()
        except websockets.ConnectionClosed:
            pass  # refused at once (bad token...): the reader records the close
        if wait_synced:
            await asyncio.wait_for(self.synced.wait(), timeout)
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.ws = None

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame, like a tablet losing Wi-Fi."""
        assert self.ws is not None
        self.ws.transport.abort()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.ws = None

    async def wait_closed(self, timeout: float = 5.0) -> tuple[int | None, str | None]:
        assert self._reader is not None
        await asyncio.wait_for(asyncio.gather(self._reader, return_exceptions=True), timeout)
        return self.close_code, self.close_reason

    @property
    def connected(self) -> bool:
        return self.ws is not None and self._reader is not None and not self._reader.done()

    # -- receiving -------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        try:
            async for frame in ws:
                assert isinstance(frame, bytes), "the server sent a text frame"
                self.frames.append(frame)
                await self._handle(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            # websockets reports 1006 when the connection ended without a close frame.
            self.close_code = ws.close_code
            self.close_reason = ws.close_reason

    async def _handle(self, frame: bytes) -> None:
        if frame[0] == YMessageType.SYNC:
            self._applying_remote = True
            try:
                reply = handle_sync_message(frame[1:], self.doc)
            finally:
                self._applying_remote = False
            if frame[1] == YSyncMessageType.SYNC_STEP2:
                self.synced.set()
            if reply is not None and self.ws is not None:
                await self.ws.send(reply)
        elif frame[0] == YMessageType.AWARENESS:
            self.awareness_messages += 1
            self.awareness.apply_awareness_update(read_message(frame[1:]), "remote")
        elif frame[0] == KOPRADE_MESSAGE:
            self.messages.append(json.loads(read_message(frame[1:])))

    def last_message(self, kind: str) -> dict[str, Any] | None:
        found = [m for m in self.messages if m.get("type") == kind]
        return found[-1] if found else None

    def card(self, text: str, x: float = 0, y: float = 0, **fields: Any) -> Map[Any]:
        """A new card of the board contract, authored by this client's participant (as the
        latest `hello` says: its pseudonym in an anonymous room)."""
        hello = self.last_message("hello") or {}
        return card(text, x, y, author=hello.get("author", self.participant), **fields)

    # -- sending ---------------------------------------------------------------------------

    def _on_local_change(self, event: TransactionEvent) -> None:
        if self._applying_remote:
            return
        update = event.update
        if self.connected:
            assert self.ws is not None
            task = asyncio.ensure_future(self.ws.send(create_update_message(update)))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
        else:
            # Offline edits: sent when the client reconnects (plus the sync exchange).
            self.offline_updates.append(update)

    async def send_raw(self, frame: bytes | str) -> None:
        assert self.ws is not None
        await self.ws.send(frame)

    async def set_presence(self, state: dict[str, Any] | None) -> None:
        self.awareness.set_local_state(state)
        update = self.awareness.encode_awareness_update([self.doc.client_id])
        await self.send_raw(create_awareness_message(update))

    # -- board helpers ---------------------------------------------------------------------

    @property
    def cards(self) -> Map[Any]:
        return self.doc.get("cards", type=Map)

    @property
    def clusters(self) -> Map[Any]:
        return self.doc.get("clusters", type=Map)

    def board(self) -> dict[str, Any]:
        return {
            "cards": self.cards.to_py() or {},
            "clusters": self.clusters.to_py() or {},
        }

    def peers(self) -> dict[int, dict[str, Any]]:
        """Awareness states of others, as this client sees them."""
        return {
            client_id: state
            for client_id, state in self.awareness.states.items()
            if client_id != self.doc.client_id
        }


KOPRADE_MESSAGE = 100


def _token_subject(token: str | None) -> str:
    if not token or "." not in token:
        return ""
    payload = token.split(".")[0]
    try:
        return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])
    except (ValueError, KeyError):
        return ""


def card(text: str, x: float = 0, y: float = 0, **fields: Any) -> Map[Any]:
    from pycrdt import Text

    return Map({"text": Text(text), "x": x, "y": y, "color": "#ffd966", **fields})


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
