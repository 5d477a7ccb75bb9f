"""Operating the server: `/healthz`, `/metrics` and the lab's figures (`/api/stats`).

docs/operations.md describes what each answers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server import insight
from server.crdt.board import BoardDoc
from server.http.auth import require_organizer_key
from server.services import services_of


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


async def metrics(request: Request) -> Response:
    """Prometheus text format (server/metrics.py); no personal data in it."""
    registry = services_of(request).metrics
    return Response(registry.exposition(), media_type=registry.media_type)


async def lab_stats(request: Request) -> JSONResponse:
    """Figures across all rooms for the lab; always needs the organizer key."""
    services = services_of(request)
    require_organizer_key(request, services)
    await services.activity.flush()

    def live_doc(room_id: str) -> BoardDoc | None:
        room = services.rooms.rooms.get(room_id)
        return room.doc if room is not None else None

    return JSONResponse(
        await insight.lab_stats(services.store, live_doc, services.rooms.pseudonyms)
    )
