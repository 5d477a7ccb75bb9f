"""HTTP endpoints of access: the start page's organizer-key status, and a room's new join code.

Contract: docs/protocol.md ("Organizer key", "Changing the join code").
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.api import base_url, facilitator_claims, has_organizer_key
from server.errors import ApiError
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
                raise ApiError(404, "room_not_found", "no such room")
        except CodeTaken:
            continue  # a clash among ~10^9 codes: draw again
        break
    else:
        raise ApiError(503, "no_code_available", "could not allocate a join code, try again")
    log.info("join code changed", extra={"room": room_id, "code": code})
    return JSONResponse({"code": code, "join_url": f"{base_url(request, services)}/join/{code}"})
