"""Sessions over HTTP: snapshots, and data protection (deleting a room, its data export).

Contract: docs/protocol.md, sections "Snapshots" and "Data protection"; templates are
`templates.py`. The services are `server/sessions/`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.exports import export_json
from server.http import validation
from server.http.auth import facilitator_claims, room_record
from server.http.requests import json_body, no_store, optional_body
from server.http.rooms import open_room
from server.services import Services, services_of
from server.sessions.snapshots import snapshot_entry
from server.tokens import Claims


async def facilitator(request: Request) -> tuple[Services, str, Claims]:
    """The services, the room id of the URL and its facilitator's claims."""
    services = services_of(request)
    room_id = request.path_params["room_id"]
    claims = await facilitator_claims(request, services, room_id)
    return services, room_id, claims


async def _names(services: Services, room_id: str) -> dict[str, str]:
    return {p.id: p.name for p in await services.store.list_participants(room_id)}


# -- snapshots --------------------------------------------------------------------------------


async def list_snapshots(request: Request) -> Response:
    services, room_id, _ = await facilitator(request)
    names = await _names(services, room_id)
    found = await services.sessions.saved.list_snapshots(room_id)
    return no_store(JSONResponse({"snapshots": [snapshot_entry(s, names) for s in found]}))


async def take_snapshot(request: Request) -> Response:
    services, room_id, claims = await facilitator(request)
    name = validation.validated(validation.TakeSnapshot, await json_body(request)).name
    record = await services.sessions.snapshots.take(room_id, name, claims.participant)
    names = await _names(services, room_id)
    return JSONResponse(snapshot_entry(record, names), status_code=201)


async def view_snapshot(request: Request) -> Response:
    """The snapshot's board: JSON like the export (default) or its Yjs state (format=yjs)."""
    services, room_id, _ = await facilitator(request)
    fmt = validation.choice(request.query_params, "format", ("json", "yjs"), "json")
    snapshot_id = request.path_params["snapshot_id"]
    record, doc = await services.sessions.snapshots.doc(room_id, snapshot_id)
    if fmt == "yjs":
        return no_store(Response(doc.get_update(), media_type="application/octet-stream"))
    room = await room_record(services, room_id)
    entry = snapshot_entry(record, await _names(services, room_id))
    return no_store(JSONResponse({**export_json(room, doc), "snapshot": entry}))


async def delete_snapshot(request: Request) -> Response:
    services, room_id, _ = await facilitator(request)
    await services.sessions.snapshots.delete(room_id, request.path_params["snapshot_id"])
    return Response(status_code=204)


async def restore_snapshot(request: Request) -> Response:
    services, room_id, claims = await facilitator(request)
    restored, backup = await services.sessions.snapshots.restore(
        room_id, request.path_params["snapshot_id"], claims.participant
    )
    names = await _names(services, room_id)
    return JSONResponse(
        {"restored": snapshot_entry(restored, names), "backup": snapshot_entry(backup, names)}
    )


async def duplicate_snapshot(request: Request) -> Response:
    """A new room for the next session with the snapshot's board; the caller facilitates it."""
    services, room_id, claims = await facilitator(request)
    wanted = validation.validated(validation.DuplicateSnapshot, await optional_body(request))
    snapshot_id = request.path_params["snapshot_id"]
    board = await services.sessions.snapshots.board(room_id, snapshot_id)
    title = wanted.title or (await room_record(services, room_id)).title
    return await open_room(request, services, title, claims.name, board)


# -- data protection ---------------------------------------------------------------------------


async def delete_room(request: Request) -> Response:
    services, room_id, _ = await facilitator(request)
    await services.sessions.deletion.delete(room_id)
    return Response(status_code=204)


async def room_data(request: Request) -> Response:
    services, room_id, _ = await facilitator(request)
    record = await room_record(services, room_id)
    response = JSONResponse(await services.sessions.data.export(record))
    response.headers["content-disposition"] = f'attachment; filename="koprade-{room_id}-data.json"'
    return no_store(response)
