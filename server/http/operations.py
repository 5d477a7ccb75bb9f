"""Operating the server: `/healthz`, `/metrics` and the lab's figures (`/api/stats`).

docs/operations.md describes what each answers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server import insight
from server.cluster.redis import redis_problem
from server.crdt.board import BoardDoc
from server.http.auth import require_organizer_key
from server.services import services_of


async def healthz(request: Request) -> JSONResponse:
    """Ready, the database answers and commits succeed; in cluster mode Redis answers too.

    `?deep` also checks that Redis accepts writes (cluster mode; docs/operations.md, Health).
    """
    services = services_of(request)
    # Cluster mode: which process answered (behind a load balancer, any of them may).
    node = {"node": services.settings.node_id} if services.settings.cluster else {}
    if not services.ready:
        return JSONResponse({"status": "starting", **node}, status_code=503)
    try:
        await services.store.ping()
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "message": f"database unreachable: {exc}", **node},
            status_code=503,
        )
    if services.redis is not None:
        problem = await redis_problem(
            services.redis,
            node=services.settings.node_id,
            deep="deep" in request.query_params,
        )
        if problem is not None:
            return JSONResponse(
                {
                    "status": "unavailable",
                    "error": "redis_unavailable",
                    "message": problem,
                    **node,
                },
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
                **node,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", **node})


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
