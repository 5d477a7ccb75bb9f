"""What a running Koprade app holds, created by the app factory and shared via app.state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from starlette.requests import HTTPConnection

from server.cluster.gateway import Gateway
from server.cluster.node import ClusterNode
from server.config import Settings
from server.join_limiter import JoinLimiter
from server.metrics import Metrics
from server.organizer import OrganizerAccess
from server.rooms.activity import Activity
from server.rooms.facilitation import Facilitation
from server.rooms.manager import RoomManager
from server.sessions import Sessions
from server.storage.store import Store
from server.tokens import TokenSigner

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass
class Services:
    settings: Settings
    store: Store
    rooms: RoomManager
    signer: TokenSigner
    facilitation: Facilitation
    activity: Activity
    metrics: Metrics
    sessions: Sessions
    organizer: OrganizerAccess
    # Cluster mode (docs/cluster.md): this process's Redis client (server/cluster/redis.py).
    redis: Redis | None = None
    join_limiter: JoinLimiter = field(default_factory=JoinLimiter)
    # Cluster mode (docs/cluster.md): this process as owner and gateway; None for one process.
    cluster: ClusterNode | None = None
    ready: bool = False

    @property
    def gateway(self) -> Gateway | None:
        return self.cluster.gateway if self.cluster is not None else None


def services_of(connection: HTTPConnection) -> Services:
    # The app factory stores the one Services of the app as app.state.koprade before it
    # serves anything (server/app.py), and nothing replaces it: the type is guaranteed.
    return cast(Services, connection.app.state.koprade)
