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

from starlette.websockets import WebSocket

from server.crdt.errors import ProtocolError
from server.crdt.messages import decode_message
from server.crdt.rules import OBSERVER, Rejected
from server.errors import Refused
from server.ids import private_board_id
from server.logs import connection_logger
from server.metrics import Metrics
from server.rooms.connection import (
    CLOSE_BAD_MESSAGE,
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL_ERROR,
    CLOSE_INVALID_TOKEN,
    CLOSE_ROOM_NOT_FOUND,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN_LATER,
    Connection,
)
from server.rooms.facilitation import closing_message, rejected_message
from server.rooms.manager import RoomNotFound
from server.rooms.room import Room
from server.services import services_of
from server.storage.store import StorageError
from server.tokens import InvalidToken

log = logging.getLogger("koprade.ws")

STORAGE_UNAVAILABLE = "storage unavailable: try again later"


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

    conn_log = connection_logger(room_id, claims.participant, claims.role)
    connection = Connection(
        websocket,
        claims.identity,
        max_queue_bytes=settings.send_queue_bytes,
        max_queue_messages=settings.send_queue_messages,
        log=conn_log,
    )
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
            _read_frames(websocket, room, connection, settings.max_message_size, services.metrics)
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


async def _read_frames(
    websocket: WebSocket,
    room: Room,
    connection: Connection,
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
            refusal = room.receive(connection, decoded)
        except ProtocolError as exc:
            _refuse(connection, exc, metrics)
            return
        except Exception:
            connection.log.exception("unexpected error while handling a message")
            errors.labels("internal").inc()
            connection.close_soon(CLOSE_INTERNAL_ERROR, "internal error")
            return
        if refusal is not None:
            _refuse(connection, refusal.error, metrics)
            return


def _refuse(connection: Connection, error: ProtocolError | Rejected, metrics: Metrics) -> None:
    """Close a connection whose message the room did not accept (nothing of it changed)."""
    if isinstance(error, Rejected):
        # The client's document now holds a change the room refused: it must start over
        # with a fresh one, so the socket closes after telling it why.
        connection.log.warning("update rejected (%s): %s", error.rule, error)
        metrics.errors.labels(f"rejected_{error.rule}").inc()
        connection.close_soon(
            error.close_code, error.reason, last_words=rejected_message(error.rule, str(error))
        )
        return
    connection.log.warning("rejected: %s", error)
    metrics.errors.labels("bad_message").inc()
    connection.close_soon(CLOSE_BAD_MESSAGE, error.reason)
