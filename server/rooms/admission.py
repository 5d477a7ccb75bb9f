"""Who may come into a room, and what a room and a newcomer are told first.

The hooks (`hooks.py`) that decide a connection's way in: a removed participant is turned
away, a loaded board is given every setting it lacks and the names of everyone who joined,
and a newcomer to the shared board is told who it is and what votes it has left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.crdt.rules import FACILITATOR, OBSERVER
from server.errors import Refused
from server.rooms.facilitation import CLOSING_PARTICIPANT_REMOVED, Facilitation, hello_message
from server.rooms.hooks import RoomHooks
from server.rooms.writes import complete_meta, set_person
from server.storage.store import ParticipantRecord, RoomRecord

if TYPE_CHECKING:
    from server.rooms.room import Member, Room
    from server.tokens import Claims


class Admission(RoomHooks):
    def __init__(self, facilitation: Facilitation) -> None:
        self._facilitation = facilitation

    async def authenticated(self, room_id: str, claims: Claims) -> None:
        if await self._facilitation.is_removed(room_id, claims.participant):
            raise Refused(CLOSING_PARTICIPANT_REMOVED, "participant removed")

    def loaded(self, room: Room, record: RoomRecord, people: list[ParticipantRecord]) -> None:
        if room.private_owner is not None:
            return
        # Presence numbers of anonymous rooms follow the order people first joined in.
        room.number_people(p.id for p in people if p.role != FACILITATOR)
        complete_meta(room, record.title, {p.id: p.name for p in people})

    async def joined(self, room: Room, connection: Member, claims: Claims) -> None:
        if room.private_owner is not None:
            return
        if claims.role != OBSERVER and claims.participant not in (room.settings.people or {}):
            # Joined (POST /api/join) while another process had the board loaded (cluster
            # mode): their name reaches `meta.people` now. One process: already there.
            set_person(room, claims.participant, claims.name)
        connection.send(hello_message(claims, room))
        if claims.role != OBSERVER:
            votes = await self._facilitation.votes_message(room, claims.participant)
            connection.send(votes)
