"""The gateway's side of cluster mode: connections to rooms another process owns.

Every process terminates sockets for any room. When a room's lease is held elsewhere, the
WebSocket endpoint attaches the connection here (`attach`): its frames, checked for shape,
go to the room's inbound stream (`Link.forward`), and one reader task brings back, for every
such connection of this process,

- the relay frames of the shared boards from their rooms' outbound streams (read from the
  position the stream had *before* the connection's `Opened` was appended, so nothing
  relayed after the owner saw it can be missed — y-redis's ordering trick), and
- what the owners address to this gateway on its own stream (sync answers, a participant's
  own votes, private boards, closes, answers to forwarded HTTP requests).

Entries carry the epoch of the owner's lease; frames of an older owner are dropped, and a
newer epoch, or a lease that expired or changed hands (checked every `watch_seconds`), means
the room moved: its connections here are closed with 1012 and their clients reconnect and
sync with the new owner (`docs/cluster.md`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, cast

from prometheus_client import Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server.cluster.envelope import (
    BadEntry,
    Call,
    CloseConnection,
    Closed,
    Delivered,
    Opened,
    PeerKey,
    Received,
    Relayed,
    Reply,
    Wake,
    alive_key,
    decode_outbound,
    encode_claims,
    encode_inbound,
    encode_outbound,
    gateway_stream,
    inbound_stream,
    outbound_stream,
)
from server.cluster.streams import StreamWriter, normalize
from server.errors import OwnedElsewhere, Unavailable
from server.ids import room_of_board
from server.rooms.connection import CLOSE_MOVED, MOVED_REASON, Connection
from server.storage.leases import LeaseStore
from server.storage.store import StorageError
from server.tokens import Claims

log = logging.getLogger("koprade.cluster")

TRANSPORT_REASON = "cluster transport unavailable; reconnecting"

#: How long an HTTP request forwarded to a room's owner may take.
CALL_TIMEOUT_SECONDS = 10.0

#: A gateway's alive key lives this long without a refresh (refreshed every second).
ALIVE_MS = 5000


@dataclass(slots=True)
class _Board:
    board: str
    room: str
    node: str
    epoch: int
    #: Where this gateway reads the room's outbound stream from (shared boards only).
    position: str | None
    conns: dict[int, Connection] = field(default_factory=dict)


class Link:
    """One connection's way to its room's owner."""

    def __init__(self, gateway: Gateway, board: _Board, conn: int, claims: Claims) -> None:
        self._gateway = gateway
        self._board = board
        self.key = PeerKey(gateway.node, conn)
        self._claims = claims
        self._claims_bytes = encode_claims(claims)
        self._stream = inbound_stream(board.room)

    def forward(self, data: bytes) -> None:
        entry = Received(self._board.board, self.key, self._claims, data)
        self._gateway.writer.add(self._stream, encode_inbound(entry, self._claims_bytes))

    def detach(self) -> None:
        self._gateway.detach(self._board, self.key)


class Gateway:
    def __init__(
        self,
        *,
        redis: Redis,
        node: str,
        leases: LeaseStore,
        read_block_ms: int = 1000,
        watch_seconds: float = 1.0,
    ) -> None:
        self.node = node
        self._redis = redis
        self._leases = leases
        self._read_block_ms = read_block_ms
        self._watch_seconds = watch_seconds
        self.writer = StreamWriter(redis, on_error=self._transport_failed)
        self._stream = gateway_stream(node)
        self._position = "0-0"
        self._boards: dict[str, _Board] = {}
        self._numbers = itertools.count(1)
        self._calls: dict[str, asyncio.Future[Reply]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self.moves = 0  # rooms whose connections were sent to a new owner (metrics)
        self._alive_stale = False  # set by a transport failure until the next refresh
        #: Observes how long relay entries took from the owner to here (set by metrics).
        self.stream_lag: Histogram | None = None

    async def start(self) -> None:
        await self._refresh_alive()
        # The stream exists from now on; owners append to it only while it exists.
        first = await self._redis.xadd(self._stream, cast(dict[Any, Any], encode_outbound(Wake())))
        self._position = first.decode() if isinstance(first, bytes) else str(first)
        self._loops = [
            asyncio.create_task(self._read_forever(), name="koprade-gateway-read"),
            asyncio.create_task(self._watch_forever(), name="koprade-gateway-watch"),
        ]

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        await self.writer.flushed()
        try:
            await self._redis.delete(alive_key(self.node), self._stream)
        except RedisError:
            pass

    @property
    def connections(self) -> int:
        return sum(len(board.conns) for board in self._boards.values())

    # -- connections -----------------------------------------------------------------------

    async def attach(
        self, board_id: str, owner: OwnedElsewhere, connection: Connection, claims: Claims
    ) -> Link:
        """Serve `connection` through the room's owner; raises `Unavailable` when no owner
        is known (the caller closes with 1013 and the client tries again)."""
        if owner.node is None or owner.epoch is None:
            raise Unavailable("owner_unknown", "the room is changing servers; try again")
        if self._alive_stale:
            # Back from a transport failure: owners must see this gateway alive (and its
            # stream exist) before they answer the connection, or they would drop it.
            try:
                await self._refresh_alive()
            except RedisError as exc:
                raise StorageError(f"cluster transport unavailable: {exc}") from exc
            self._alive_stale = False
        board = self._boards.get(board_id)
        if board is not None and board.node != owner.node:
            self._moved(board)
            board = None
        elif board is not None:
            board.epoch = max(board.epoch, owner.epoch)
        if board is None:
            room = room_of_board(board_id)
            position = None
            if board_id == room:
                position = await self._stream_end(outbound_stream(room))
            # Concurrent first connections to the board all awaited above: the first to
            # get here makes the board, the others join it (one board, one read position).
            board = self._boards.get(board_id)
            if board is None or board.node != owner.node:
                if board is not None:
                    self._moved(board)
                board = _Board(board_id, room, owner.node, owner.epoch, position)
                self._boards[board_id] = board
                self._wake()
        conn = next(self._numbers)
        board.conns[conn] = connection
        link = Link(self, board, conn, claims)
        self.writer.add(
            inbound_stream(board.room),
            encode_inbound(Opened(board_id, link.key, claims), encode_claims(claims)),
        )
        return link

    def detach(self, board: _Board, key: PeerKey) -> None:
        board.conns.pop(key.conn, None)
        self.writer.add(inbound_stream(board.room), encode_inbound(Closed(board.board, key)))
        if not board.conns and self._boards.get(board.board) is board:
            del self._boards[board.board]

    async def _stream_end(self, stream: str) -> str:
        """The id of a stream's last entry ("0-0" when empty): read from there on."""
        try:
            last = await self._redis.xrevrange(stream, count=1)
        except RedisError as exc:
            raise StorageError(f"cluster transport unavailable: {exc}") from exc
        if not last:
            return "0-0"
        entry_id = last[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def _moved(self, board: _Board, reason: str = MOVED_REASON) -> None:
        """The room has a new owner (or none): its clients reconnect and sync with it."""
        if self._boards.get(board.board) is board:
            del self._boards[board.board]
        if board.conns:
            self.moves += 1
            log.info("%d connections follow the room to its new owner", len(board.conns),
                     extra={"room": board.board})  # fmt: skip
        for connection in list(board.conns.values()):
            connection.close_soon(CLOSE_MOVED, reason)

    def _wake(self) -> None:
        """Have the reader pick up a changed list of streams now."""
        self.writer.add(self._stream, encode_outbound(Wake()))

    # -- forwarded HTTP requests -----------------------------------------------------------

    async def call(self, room_id: str, request: dict[str, Any], body: bytes) -> Reply:
        call_id = f"{self.node}:{next(self._numbers)}"
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = answer
        self.writer.add(
            inbound_stream(room_id), encode_inbound(Call(self.node, call_id, request, body))
        )
        try:
            return await asyncio.wait_for(answer, CALL_TIMEOUT_SECONDS)
        except TimeoutError:
            raise Unavailable(
                "owner_unavailable",
                "the server holding this room did not answer in time; try again",
            ) from None
        finally:
            self._calls.pop(call_id, None)

    # -- reading ---------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            streams = {self._stream: self._position}
            for board in self._boards.values():
                if board.position is not None:
                    streams[outbound_stream(board.room)] = board.position
            try:
                result = await self._redis.xread(
                    streams,  # type: ignore[arg-type]
                    count=1000,
                    block=self._read_block_ms,
                )
                failures = 0
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                failures += 1
                self._transport_failed(exc)
                await asyncio.sleep(min(0.1 * 2**failures, 2.0))
                continue
            for name, entries in normalize(result):
                for entry_id, fields in entries:
                    try:
                        self._dispatch(name, entry_id, fields)
                    except BadEntry as exc:
                        log.error("skipped an unreadable stream entry: %s", exc)
                    except Exception:
                        log.exception("delivering a stream entry failed")

    def _dispatch(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        entry = decode_outbound(fields)
        if stream == self._stream:
            self._position = entry_id
        else:
            board = self._boards.get(stream.rsplit(":", 1)[1])
            if board is not None:
                board.position = entry_id
        if isinstance(entry, Reply):
            answer = self._calls.pop(entry.call_id, None)
            if answer is not None and not answer.done():
                answer.set_result(entry)
            return
        if isinstance(entry, Wake):
            return
        target = self._boards.get(entry.board)
        if target is None:
            return
        if entry.owner != target.node:
            if entry.epoch > target.epoch:
                self._moved(target)  # a new owner: the room moved
            # else: a stale owner (paused, cut off), whose frames are not the room's
            return
        # The owner itself (its epoch may have grown: it took its own expired lease
        # again, with its document and members as they were).
        target.epoch = max(target.epoch, entry.epoch)
        if isinstance(entry, Relayed):
            if self.stream_lag is not None:
                # A stream id starts with the milliseconds of the owner's Redis clock.
                appended_ms = int(entry_id.partition("-")[0])
                self.stream_lag.observe(max(time.time() * 1000 - appended_ms, 0) / 1000)
            skip = entry.skip.conn if entry.skip and entry.skip.gateway == self.node else None
            for conn, connection in list(target.conns.items()):
                if conn != skip:
                    connection.send(entry.data)
        elif isinstance(entry, Delivered):
            for conn in entry.conns:
                receiver = target.conns.get(conn)
                if receiver is not None:
                    receiver.send(entry.data)
        elif isinstance(entry, CloseConnection):
            closing = target.conns.get(entry.conn)
            if closing is not None:
                closing.close_soon(entry.code, entry.reason, last_words=entry.last_words)

    # -- watching owners, and being seen alive ---------------------------------------------

    async def _watch_forever(self) -> None:
        while True:
            await asyncio.sleep(self._watch_seconds)
            try:
                await self._refresh_alive()
            except RedisError as exc:
                self._transport_failed(exc)
            boards = list(self._boards.values())
            if not boards:
                continue
            try:
                holders = await self._leases.holders({board.room for board in boards})
            except StorageError as exc:
                log.warning("checking room owners failed: %s", exc)
                continue
            for board in boards:
                holder = holders.get(board.room)
                if holder is None or not holder.live or holder.node != board.node:
                    self._moved(board)
                elif holder.epoch > board.epoch:
                    board.epoch = holder.epoch  # the same owner took its lease again

    async def _refresh_alive(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(alive_key(self.node), b"1", px=ALIVE_MS)
            # What this gateway read is done with; a dead gateway's stream expires.
            pipe.xtrim(self._stream, minid=self._position, approximate=True)
            pipe.expire(self._stream, 60)
            *_, kept = await pipe.execute()
        if not kept:
            # Redis lost its data (a restart): owners append to this stream only while it
            # exists, so make it again. New ids are later (they start with the time).
            await self._redis.xadd(self._stream, cast(dict[Any, Any], encode_outbound(Wake())))

    def _transport_failed(self, exc: Exception) -> None:
        self._alive_stale = True
        boards = list(self._boards.values())
        if boards:
            log.error("cluster transport failed (%s): closing remote connections", exc)
        for board in boards:
            self._moved(board, TRANSPORT_REASON)
        for answer in self._calls.values():
            if not answer.done():
                answer.set_exception(
                    Unavailable("owner_unavailable", "the cluster transport is unavailable")
                )
        self._calls.clear()
