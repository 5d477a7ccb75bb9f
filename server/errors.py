"""What the domain refuses, as a small hierarchy of errors; no HTTP in here.

Services below the edge (facilitation commands, sessions, validation of what clients send)
raise a kind of `DomainError` with a slug (`room_not_found`, `invalid_field`, ...) and a
message, plus optional extra fields for the body (`field`). The HTTP edge maps each kind to
a status, once (server/http/errors.py), and answers `{"error": slug, "message": text, ...}`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused request: the slug names the reason, the message explains it to people."""

    def __init__(self, slug: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.slug = slug
        self.message = message
        self.extra = extra


class Malformed(DomainError):
    """Not a request the server understands (not JSON, an unknown command)."""


class Invalid(DomainError):
    """Understood, but a value is wrong (`invalid_field`, naming the field)."""


class Unauthenticated(DomainError):
    """No valid token, invite or organizer key, or a removed participant's token."""


class Refused(DomainError):
    """Known caller, not allowed to do this (another room's token, not a facilitator)."""


class NotFound(DomainError):
    """No such room, snapshot, template, card or participant."""


class Conflict(DomainError):
    """Not possible in the current state (wrong phase, vote closed, timer stopped)."""


class Gone(DomainError):
    """The room exists but no longer admits anyone (closed)."""


class Unavailable(DomainError):
    """Not possible right now; try again (no join code free, the database failing)."""


class OwnedElsewhere(Exception):
    """Cluster mode: another process holds the room's lease (docs/cluster.md).

    Not a refusal: the WebSocket endpoint then serves the connection through that owner,
    and the HTTP edge forwards the request to it.
    """

    def __init__(self, room_id: str, node: str | None, epoch: int | None) -> None:
        super().__init__(f"room {room_id} is served by {node or 'nobody yet'}")
        self.room_id = room_id
        self.node = node
        self.epoch = epoch
