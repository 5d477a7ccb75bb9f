"""The app factory: explicit wiring of settings, storage, rooms and routes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware

from server.cluster.config import with_node_id
from server.cluster.forward import ForwardToOwner
from server.cluster.node import ClusterNode
from server.cluster.redis import connect_redis
from server.config import Settings
from server.crdt.pseudonyms import Pseudonyms
from server.http.errors import exception_handlers
from server.http.routes import routes
from server.http.web import SecurityHeaders, find_web_dist
from server.metrics import Metrics
from server.organizer import OrganizerAccess
from server.rooms.activity import Activity
from server.rooms.admission import Admission
from server.rooms.facilitation import Facilitation, VoteCache
from server.rooms.hooks import Hooks
from server.rooms.manager import RoomManager
from server.services import Services
from server.sessions import Sessions
from server.storage.store import Store
from server.tokens import TokenSigner, load_or_create_secret

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("koprade.app")


def create_app(settings: Settings) -> Starlette:
    settings = with_node_id(settings)  # cluster mode: a generated one unless given
    store = Store.for_settings(settings.data_dir, settings.database_url)
    metrics = Metrics()
    secret = load_or_create_secret(settings.data_dir, settings.secret)
    # The life of every room, as named hooks (server/rooms/hooks.py): this is the one place
    # that says who listens to what.
    hooks = Hooks()
    # Cluster mode (docs/cluster.md): one Redis client per process, closed when it stops.
    redis = connect_redis(settings.redis_url) if settings.redis_url is not None else None
    cluster = _cluster_node(settings, redis, store, metrics)
    rooms = RoomManager(
        store,
        commit_interval=settings.commit_interval,
        compact_after=settings.compact_after,
        idle_seconds=settings.room_idle_seconds,
        fanout_interval=settings.fanout_interval,
        hooks=hooks,
        pseudonyms=Pseudonyms(secret),
        remote=cluster.owner.outbox if cluster else None,
        cluster=cluster is not None,
    )
    metrics.watch(rooms)
    facilitation = Facilitation(store, rooms, hooks, shared_store=cluster is not None)
    activity = Activity(store)
    sessions = Sessions(
        store, rooms, facilitation, retention_days=settings.retention_days, hooks=hooks
    )
    if cluster is not None:
        # loading: the room's lease; loaded, unloaded, deleted: its stream and lease
        hooks.add(cluster.owner, VoteCache(facilitation))
    hooks.add(
        activity,  # joined, left, changed: participation figures; storing: writes them
        Admission(facilitation),  # authenticated, loaded, joined: who may come in
        rooms,  # stored: compaction
        sessions.snapshots,  # phase_changed: automatic snapshots
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
        cluster=cluster,
        redis=redis,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        if cluster is not None:
            await cluster.start()
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
            if cluster is not None:
                await cluster.stop_reading()
            await services.rooms.stop()  # releases every room lease (the `unloaded` hook)
            await services.activity.stop()
            if cluster is not None:
                await cluster.stop()
            await store.close()
            if services.redis is not None:
                await services.redis.aclose()
            log.info("stopped; all accepted updates are stored")

    middleware = [Middleware(SecurityHeaders)]
    if cluster is not None:
        # Outermost: a request for a room another process owns is answered by that owner.
        middleware.insert(0, Middleware(ForwardToOwner))
    app = Starlette(
        routes=routes(find_web_dist()),
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
    app.state.koprade = services
    if cluster is not None:
        cluster.serve(rooms, app)
    return app


def _cluster_node(
    settings: Settings, redis: Redis | None, store: Store, metrics: Metrics
) -> ClusterNode | None:
    """Cluster mode's part of this process (docs/cluster.md), None for one process."""
    if redis is None:
        return None
    assert settings.node_id is not None  # `with_node_id` gave it one
    return ClusterNode(redis=redis, store=store, node=settings.node_id, metrics=metrics)
