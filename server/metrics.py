"""Prometheus metrics at `/metrics`: how the server is doing, never who did what.

One registry per app (no process-wide globals), built by the app factory. Counters on the
hot path are pre-bound label children, so counting costs one increment; room and
connection gauges are read only when Prometheus scrapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from server.rooms.hooks import RoomHooks
from server.rooms.manager import RoomManager

if TYPE_CHECKING:
    from server.rooms.room import Room

_MESSAGE_TYPES = ("SyncStep1", "SyncStep2", "SyncUpdate", "AwarenessMessage", "QueryAwareness")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics(RoomHooks):
    """Listens to `relayed` and `committed`; `watch()` reads the rooms' gauges on scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        received = Counter(
            "koprade_messages_received",
            "WebSocket messages received from clients, by y-websocket message type",
            ["type"],
            registry=self.registry,
        )
        self.received = {kind: received.labels(kind) for kind in _MESSAGE_TYPES}
        self.frames_sent = Counter(
            "koprade_frames_sent",
            "Frames queued to clients (relays, sync answers, Koprade messages)",
            registry=self.registry,
        )
        self.errors = Counter(
            "koprade_errors",
            "Connections the server closed, by reason (close code name)",
            ["kind"],
            registry=self.registry,
        )
        self.fanout_delay = Histogram(
            "koprade_fanout_delay_seconds",
            "Time from a change reaching a room to its relay being queued to every connection",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "koprade_commit_seconds",
            "Duration of one group commit of document updates",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._rooms_loaded = Gauge(
            "koprade_rooms_loaded", "Rooms in memory", registry=self.registry
        )
        self._connections = Gauge(
            "koprade_connections", "Open WebSocket connections", registry=self.registry
        )

        self._commit_failures = Gauge(
            "koprade_commit_consecutive_failures",
            "Group commits that failed in a row (0: the last one succeeded)",
            registry=self.registry,
        )
        self._updates_pending = Gauge(
            "koprade_updates_pending",
            "Accepted document updates not committed yet (relayed only once committed)",
            registry=self.registry,
        )

    def watch(self, rooms: RoomManager) -> None:
        """Read room, connection and commit figures from `rooms` whenever Prometheus scrapes."""
        self._rooms_loaded.set_function(lambda: len(rooms.rooms))
        self._connections.set_function(rooms.connection_count)
        self._commit_failures.set_function(lambda: rooms.writer.consecutive_failures)
        self._updates_pending.set_function(rooms.writer.pending_count)

    def relayed(self, room: Room, delay: float, frames: int) -> None:
        self.fanout_delay.observe(delay)
        self.frames_sent.inc(frames)

    def committed(self, seconds: float) -> None:
        self.commit_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    media_type = CONTENT_TYPE_LATEST
