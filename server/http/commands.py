"""Facilitation commands over HTTP: `POST /api/rooms/{room}/commands` (docs/facilitation.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from server.http.auth import room_claims
from server.http.requests import json_body
from server.rooms import commands
from server.services import services_of


async def run_command(request: Request) -> JSONResponse:
    """A facilitation command: checked and applied by the server."""
    services = services_of(request)
    room_id = request.path_params["room_id"]
    claims = await room_claims(request, services, room_id)
    body = await json_body(request)
    # Who may run it is decided before its arguments are read: a participant learns no
    # more about a facilitator command than that it is not theirs.
    services.facilitation.authorize(claims, commands.command_name(body))
    return JSONResponse(await services.facilitation.run(claims, commands.command(body)))
