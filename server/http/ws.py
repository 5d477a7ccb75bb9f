"""The WebSocket endpoint: a thin asyncio shell around `Room` and the pure codec.

One connection's life: accept, verify the token (for this room), the `authenticated` hook
(a removed participant is refused), acquire the room (the shared board, or the
participant's private board at `.../private`), join and the `joined` hook, then read
frames — decode, hand to the room — until the client leaves or the room refuses a message.
Every way out ends in `leave`, the `left` hook and `release`, so presence is always
cleaned up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.websockets import WebSocket

from server.crdt.errors import ProtocolError
from server.crdt.messages import Message, decode_message
from server.crdt.rules import OBSERVER
from server.errors import OwnedElsewhere, Refused, Unavailable
from server.ids import private_board_id
from server.logs import connection_logger
from server.metrics import Metrics
from server.rooms.connection import (
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_INVALID_TOKEN,
    CLOSE_ROOM_NOT_FOUND,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN_LATER,
    STORAGE_UNAVAILABLE,
    Connection,
)
from server.rooms.facilitation import closing_message
from server.rooms.manager import RoomNotFound
from server.rooms.protocol import Refusal
from server.rooms.refusal import refuse
from server.rooms.room import Member
from server.services import Services, services_of
from server.storage.store import StorageError
from server.tokens import Claims, InvalidToken

log = logging.getLogger("koprade.ws")


async def room_socket(websocket: WebSocket) -> None:
    services = services_of(websocket)
    settings = services.settings
    room_id = websocket.path_params["room_id"]
    # Accept first: a refusal before the handshake reaches browsers as a bare HTTP 403,
    # while a close frame carries a code and a reason the client can act on.
    await websocket.accept()

    try:
        claims = services.signer.verify(websocket.query_params.get("token"))
    except InvalidToken as exc:
        log.warning("refused connection: %s", exc, extra={"room": room_id})
        await websocket.close(CLOSE_INVALID_TOKEN, f"invalid token: {exc}")
        return
    if claims.room != room_id:
        log.warning("refused token of room %s", claims.room, extra={"room": room_id})
        await websocket.close(CLOSE_FORBIDDEN, "token is for another room")
        return
    private = websocket.scope.get("path", "").endswith("/private")
    if private and claims.role == OBSERVER:
        await websocket.close(CLOSE_FORBIDDEN, "observers have no private board")
        return
    board_id = private_board_id(room_id, claims.participant) if private else room_id
    hooks = services.rooms.hooks
    try:
        await hooks.authenticated(room_id, claims)
        room = await services.rooms.acquire(board_id)
    except OwnedElsewhere as owner:
        # Cluster mode: another process serves this room; this one relays for it.
        await _serve_through_owner(websocket, services, board_id, owner, claims)
        return
    except Refused as exc:
        log.warning("refused a connection: %s", exc.message, extra={"room": room_id})
        # The slug first, as a `closing` message the client acts on; the close reason
        # stays for people reading logs and for older clients.
        await websocket.send_bytes(closing_message(exc.slug))
        await websocket.close(CLOSE_FORBIDDEN, exc.message)
        return
    except RoomNotFound:
        await websocket.close(CLOSE_ROOM_NOT_FOUND, "room not found")
        return
    except StorageError as exc:
        # The database failed: nothing the client did, and no server bug (not 1011).
        log.error("storage unavailable while connecting: %s", exc, extra={"room": room_id})
        services.metrics.errors.labels("storage").inc()
        await websocket.close(CLOSE_TRY_AGAIN_LATER, STORAGE_UNAVAILABLE)
        return

    connection = _connection(websocket, services, claims)
    conn_log = connection.log
    room.join(connection)
    writer = asyncio.ensure_future(connection.run_writer())
    reader: asyncio.Task[None] | None = None
    # Everything after the join is inside the cleanup: a failure anywhere (a database read
    # in a hook, a bug) must never leave a dead connection in the room, which would then
    # never unload.
    try:
        await hooks.joined(room, connection, claims)
        conn_log.info("connected (%d in room)", len(room.connections))
        reader = asyncio.ensure_future(
            _read_frames(
                websocket,
                connection,
                lambda _, message: room.receive(connection, message),
                settings.max_message_size,
                services.metrics,
            )
        )
        # The writer ends first when the connection is closed on the server's initiative
        # (a rule broken, a slow client): then there is nothing left to read.
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
    except StorageError as exc:
        conn_log.error("storage unavailable while connecting: %s", exc)
        services.metrics.errors.labels("storage").inc()
        connection.close_soon(CLOSE_TRY_AGAIN_LATER, STORAGE_UNAVAILABLE)
    finally:
        # Leave first, so the others see this person go even if the close below waits.
        room.leave(connection)
        hooks.left(room, connection.identity)
        services.rooms.release(room)
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if not connection.closing:
            connection.mark_disconnected()  # nothing left to send: let the writer end
        # A pending close frame gets its chance; the writer bounds that wait itself.
        await asyncio.gather(writer, return_exceptions=True)
        conn_log.info("disconnected (%d in room)", len(room.connections))


def _connection(websocket: WebSocket, services: Services, claims: Claims) -> Connection:
    """One client's socket as rooms see it, with the server's send limits."""
    settings = services.settings
    return Connection(
        websocket,
        claims.identity,
        max_queue_bytes=settings.send_queue_bytes,
        max_queue_messages=settings.send_queue_messages,
        log=connection_logger(claims.room, claims.participant, claims.role),
    )


async def _serve_through_owner(
    websocket: WebSocket,
    services: Services,
    board_id: str,
    owner: OwnedElsewhere,
    claims: Claims,
) -> None:
    """A connection to a room another process owns: frames go to the owner's inbound
    stream, and what the owner sends comes back through this process's gateway."""
    gateway = services.gateway
    if gateway is None:  # only cluster mode raises OwnedElsewhere
        raise RuntimeError("a room owned elsewhere, but no cluster gateway")
    settings = services.settings
    connection = _connection(websocket, services, claims)
    conn_log = connection.log
    try:
        link = await gateway.attach(board_id, owner, connection, claims)
    except (Unavailable, StorageError) as exc:
        conn_log.warning("cannot reach the room's owner: %s", exc)
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "the room is changing servers; try again")
        return

    def forward(data: bytes, _: Message) -> None:
        link.forward(data)

    writer = asyncio.ensure_future(connection.run_writer())
    reader = asyncio.ensure_future(
        _read_frames(websocket, connection, forward, settings.max_message_size, services.metrics)
    )
    conn_log.info("connected through %s", owner.node)
    try:
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        link.detach()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        if not connection.closing:
            connection.mark_disconnected()
        await asyncio.gather(writer, return_exceptions=True)
        conn_log.info("disconnected")


#: What a frame reader hands each well-formed message to: the raw bytes and the decoded
#: message; a refusal closes the connection.
FrameHandler = Callable[[bytes, Message], Refusal[Member] | None]


async def _read_frames(
    websocket: WebSocket,
    connection: Connection,
    handle: FrameHandler,
    max_size: int,
    metrics: Metrics,
) -> None:
    received, errors = metrics.received, metrics.errors
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            connection.mark_disconnected()
            return
        data = message.get("bytes")
        try:
            if data is None:
                raise ProtocolError("text frames are not part of the protocol")
            if len(data) > max_size:
                connection.log.warning("message too big: %d bytes", len(data))
                errors.labels("too_big").inc()
                connection.close_soon(
                    CLOSE_TOO_BIG, f"message too big ({len(data)} bytes > {max_size})"
                )
                return
            decoded = decode_message(data)
            received[type(decoded).__name__].inc()
            refusal = handle(data, decoded)
        except ProtocolError as exc:
            refuse(connection, exc, metrics)
            return
        except Exception:
            connection.log.exception("unexpected error while handling a message")
            errors.labels("internal").inc()
            connection.close_soon(CLOSE_INTERNAL_ERROR, "internal error")
            return
        if refusal is not None:
            refuse(connection, refusal.error, metrics)
            return
