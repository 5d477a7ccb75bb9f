"""One process of a Koprade cluster: the owner of some rooms and a gateway for all.

Built by the app factory when `--redis-url` is set (server/app.py), started and stopped in
its lifespan. docs/cluster.md has the design; owner.py and gateway.py the two roles.
"""

from __future__ import annotations

import functools

from redis.asyncio import Redis
from server.storage.leases import LeaseStore
from starlette.types import ASGIApp

from server.cluster import forward
from server.cluster.gateway import Gateway
from server.cluster.owner import Owner
from server.metrics import Metrics
from server.rooms.manager import RoomManager
from server.storage.store import Store


class ClusterNode:
    def __init__(
        self,
        *,
        redis: Redis,
        store: Store,
        node: str,
        metrics: Metrics,
        lease_seconds: float = 5.0,
    ) -> None:
        self.node = node
        self.redis = redis
        self.leases = LeaseStore(store)
        self.owner = Owner(
            redis=redis,
            leases=self.leases,
            node=node,
            metrics=metrics,
            lease_seconds=lease_seconds,
            renew_seconds=min(1.0, lease_seconds / 3),
        )
        self.gateway = Gateway(redis=redis, node=node, leases=self.leases)
        # Every owner write is fenced by the epoch of the room's lease (server/storage/fencing.py).
        store.fence = self.owner

    def serve(self, rooms: RoomManager, app: ASGIApp) -> None:
        self.owner.serve(rooms, functools.partial(forward.answer, app))

    async def start(self) -> None:
        await self.gateway.start()
        await self.owner.start()

    async def stop_reading(self) -> None:
        """First step of a shutdown: take no more input from other processes."""
        await self.owner.stop()

    async def stop(self) -> None:
        """Last step, once the rooms are stored and unloaded (their leases released)."""
        await self.owner.finish()
        await self.gateway.stop()
        await self.redis.aclose()
