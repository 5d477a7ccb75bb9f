"""The app factory: explicit wiring of settings, storage, rooms and routes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from server import access_api, api, transfer
from server.config import Settings
from server.crdt.pseudonyms import Pseudonyms
from server.error_handlers import STORAGE_ERRORS, internal_error, storage_unavailable
from server.errors import ApiError
from server.metrics import Metrics
from server.organizer import OrganizerAccess
from server.rooms.activity import Activity
from server.rooms.admission import Admission
from server.rooms.facilitation import Facilitation
from server.rooms.hooks import Hooks
from server.rooms.manager import RoomManager
from server.services import Services
from server.sessions import Sessions
from server.sessions_api import session_routes
from server.storage.store import Store
from server.tokens import TokenSigner, load_or_create_secret
from server.web import SecurityHeaders, find_web_dist, web_routes
from server.ws import room_socket

log = logging.getLogger("koprade.app")


def create_app(settings: Settings) -> Starlette:
    store = Store.for_settings(settings.data_dir, settings.database_url)
    metrics = Metrics()
    secret = load_or_create_secret(settings.data_dir, settings.secret)
    # The life of every room, as named hooks (server/rooms/hooks.py): this is the one place
    # that says who listens to what.
    hooks = Hooks()
    rooms = RoomManager(
        store,
        commit_interval=settings.commit_interval,
        compact_after=settings.compact_after,
        idle_seconds=settings.room_idle_seconds,
        fanout_interval=settings.fanout_interval,
        hooks=hooks,
        pseudonyms=Pseudonyms(secret),
    )
    metrics.watch(rooms)
    facilitation = Facilitation(store, rooms, hooks)
    activity = Activity(store)
    sessions = Sessions(
        store, rooms, facilitation, retention_days=settings.retention_days, hooks=hooks
    )
    hooks.add(
        activity,  # joined, left, changed: participation figures; storing: writes them
        Admission(facilitation),  # authenticated, loaded, joined: who may come in
        rooms,  # stored: compaction
        sessions,  # phase_changed: automatic snapshots
        metrics,  # relayed, committed
    )
    services = Services(
        settings=settings,
        store=store,
        rooms=rooms,
        signer=TokenSigner(secret),
        facilitation=facilitation,
        activity=activity,
        metrics=metrics,
        sessions=sessions,
        organizer=OrganizerAccess.for_server(
            settings.data_dir, settings.organizer_key, settings.host
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        await services.rooms.start()
        await services.activity.start()
        await services.sessions.start()
        services.ready = True
        log.info("ready")
        try:
            yield
        finally:
            # Connections are closed by then (uvicorn closes them with 1012 first):
            # store what they sent, then let go of the database.
            services.ready = False
            await services.sessions.stop()
            await services.rooms.stop()
            await services.activity.stop()
            await store.close()
            log.info("stopped; all accepted updates are stored")

    routes = [
        Route("/healthz", api.healthz),
        Route("/metrics", api.metrics),
        Route("/api/rooms", api.create_room, methods=["POST"]),
        Route("/api/rooms/import", transfer.import_room_endpoint, methods=["POST"]),
        Route("/api/join", api.join_room, methods=["POST"]),
        Route("/api/rooms/{room_id}", api.room_summary, methods=["GET"]),
        Route("/api/rooms/{room_id}/export", transfer.export_room, methods=["GET"]),
        Route("/api/rooms/{room_id}/commands", api.run_command, methods=["POST"]),
        Route("/api/rooms/{room_id}/participants", api.list_participants, methods=["GET"]),
        Route("/api/rooms/{room_id}/invites", api.create_invite, methods=["POST"]),
        Route("/api/rooms/{room_id}/insight", api.room_insight, methods=["GET"]),
        Route("/api/stats", api.lab_stats, methods=["GET"]),
        Route("/api/organizer", access_api.organizer_status, methods=["GET"]),
        Route("/api/rooms/{room_id}/code", access_api.change_code, methods=["POST"]),
        *session_routes(),
        WebSocketRoute("/ws/rooms/{room_id}", room_socket),
        WebSocketRoute("/ws/rooms/{room_id}/private", room_socket),
        *web_routes(find_web_dist()),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            ApiError: api.api_error_handler,
            HTTPException: api.http_error,
            **dict.fromkeys(STORAGE_ERRORS, storage_unavailable),
            Exception: internal_error,
        },
        lifespan=lifespan,
    )
    app.state.koprade = services
    return app
