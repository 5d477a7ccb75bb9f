"""Who is asking: the room token's claims, facilitators, and the organizer key.

Tokens come as `Authorization: Bearer …` or `?token=`; the organizer key as a header or
the body's `organizer_key` (docs/protocol.md, "Organizer key").
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from server.errors import NotFound, Refused, Unauthenticated
from server.ids import is_room_id
from server.organizer import HEADER as ORGANIZER_HEADER
from server.services import Services
from server.storage.store import RoomRecord
from server.tokens import Claims, InvalidToken


def token_claims(request: Request, services: Services, room_id: str) -> Claims:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.query_params.get("token")
    try:
        claims = services.signer.verify(token)
    except InvalidToken as exc:
        raise Unauthenticated("invalid_token", f"invalid token: {exc}") from exc
    if claims.room != room_id:
        raise Refused("wrong_room", "the token is for another room")
    return claims


async def room_claims(request: Request, services: Services, room_id: str) -> Claims:
    """The token's claims for this room; refuses removed participants."""
    claims = token_claims(request, services, room_id)
    if await services.facilitation.is_removed(room_id, claims.participant):
        raise Unauthenticated("participant_removed", "a facilitator removed you from this room")
    return claims


async def facilitator_claims(request: Request, services: Services, room_id: str) -> Claims:
    claims = await room_claims(request, services, room_id)
    if claims.role != "facilitator":
        raise Refused("facilitator_only", "only facilitators can do this")
    await room_record(services, room_id)
    return claims


async def room_record(services: Services, room_id: str) -> RoomRecord:
    """The room a URL names; `room_not_found` unless it exists."""
    record = await services.store.get_room(room_id) if is_room_id(room_id) else None
    if record is None:
        raise NotFound("room_not_found", "no such room")
    return record


def check_organizer_key(request: Request, data: dict[str, Any], services: Services) -> None:
    """Creating a room: the organizer key unless the server may create rooms without it."""
    if services.organizer.key_needed_to_create_rooms:
        require_organizer_key(request, services, data)


def require_organizer_key(
    request: Request, services: Services, data: dict[str, Any] | None = None
) -> None:
    """Lab-wide data (every room's figures, saved templates): always the organizer key."""
    given = request.headers.get(ORGANIZER_HEADER) or (data or {}).get("organizer_key")
    if not isinstance(given, str) or not given:
        raise Unauthenticated("organizer_key_required", "this needs the organizer key")
    if not services.organizer.accepts(given):
        raise Refused("organizer_key_invalid", "the organizer key is wrong")


def has_organizer_key(
    request: Request, services: Services, data: dict[str, Any] | None = None
) -> bool:
    try:
        require_organizer_key(request, services, data)
    except (Unauthenticated, Refused):
        return False
    return True
