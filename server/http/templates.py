"""Templates over HTTP: the list, one template's board, saving and deleting a room's own.

Contract: docs/protocol.md, section "Templates"; the service is `server/sessions/templates.py`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.http import validation
from server.http.auth import has_organizer_key
from server.http.requests import json_body
from server.http.sessions import facilitator
from server.services import Services, services_of


def _saved_templates_visible(request: Request, services: Services) -> bool:
    """Saved templates hold a lab's own workshop text: only with the organizer key."""
    return has_organizer_key(request, services)


async def list_templates(request: Request) -> Response:
    services = services_of(request)
    include_saved = _saved_templates_visible(request, services)
    return JSONResponse(
        {"templates": await services.sessions.templates.list(include_saved=include_saved)}
    )


async def view_template(request: Request) -> Response:
    services = services_of(request)
    entry, board = await services.sessions.templates.template(
        request.path_params["template_id"],
        validation.choice(request.query_params, "lang", ("lv", "en"), "lv"),
        include_saved=_saved_templates_visible(request, services),
    )
    board = {key: value for key, value in board.items() if key not in ("template", "translations")}
    return JSONResponse({**board, "template": entry})


async def save_template(request: Request) -> Response:
    services, room_id, _ = await facilitator(request)
    wanted = validation.validated(validation.SaveTemplate, await json_body(request))
    entry = await services.sessions.templates.save(room_id, wanted.name, wanted.description or "")
    return JSONResponse(entry, status_code=201)


async def delete_template(request: Request) -> Response:
    services, room_id, _ = await facilitator(request)
    await services.sessions.templates.delete(room_id, request.path_params["template_id"])
    return Response(status_code=204)
