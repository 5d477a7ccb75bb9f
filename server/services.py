"""What a running Koprade app holds, created by the app factory and shared via app.state."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

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
    join_limiter: JoinLimiter = field(default_factory=JoinLimiter)
    ready: bool = False


def services_of(connection: HTTPConnection) -> Services:
    return connection.app.state.koprade
