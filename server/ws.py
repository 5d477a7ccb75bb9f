"""The WebSocket endpoint: a thin asyncio shell around `Room` and the pure codec.

One connection's life: accept, authenticate (token for this room, not removed), acquire
the room (the shared board, or the participant's private board at `.../private`), join,
then read frames — decode, hand to the room — until the client leaves or breaks a rule.
Every way out ends in `leave` + `release`, so awareness is always cleaned up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.websockets import WebSocket

from server.crdt.errors import ProtocolError
from server.crdt.messages import EMPTY_UPDATE, SyncStep2, SyncUpdate, decode_message
from server.crdt.rules import OBSERVER, Rejected
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
from server.rooms.facilitation import (
    CLOSING_PARTICIPANT_REMOVED,
    closing_message,
    hello_message,
    rejected_message,
)
from server.rooms.manager import RoomNotFound, private_board_id
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
    try:
        if await services.facilitation.is_removed(room_id, claims.participant):
            log.warning("refused a removed participant", extra={"room": room_id})
            await websocket.send_bytes(closing_message(CLOSING_PARTICIPANT_REMOVED))
            await websocket.close(CLOSE_FORBIDDEN, "participant removed")
            return
        room = await services.rooms.acquire(board_id)
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
    services.activity.connected(room_id, claims.participant)
    writer = asyncio.ensure_future(connection.run_writer())
    reader: asyncio.Task[None] | None = None
    # Everything after the join is inside the cleanup: a failure anywhere (a database read
    # below, a bug) must never leave a dead connection in the room, which would then never
    # unload.
    try:
        if not private:
            connection.send(hello_message(claims, room))
            if claims.role != OBSERVER:
                connection.send(await services.facilitation.votes_message(room, claims.participant))
        conn_log.info("connected (%d in room)", len(room.connections))
        reader = asyncio.ensure_future(
            _read_frames(
                websocket,
                room,
                connection,
                settings.max_message_size,
                lambda: services.activity.edited(room_id, claims.participant),
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
        services.activity.disconnected(room_id, claims.participant)
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
    edited: Callable[[], None],
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
            message = decode_message(data)
            received[type(message).__name__].inc()
            room.receive(connection, message)
            if isinstance(message, SyncUpdate | SyncStep2) and message.update != EMPTY_UPDATE:
                edited()
        except ProtocolError as exc:
            connection.log.warning("rejected: %s", exc)
            errors.labels("bad_message").inc()
            connection.close_soon(CLOSE_BAD_MESSAGE, exc.reason)
            return
        except Rejected as exc:
            # The client's document now holds a change the room refused: it must start over
            # with a fresh one, so the socket closes after telling it why.
            connection.log.warning("update rejected (%s): %s", exc.rule, exc)
            errors.labels(f"rejected_{exc.rule}").inc()
            connection.close_soon(
                exc.close_code, exc.reason, last_words=rejected_message(exc.rule, str(exc))
            )
            return
        except Exception:
            connection.log.exception("unexpected error while handling a message")
            errors.labels("internal").inc()
            connection.close_soon(CLOSE_INTERNAL_ERROR, "internal error")
            return
