"""The JSON join flow: create a room, join it with a code, read its summary.

Exports and import are in server/transfer.py.

Every error is a 4xx with `{"error": slug, "message": text}` (docs/protocol.md, section 1).
"""

from __future__ import annotations

import logging
from typing import Any

from pycrdt import Doc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server import insight, safejson, validation
from server.crdt.board import board_counts
from server.errors import ApiError
from server.exports import NoCodeAvailable, create_room_record, iso
from server.ids import is_room_id, new_participant_id, normalize_code
from server.organizer import HEADER as ORGANIZER_HEADER
from server.rooms.manager import RoomNotFound
from server.services import Services, services_of
from server.storage.store import RoomRecord
from server.tokens import Claims, InvalidToken

log = logging.getLogger("koprade.api")

MAX_BODY_BYTES = 64 * 1024
_CODE_ATTEMPTS = 20


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    log.info("%s %s -> %d %s", request.method, request.url.path, exc.status, exc.error)
    return JSONResponse(
        {"error": exc.error, "message": exc.message, **exc.extra}, status_code=exc.status
    )


# -- request helpers ---------------------------------------------------------------------


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request's JSON object, read up to `limit` bytes and parsed with a bounded depth."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "body_too_large", f"the body must be at most {limit} bytes")
    try:
        data = safejson.loads(body)
    except safejson.InvalidJson as exc:
        message = "the body is nested too deeply" if exc.too_deep else "the body is not valid JSON"
        raise ApiError(400, "invalid_json", message) from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


async def room_claims(request: Request, services: Services, room_id: str) -> Claims:
    """The token's claims for this room; refuses removed participants."""
    claims = token_claims(request, services, room_id)
    if await services.facilitation.is_removed(room_id, claims.participant):
        raise ApiError(401, "participant_removed", "a facilitator removed you from this room")
    return claims


def token_claims(request: Request, services: Services, room_id: str) -> Claims:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.query_params.get("token")
    try:
        claims = services.signer.verify(token)
    except InvalidToken as exc:
        raise ApiError(401, "invalid_token", f"invalid token: {exc}") from exc
    if claims.room != room_id:
        raise ApiError(403, "wrong_room", "the token is for another room")
    return claims


def base_url(request: Request, services: Services) -> str:
    if services.settings.public_url:
        return services.settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def check_organizer_key(request: Request, data: dict[str, Any], services: Services) -> None:
    """Creating a room: the organizer key unless the server may create rooms without it."""
    if services.organizer.key_needed_to_create_rooms:
        require_organizer_key(request, services, data)


def require_organizer_key(
    request: Request, services: Services, data: dict[str, Any] | None = None
) -> None:
    """Lab-wide data (every room's figures, saved templates): always the organizer key."""
    given = request.headers.get(ORGANIZER_HEADER) or (data or {}).get("organizer_key")
    if not isinstance(given, str) or not given:
        raise ApiError(401, "organizer_key_required", "this needs the organizer key")
    if not services.organizer.accepts(given):
        raise ApiError(403, "organizer_key_invalid", "the organizer key is wrong")


def has_organizer_key(
    request: Request, services: Services, data: dict[str, Any] | None = None
) -> bool:
    try:
        require_organizer_key(request, services, data)
    except ApiError:
        return False
    return True


# -- endpoints -----------------------------------------------------------------------------


async def create_room(request: Request) -> JSONResponse:
    services = services_of(request)
    data = await json_body(request)
    check_organizer_key(request, data, services)
    wanted = validation.validated(validation.CreateRoom, data)
    board = None
    if wanted.template is not None:  # a template's board (server/sessions.py)
        _, board = await services.sessions.template(
            wanted.template,
            wanted.lang,
            # saved ones hold a lab's own workshop text: only with the organizer key
            include_saved=has_organizer_key(request, services, data),
        )
    title, name = wanted.title, wanted.name or "Facilitator"
    return await open_room(request, services, title, name, board)


async def open_room(
    request: Request,
    services: Services,
    title: str,
    name: str,
    board: dict[str, Any] | None = None,
) -> JSONResponse:
    """A new room, `board` (a JSON export) its first board, `name` its facilitator: 201."""
    try:
        record = await create_room_record(services.store, title, _CODE_ATTEMPTS)
    except NoCodeAvailable as exc:
        raise ApiError(
            503, "no_code_available", "could not allocate a join code, try again"
        ) from exc
    if board is not None:
        await services.sessions.seed(record.id, board)
    participant = new_participant_id()
    await services.store.add_participant(record.id, participant, name, "facilitator")
    log.info("room created", extra={"room": record.id, "code": record.code})
    return JSONResponse(
        new_room_body(request, services, record, participant, name), status_code=201
    )


def new_room_body(
    request: Request, services: Services, record: RoomRecord, participant: str, name: str
) -> dict[str, Any]:
    """The 201 body of a new room (POST /api/rooms, POST /api/rooms/import)."""
    token = services.signer.issue(record.id, participant, name, "facilitator")
    base = base_url(request, services)
    return {
        "room": record.id,
        "code": record.code,
        "title": record.title,
        "created": iso(record.created),
        "participant": participant,
        "facilitator_token": token,
        "join_url": f"{base}/join/{record.code}",
        "facilitator_url": f"{base}/room/{record.id}#token={token}",
    }


#: Join failures that count against the address (server/join_limiter.py): a wrong guess.
FAILED_JOIN_ERRORS = frozenset({"room_not_found", "room_closed", "invalid_invite", "wrong_room"})


async def join_room(request: Request) -> JSONResponse:
    services = services_of(request)
    address = request.client.host if request.client else ""
    wait = services.join_limiter.retry_after(address)
    if wait is not None:
        log.info("join refused: too many failed attempts", extra={"client": address})
        return JSONResponse(
            {
                "error": "too_many_failed_joins",
                "message": f"too many wrong codes from your address: try again in {wait} s",
                "retry_after": wait,
            },
            status_code=429,
            headers={"retry-after": str(wait)},
        )
    try:
        return await admit(request, services)
    except ApiError as exc:
        if exc.error in FAILED_JOIN_ERRORS:
            services.join_limiter.failed(address)
        raise


async def admit(request: Request, services: Services) -> JSONResponse:
    data = await json_body(request)
    wanted = validation.validated(validation.JoinRoom, data)
    code, name, role = normalize_code(wanted.code), wanted.name, wanted.role
    record = await services.store.get_room_by_code(code)
    if record is None:
        raise ApiError(404, "room_not_found", f"no room has the code {code}")
    if wanted.invite is not None:
        try:
            invited_to = services.signer.verify_invite(wanted.invite)
        except InvalidToken as exc:
            raise ApiError(401, "invalid_invite", f"invalid invite: {exc}") from exc
        if invited_to != record.id:
            raise ApiError(403, "wrong_room", "the invite is for another room")
        role = "facilitator"
    elif await room_is_closed(services, record.id):
        # Only a facilitator's invite still opens a closed room (to reopen or review it).
        raise ApiError(410, "room_closed", "this room is closed: its facilitator can reopen it")
    participant = new_participant_id()
    await services.store.add_participant(record.id, participant, name, role)
    if role != "observer":
        services.facilitation.joined(record.id, participant, name)
    log.info("%s joined", role, extra={"room": record.id, "participant": participant})
    return JSONResponse(
        {
            "room": record.id,
            "title": record.title,
            "participant": participant,
            "name": name,
            "role": role,
            "token": services.signer.issue(record.id, participant, name, role),
        }
    )


async def room_is_closed(services: Services, room_id: str) -> bool:
    """Loads the room, as the joiner's socket is about to: concurrent joins share one load,
    and later ones find it in memory (it unloads when idle)."""
    try:
        room = await services.rooms.acquire(room_id)
    except RoomNotFound as exc:  # deleted meanwhile
        raise ApiError(404, "room_not_found", "no such room") from exc
    services.rooms.release(room)
    return room.settings.get("phase") == "closed"


async def room_record(services: Services, room_id: str) -> RoomRecord:
    record = await services.store.get_room(room_id) if is_room_id(room_id) else None
    if record is None:
        raise ApiError(404, "room_not_found", "no such room")
    return record


async def room_summary(request: Request) -> JSONResponse:
    services = services_of(request)
    room_id = request.path_params["room_id"]
    claims = await room_claims(request, services, room_id)
    record = await room_record(services, room_id)
    doc = await services.rooms.board(room_id)
    counts = board_counts(doc)
    counts["participants"] = await services.store.count_participants(room_id)
    counts["connections"] = services.rooms.connection_count(room_id)
    return JSONResponse(
        {
            "room": record.id,
            "title": record.title,
            "code": record.code,
            "created": iso(record.created),
            "counts": counts,
            # Who the token belongs to: a facilitator link opened on another device
            # learns its own name and role from here.
            "participant": claims.participant,
            "name": claims.name,
            "role": claims.role,
        }
    )


async def run_command(request: Request) -> JSONResponse:
    """A facilitation command (docs/facilitation.md): checked and applied by the server."""
    services = services_of(request)
    room_id = request.path_params["room_id"]
    claims = await room_claims(request, services, room_id)
    body = await json_body(request)
    # Who may run it is decided before its arguments are read: a participant learns no
    # more about a facilitator command than that it is not theirs.
    services.facilitation.authorize(claims, validation.command_name(body))
    return JSONResponse(await services.facilitation.run(claims, validation.command(body)))


async def facilitator_claims(request: Request, services: Services, room_id: str) -> Claims:
    claims = await room_claims(request, services, room_id)
    if claims.role != "facilitator":
        raise ApiError(403, "facilitator_only", "only facilitators can do this")
    await room_record(services, room_id)
    return claims


async def list_participants(request: Request) -> JSONResponse:
    services = services_of(request)
    room_id = request.path_params["room_id"]
    await facilitator_claims(request, services, room_id)
    room = services.rooms.rooms.get(room_id)
    connected = {c.identity.participant for c in room.connections} if room else set()
    people = await services.store.list_participants(room_id)
    return JSONResponse(
        {
            "participants": [
                {
                    "participant": person.id,
                    "name": person.name,
                    "role": person.role,
                    "joined": iso(person.joined),
                    "removed": iso(person.removed) if person.removed else None,
                    "connected": person.id in connected,
                }
                for person in people
            ]
        }
    )


async def create_invite(request: Request) -> JSONResponse:
    """A link that makes whoever opens it a co-facilitator of the room."""
    services = services_of(request)
    room_id = request.path_params["room_id"]
    await facilitator_claims(request, services, room_id)
    validation.validated(validation.CreateInvite, await json_body(request))
    record = await room_record(services, room_id)
    invite = services.signer.issue_invite(room_id)
    base = base_url(request, services)
    return JSONResponse(
        {"invite": invite, "invite_url": f"{base}/join/{record.code}#invite={invite}"},
        status_code=201,
    )


async def room_insight(request: Request) -> JSONResponse:
    """Who contributed how much in this room, for its facilitators (server/insight.py)."""
    services = services_of(request)
    room_id = request.path_params["room_id"]
    await facilitator_claims(request, services, room_id)
    live = services.rooms.rooms.get(room_id)
    figures = await insight.stored_figures(
        services.store, room_id, live.doc if live is not None else None, services.rooms.pseudonyms
    )
    pending = services.activity.pending(room_id)
    for participant, (edits, seconds) in pending.items():
        stored_edits, stored_seconds = figures.activity.get(participant, (0, 0.0))
        figures.activity[participant] = (stored_edits + edits, stored_seconds + seconds)
    if live is not None:
        figures.connected = {c.identity.participant for c in live.connections}
    return JSONResponse(insight.room_insight(figures))


async def lab_stats(request: Request) -> JSONResponse:
    """Figures across all rooms for the lab; always needs the organizer key."""
    services = services_of(request)
    require_organizer_key(request, services)
    await services.activity.flush()

    def live_doc(room_id: str) -> Doc | None:
        room = services.rooms.rooms.get(room_id)
        return room.doc if room is not None else None

    return JSONResponse(
        await insight.lab_stats(services.store, live_doc, services.rooms.pseudonyms)
    )


async def metrics(request: Request) -> Response:
    """Prometheus text format (server/metrics.py); no personal data in it."""
    registry = services_of(request).metrics
    return Response(registry.exposition(), media_type=registry.media_type)


async def healthz(request: Request) -> JSONResponse:
    services = services_of(request)
    if not services.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    try:
        await services.store.ping()
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "message": f"database unreachable: {exc}"},
            status_code=503,
        )
    writer = services.rooms.writer
    if writer.consecutive_failures:
        # Reads may work while every commit fails (a locked or full database): accepted
        # updates then wait in memory and are relayed to nobody (docs/operations.md).
        return JSONResponse(
            {
                "status": "unavailable",
                "message": f"storing updates failed {writer.consecutive_failures} times in a "
                f"row ({writer.pending_count()} waiting): {writer.last_error}",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok"})


_HTTP_ERRORS = {404: ("not_found", "no such endpoint"), 405: ("method_not_allowed", "")}


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404/405 (and other HTTP errors) as JSON like every other error."""
    assert isinstance(exc, HTTPException)
    error, message = _HTTP_ERRORS.get(exc.status_code, ("http_error", ""))
    return JSONResponse(
        {"error": error, "message": message or str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )
