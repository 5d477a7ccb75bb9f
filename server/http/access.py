"""Access: the start page's organizer-key status, a room's new join code, and invites.

Contract: docs/protocol.md ("Organizer key", "Changing the join code", section 1).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.creation import NoCodeAvailable
from server.errors import NotFound
from server.http import validation
from server.http.auth import facilitator_claims, has_organizer_key, room_record
from server.http.requests import base_url, json_body
from server.ids import new_code
from server.services import services_of
from server.storage.store import CodeTaken

log = logging.getLogger("koprade.api")

_CODE_ATTEMPTS = 20


async def organizer_status(request: Request) -> JSONResponse:
    """What the start page must know: does creating a room need the key; is the one it has right."""
    services = services_of(request)
    return JSONResponse(
        {
            "keyRequiredToCreate": services.organizer.key_needed_to_create_rooms,
            "keyAccepted": has_organizer_key(request, services),
        },
        headers={"cache-control": "no-store"},
    )


async def change_code(request: Request) -> JSONResponse:
    """A new join code for the room (facilitators); the old one stops admitting at once."""
    services = services_of(request)
    room_id = request.path_params["room_id"]
    await facilitator_claims(request, services, room_id)
    for _ in range(_CODE_ATTEMPTS):
        code = new_code()
        try:
            if not await services.store.change_code(room_id, code):
                raise NotFound("room_not_found", "no such room")
        except CodeTaken:
            continue  # a clash among ~10^9 codes: draw again
        break
    else:
        raise NoCodeAvailable()
    log.info("join code changed", extra={"room": room_id, "code": code})
    return JSONResponse({"code": code, "join_url": f"{base_url(request, services)}/join/{code}"})


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
