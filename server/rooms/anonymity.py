"""Switching a room's anonymous mode: everything it covers changes in one server transaction.

Switched on: `meta.people` goes, every card's author becomes its pseudonym, named votes'
voters too, and every held presence state is re-issued with a neutral label under an
aliased client id (`RoomProtocol._rebind_presence`), all before the next relay tick. Switched off:
the names come back in `meta.people` and presence, new cards carry participant ids again,
and cards written anonymously keep their pseudonyms (nobody learns who wrote them).
Each connection then gets a new `hello` with the author id it must write from now on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.rooms import writes
from server.storage.store import Store

if TYPE_CHECKING:
    from server.rooms.facilitation import Facilitation
    from server.rooms.room import Room


async def apply_settings(facilitation: Facilitation, room: Room, changes: dict[str, Any]) -> None:
    """Write the `settings` command's changes (and what a change of anonymity implies)."""
    if "anonymous" not in changes or changes["anonymous"] == room.anonymous:
        writes.write_meta(room, **changes)
        return
    # Everything that needs the database first, so the writes below share one tick.
    names = await _names(facilitation.store, room.id)
    tallies_now = await facilitation.shown_tallies(room)
    with room.change():
        writes.write_meta(room, **changes)  # re-binds presence (RoomProtocol.refresh_settings)
        if room.anonymous:
            writes.set_people(room, None)
            writes.anonymize_authors(room)
        else:
            writes.set_people(room, names)
        writes.write_tallies(room, tallies_now)
    resend_hello(room)


async def _names(store: Store, room_id: str) -> dict[str, str]:
    return {person.id: person.name for person in await store.list_participants(room_id)}


def resend_hello(room: Room) -> None:
    """Tell every connection who it is now: its author id and how it appears in presence."""
    from server.rooms.facilitation import hello_message  # facilitation imports this module

    for connection in list(room.connections):
        connection.send(hello_message(connection.identity, room))
