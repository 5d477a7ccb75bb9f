"""Server settings: one immutable object built by the CLI (or tests) and passed down explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # Serving processes on this port (`koprade serve --workers N`; N > 1 needs cluster mode).
    workers: int = 1
    data_dir: Path = field(default_factory=lambda: Path("koprade-data"))
    # None means the embedded SQLite file <data_dir>/koprade.sqlite3.
    database_url: str | None = None
    # When set, creating a room requires this key (X-Organizer-Key header).
    organizer_key: str | None = None
    # Token signing secret; None means <data_dir>/secret.key, generated on first start.
    secret: str | None = None
    # Base URL put into join links; None means derive it from each request.
    public_url: str | None = None
    # Largest WebSocket message accepted; also given to uvicorn as its ws_max_size.
    max_message_size: int = 4 * MIB
    # Group commit: accepted updates reach the database within this interval.
    commit_interval_ms: int = 100
    # Merge a room's update log into a new snapshot once it holds this many updates.
    compact_after: int = 500
    # Unload a room this long after its last connection left (after flushing it).
    room_idle_seconds: float = 30.0
    # Minimum spacing of a room's relay ticks under load; a lone update goes out at once.
    fanout_interval_ms: float = 10.0
    # A connection whose unsent backlog exceeds either limit is closed with 4408.
    send_queue_bytes: int = 16 * MIB
    send_queue_messages: int = 2000
    # WebSocket keepalive: a ping every interval; no pong within the timeout closes the
    # connection with 4408 (a client that stopped reading or vanished). 0 turns pings off.
    ws_ping_interval_seconds: float = 20.0
    ws_ping_timeout_seconds: float = 20.0
    # Closed rooms with no activity for this many days are deleted with their snapshots
    # (hourly, and by `koprade purge`); 0 keeps everything forever.
    retention_days: int = 0
    # Cluster mode (docs/cluster.md): the Redis that carries frames between processes.
    redis_url: str | None = None
    # This process's name in leases and streams; None: generated at start.
    node_id: str | None = None
    log_level: str = "info"
    log_format: str = "text"  # "text" (key=value) or "json"

    @property
    def cluster(self) -> bool:
        return self.redis_url is not None

    @property
    def commit_interval(self) -> float:
        return self.commit_interval_ms / 1000

    @property
    def fanout_interval(self) -> float:
        return self.fanout_interval_ms / 1000
