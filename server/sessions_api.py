"""HTTP endpoints of sessions (server/sessions.py): snapshots, templates, deletion, data export.

Contract: docs/protocol.md, sections "Snapshots", "Templates" and "Data protection". Every
error is a 4xx with `{"error", "message"}` like the rest of the API.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import validation
from server.api import (
    facilitator_claims,
    has_organizer_key,
    json_body,
    open_room,
    room_record,
)
from server.exports import export_json
from server.services import Services, services_of
from server.sessions import snapshot_entry
from server.tokens import Claims


async def _facilitator(request: Request) -> tuple[Services, str, Claims]:
    services = services_of(request)
    room_id = request.path_params["room_id"]
    claims = await facilitator_claims(request, services, room_id)
    return services, room_id, claims


async def _optional_body(request: Request) -> dict[str, Any]:
    """A JSON body where one is optional: none at all reads as {}."""
    if not request.headers.get("content-type") and not request.headers.get("content-length"):
        return {}
    if request.headers.get("content-length") == "0":
        return {}
    return await json_body(request)


async def _names(services: Services, room_id: str) -> dict[str, str]:
    return {p.id: p.name for p in await services.store.list_participants(room_id)}


def _no_store(response: Response) -> Response:
    response.headers["cache-control"] = "no-store"
    return response


# -- snapshots --------------------------------------------------------------------------------


async def list_snapshots(request: Request) -> Response:
    services, room_id, _ = await _facilitator(request)
    names = await _names(services, room_id)
    found = await services.sessions.saved.list_snapshots(room_id)
    return _no_store(JSONResponse({"snapshots": [snapshot_entry(s, names) for s in found]}))


async def take_snapshot(request: Request) -> Response:
    services, room_id, claims = await _facilitator(request)
    name = validation.validated(validation.TakeSnapshot, await json_body(request)).name
    record = await services.sessions.take_snapshot(room_id, name, claims.participant)
    names = await _names(services, room_id)
    return JSONResponse(snapshot_entry(record, names), status_code=201)


async def view_snapshot(request: Request) -> Response:
    """The snapshot's board: JSON like the export (default) or its Yjs state (format=yjs)."""
    services, room_id, _ = await _facilitator(request)
    fmt = validation.choice(request.query_params, "format", ("json", "yjs"), "json")
    record, doc = await services.sessions.snapshot_doc(room_id, request.path_params["snapshot_id"])
    if fmt == "yjs":
        return _no_store(Response(doc.get_update(), media_type="application/octet-stream"))
    room = await room_record(services, room_id)
    entry = snapshot_entry(record, await _names(services, room_id))
    return _no_store(JSONResponse({**export_json(room, doc), "snapshot": entry}))


async def delete_snapshot(request: Request) -> Response:
    services, room_id, _ = await _facilitator(request)
    await services.sessions.delete_snapshot(room_id, request.path_params["snapshot_id"])
    return Response(status_code=204)


async def restore_snapshot(request: Request) -> Response:
    services, room_id, claims = await _facilitator(request)
    restored, backup = await services.sessions.restore(
        room_id, request.path_params["snapshot_id"], claims.participant
    )
    names = await _names(services, room_id)
    return JSONResponse(
        {"restored": snapshot_entry(restored, names), "backup": snapshot_entry(backup, names)}
    )


async def duplicate_snapshot(request: Request) -> Response:
    """A new room for the next session with the snapshot's board; the caller facilitates it."""
    services, room_id, claims = await _facilitator(request)
    wanted = validation.validated(validation.DuplicateSnapshot, await _optional_body(request))
    board = await services.sessions.snapshot_board(room_id, request.path_params["snapshot_id"])
    title = wanted.title or (await room_record(services, room_id)).title
    return await open_room(request, services, title, claims.name, board)


# -- templates -------------------------------------------------------------------------------


def _saved_templates_visible(request: Request, services: Services) -> bool:
    """Saved templates hold a lab's own workshop text: only with the organizer key."""
    return has_organizer_key(request, services)


async def list_templates(request: Request) -> Response:
    services = services_of(request)
    include_saved = _saved_templates_visible(request, services)
    return JSONResponse(
        {"templates": await services.sessions.list_templates(include_saved=include_saved)}
    )


async def view_template(request: Request) -> Response:
    services = services_of(request)
    entry, board = await services.sessions.template(
        request.path_params["template_id"],
        validation.choice(request.query_params, "lang", ("lv", "en"), "lv"),
        include_saved=_saved_templates_visible(request, services),
    )
    board = {key: value for key, value in board.items() if key not in ("template", "translations")}
    return JSONResponse({**board, "template": entry})


async def save_template(request: Request) -> Response:
    services, room_id, _ = await _facilitator(request)
    wanted = validation.validated(validation.SaveTemplate, await json_body(request))
    entry = await services.sessions.save_template(room_id, wanted.name, wanted.description or "")
    return JSONResponse(entry, status_code=201)


async def delete_template(request: Request) -> Response:
    services, room_id, _ = await _facilitator(request)
    await services.sessions.delete_template(room_id, request.path_params["template_id"])
    return Response(status_code=204)


# -- data protection ---------------------------------------------------------------------------


async def delete_room(request: Request) -> Response:
    services, room_id, _ = await _facilitator(request)
    await services.sessions.delete_room(room_id)
    return Response(status_code=204)


async def room_data(request: Request) -> Response:
    services, room_id, _ = await _facilitator(request)
    record = await room_record(services, room_id)
    response = JSONResponse(await services.sessions.room_data(record))
    response.headers["content-disposition"] = f'attachment; filename="koprade-{room_id}-data.json"'
    return _no_store(response)


def session_routes() -> list[Route]:
    snapshot = "/api/rooms/{room_id}/snapshots/{snapshot_id:int}"
    return [
        Route("/api/rooms/{room_id}", (delete_room), methods=["DELETE"]),
        Route("/api/rooms/{room_id}/data", (room_data), methods=["GET"]),
        Route("/api/rooms/{room_id}/snapshots", (list_snapshots), methods=["GET"]),
        Route("/api/rooms/{room_id}/snapshots", (take_snapshot), methods=["POST"]),
        Route(snapshot, (view_snapshot), methods=["GET"]),
        Route(snapshot, (delete_snapshot), methods=["DELETE"]),
        Route(snapshot + "/restore", (restore_snapshot), methods=["POST"]),
        Route(snapshot + "/duplicate", (duplicate_snapshot), methods=["POST"]),
        Route("/api/rooms/{room_id}/templates", (save_template), methods=["POST"]),
        Route(
            "/api/rooms/{room_id}/templates/{template_id}",
            (delete_template),
            methods=["DELETE"],
        ),
        Route("/api/templates", (list_templates), methods=["GET"]),
        Route("/api/templates/{template_id}", (view_template), methods=["GET"]),
    ]
