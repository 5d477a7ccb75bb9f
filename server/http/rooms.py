"""Rooms: create one, join one with its code, its summary, its people and its figures.

Contract: docs/protocol.md, section 1. Exports and import are `transfer.py`.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from server import insight
from server.crdt.board import board_counts
from server.creation import create_room_record
from server.errors import DomainError, Gone, NotFound, Refused, Unauthenticated
from server.http import validation
from server.http.auth import (
    check_organizer_key,
    facilitator_claims,
    has_organizer_key,
    room_claims,
    room_record,
)
from server.http.requests import base_url, json_body
from server.ids import new_participant_id, normalize_code
from server.rooms.manager import RoomNotFound
from server.services import Services, services_of
from server.storage.store import RoomRecord
from server.timestamps import iso
from server.tokens import InvalidToken, Role

log = logging.getLogger("koprade.api")

_CODE_ATTEMPTS = 20


async def create_room(request: Request) -> JSONResponse:
    services = services_of(request)
    data = await json_body(request)
    check_organizer_key(request, data, services)
    wanted = validation.validated(validation.CreateRoom, data)
    board = None
    if wanted.template is not None:  # a template's board (server/sessions/templates.py)
        _, board = await services.sessions.templates.template(
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
    record = await create_room_record(services.store, title, _CODE_ATTEMPTS)
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
    except DomainError as exc:
        if exc.slug in FAILED_JOIN_ERRORS:
            services.join_limiter.failed(address)
        raise


async def admit(request: Request, services: Services) -> JSONResponse:
    data = await json_body(request)
    wanted = validation.validated(validation.JoinRoom, data)
    code, name = normalize_code(wanted.code), wanted.name
    role: Role = wanted.role  # an invite below makes it "facilitator"
    record = await services.store.get_room_by_code(code)
    if record is None:
        raise NotFound("room_not_found", f"no room has the code {code}")
    if wanted.invite is not None:
        try:
            invited_to = services.signer.verify_invite(wanted.invite)
        except InvalidToken as exc:
            raise Unauthenticated("invalid_invite", f"invalid invite: {exc}") from exc
        if invited_to != record.id:
            raise Refused("wrong_room", "the invite is for another room")
        role = "facilitator"
    elif await room_is_closed(services, record.id):
        # Only a facilitator's invite still opens a closed room (to reopen or review it).
        raise Gone("room_closed", "this room is closed: its facilitator can reopen it")
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
        raise NotFound("room_not_found", "no such room") from exc
    services.rooms.release(room)
    return room.settings.closed


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
