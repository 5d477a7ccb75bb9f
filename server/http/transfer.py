"""Boards in and out over HTTP: exports in every format, and import into a new room.

`GET /api/rooms/{room}/export?format=json|md|csv|svg|png|pdf[&lang=en|lv]` (facilitators)
and `POST /api/rooms/import` (the organizer-key rule of `POST /api/rooms`); the formats and
the import itself are `server.reports` (docs/protocol.md, sections 1 and 4).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server import creation, exports
from server.errors import Invalid
from server.http import validation
from server.http.auth import check_organizer_key, facilitator_claims, room_record
from server.http.requests import json_body
from server.http.rooms import new_room_body
from server.reports import FORMATS, LANGUAGES, InvalidExport, export_filename, read_export, render
from server.services import services_of

log = logging.getLogger("koprade.transfer")

#: An export of a large workshop (thousands of cards) is a few MiB of JSON.
MAX_IMPORT_BYTES = 5 * 1024 * 1024


async def export_room(request: Request) -> Response:
    services = services_of(request)
    room_id = request.path_params["room_id"]
    await facilitator_claims(request, services, room_id)
    fmt = validation.choice(request.query_params, "format", tuple(FORMATS), "json")
    lang = validation.choice(request.query_params, "lang", tuple(LANGUAGES), "en")
    record = await room_record(services, room_id)
    participants = await services.store.count_participants(room_id)
    snapshot = request.query_params.get("snapshot")
    if snapshot is None:
        doc = await services.rooms.board(room_id)
    else:
        _, doc = await services.sessions.snapshots.doc(room_id, validation.snapshot_id(snapshot))
    # Read the board here, in the event loop; draw the picture formats in a thread.
    export = exports.export_json(record, doc, participants)
    content = await asyncio.to_thread(render, fmt, export, lang)
    spec = FORMATS[fmt]
    filename = export_filename(export, spec.extension)
    return Response(
        content,
        media_type=spec.media_type,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


async def import_room(request: Request) -> JSONResponse:
    """A new room from a JSON export; the importer becomes its facilitator (201)."""
    services = services_of(request)
    data = await json_body(request, limit=MAX_IMPORT_BYTES)
    check_organizer_key(request, data, services)
    try:
        board = read_export(data)
    except InvalidExport as exc:
        raise Invalid("invalid_field", exc.message, field=exc.field) from exc
    params = validation.validated(validation.ImportParams, dict(request.query_params))
    title = params.title or board.title
    if not title:
        raise Invalid(
            "invalid_field", "the export has no room title: give ?title=", field="room.title"
        )
    name = params.name or "Facilitator"
    record, participant = await creation.import_room(services.store, board, title, name)
    log.info(
        "room imported (%d cards, %d clusters)",
        len(board.cards),
        len(board.clusters),
        extra={"room": record.id, "code": record.code},
    )
    body = new_room_body(request, services, record, participant, name)
    body["imported"] = {
        "version": board.version,
        "cards": len(board.cards),
        "clusters": len(board.clusters),
        "votes": len(board.votes),
    }
    return JSONResponse(body, status_code=201)
