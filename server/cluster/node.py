"""One process of a Koprade cluster: the owner of some rooms and a gateway for all.

Built by the app factory when `--redis-url` is set (server/app.py), started and stopped in
its lifespan. docs/cluster.md has the design; owner.py and gateway.py the two roles.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from prometheus_client import Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from starlette.types import ASGIApp

from server.cluster import forward
from server.cluster.gateway import Gateway
from server.cluster.owner import Owner
from server.metrics import Metrics
from server.rooms.manager import RoomManager
from server.storage.leases import LeaseStore
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
        self._watch(metrics)

    def _watch(self, metrics: Metrics) -> None:
        """Cluster figures at /metrics (docs/cluster.md, "Monitoring")."""
        registry = metrics.registry
        owner, gateway = self.owner, self.gateway
        Gauge(
            "koprade_cluster_rooms_owned", "Rooms whose lease this process holds", registry=registry
        ).set_function(lambda: len(owner.owned))
        Gauge(
            "koprade_cluster_remote_members",
            "Members of owned rooms that other processes' gateways hold",
            registry=registry,
        ).set_function(lambda: owner.remote_members)
        Gauge(
            "koprade_cluster_gateway_connections",
            "Sockets of this process served through another process (the room's owner)",
            registry=registry,
        ).set_function(lambda: gateway.connections)
        Gauge(
            "koprade_cluster_pending_entries",
            "Inbound stream entries read by this owner and not yet acknowledged (uncommitted)",
            registry=registry,
        ).set_function(lambda: owner.pending_entries)
        registry.register(_Moves(owner, gateway))
        gateway.stream_lag = Histogram(
            "koprade_cluster_stream_lag_seconds",
            "From an owner appending a relay frame to this gateway reading it",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
            registry=registry,
        )

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
        await self.gateway.stop()  # the app closes the Redis client after this


class _Moves(Collector):
    """How often rooms changed hands, read from the owner and the gateway on scrape."""

    def __init__(self, owner: Owner, gateway: Gateway) -> None:
        self._owner = owner
        self._gateway = gateway

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, text, value in (
            ("lease_takeovers", "Leases taken over from an expired holder", self._owner.take_overs),
            (
                "step_downs",
                "Rooms given up because their lease was taken over",
                self._owner.step_downs,
            ),
            (
                "rooms_moved",
                "Rooms whose sockets here followed it to a new owner",
                self._gateway.moves,
            ),
        ):
            yield CounterMetricFamily(f"koprade_cluster_{name}", text, value=value)
