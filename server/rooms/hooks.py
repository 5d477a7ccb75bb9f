"""The life of a room as a short list of named hooks (Hocuspocus's model).

Everything that reacts to a room's life implements some of `RoomHooks` (the others stay
no-ops) and is wired in one place, `server/app.py`, into one `Hooks`:

    authenticated → loading → loaded → joined → changed → relayed / stored → left → unloaded
    (→ deleted)
    (and, as they happen: committed, phase_changed, storing)

Notifications (`changed`, `relayed`, `stored`, `committed`, `left`, `unloaded`, `deleted`)
cannot stop anything: one listener's exception is logged and the others still run, because
they are called from a room's fan-out or the writer's commit. The hooks a load, a join or a request
waits for (`loading`, `loaded`, `authenticated`, `joined`, `phase_changed`, `storing`) pass
exceptions on: a listener refuses a connection by raising `server.errors.Refused`, whose slug
the client receives as a `closing` message before the close (4403); in cluster mode `loading`
raises `server.errors.OwnedElsewhere` for a room another process serves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from server.crdt.awareness import Identity
from server.storage.store import ParticipantRecord, RoomRecord

if TYPE_CHECKING:
    from server.rooms.room import Member, Room
    from server.tokens import Claims

log = logging.getLogger("koprade.hooks")


class RoomHooks:
    """Every hook of a room's life, each a no-op here; listeners override what they need."""

    async def authenticated(self, room_id: str, claims: Claims) -> None:
        """A token for `room_id` was verified; raise `Refused` to turn the connection away."""

    async def loading(self, board_id: str) -> None:
        """A board is about to be read from the store (nothing is read yet): cluster mode
        takes the room's lease here, or raises `OwnedElsewhere`."""

    def loaded(self, room: Room, record: RoomRecord, people: list[ParticipantRecord]) -> None:
        """A board was read from the store into memory (private boards: no people)."""

    async def joined(self, room: Room, connection: Member, claims: Claims) -> None:
        """A connection joined `room` (its sync handshake is already queued)."""

    def left(self, room: Room, identity: Identity) -> None:
        """A connection left `room` (its presence is already removed)."""

    def changed(self, room: Room, by: Identity) -> None:
        """`by` changed the board (an accepted, non-empty update)."""

    def relayed(self, room: Room, delay: float, frames: int) -> None:
        """A relay tick went out: `delay` seconds after its oldest change, `frames` queued."""

    def committed(self, seconds: float) -> None:
        """One group commit of document updates (all rooms) took `seconds`."""

    def stored(self, room_id: str, last_update_id: int, log_length: int) -> None:
        """A room's updates are committed; its log now holds `log_length` updates."""

    async def storing(self, room_id: str) -> None:
        """The room's data is about to be read from the store (a snapshot, an export):
        write down what is still only in memory."""

    async def phase_changed(self, room: Room, claims: Claims, old: str, before: bytes) -> None:
        """A facilitator moved `room` from phase `old`; `before` is the board as it was."""

    def unloaded(self, room: Room) -> None:
        """The room left memory (idle, deleted, or the server stopped)."""

    def deleted(self, room_id: str) -> None:
        """The room and everything stored about it are gone."""


_NOTIFICATIONS = ("left", "changed", "relayed", "committed", "stored", "unloaded", "deleted")
_WAITED_FOR = ("authenticated", "loading", "joined", "storing", "phase_changed")
_HOOKS = (*_NOTIFICATIONS, *_WAITED_FOR, "loaded")


class Hooks(RoomHooks):
    """All listeners of the server, called in the order they were added.

    Only the hooks a listener overrides are called, so a hook nobody listens to costs
    nothing on the hot path (`changed` runs once per accepted update).
    """

    def __init__(self, *listeners: RoomHooks) -> None:
        self._listeners: list[RoomHooks] = []
        # Per hook: the overriding listeners' bound methods, each with its listener's class
        # name (for the log when a notification fails).
        self._bound: dict[str, list[tuple[str, Callable[..., Any]]]] = {}
        self.add(*listeners)

    def add(self, *listeners: RoomHooks) -> None:
        self._listeners.extend(listeners)
        self._bound = {
            name: [
                (type(listener).__name__, getattr(listener, name))
                for listener in self._listeners
                if getattr(type(listener), name) is not getattr(RoomHooks, name)
            ]
            for name in _HOOKS
        }

    @property
    def listeners(self) -> Iterable[RoomHooks]:
        return tuple(self._listeners)

    def _notify(self, name: str, *args: Any) -> None:
        for listener, hook in self._bound[name]:
            try:
                hook(*args)
            except Exception:  # one listener must never stop a fan-out or a commit
                log.exception("%s hook of %s failed", name, listener)

    async def _wait_for(self, name: str, *args: Any) -> None:
        for _, hook in self._bound[name]:
            await hook(*args)

    async def authenticated(self, room_id: str, claims: Claims) -> None:
        await self._wait_for("authenticated", room_id, claims)

    async def loading(self, board_id: str) -> None:
        await self._wait_for("loading", board_id)

    def loaded(self, room: Room, record: RoomRecord, people: list[ParticipantRecord]) -> None:
        # Part of loading: a failure fails the load, like a failed read would.
        for _, hook in self._bound["loaded"]:
            hook(room, record, people)

    async def joined(self, room: Room, connection: Member, claims: Claims) -> None:
        await self._wait_for("joined", room, connection, claims)

    def left(self, room: Room, identity: Identity) -> None:
        self._notify("left", room, identity)

    def changed(self, room: Room, by: Identity) -> None:
        self._notify("changed", room, by)

    def relayed(self, room: Room, delay: float, frames: int) -> None:
        self._notify("relayed", room, delay, frames)

    def committed(self, seconds: float) -> None:
        self._notify("committed", seconds)

    def stored(self, room_id: str, last_update_id: int, log_length: int) -> None:
        self._notify("stored", room_id, last_update_id, log_length)

    async def storing(self, room_id: str) -> None:
        await self._wait_for("storing", room_id)

    async def phase_changed(self, room: Room, claims: Claims, old: str, before: bytes) -> None:
        await self._wait_for("phase_changed", room, claims, old, before)

    def unloaded(self, room: Room) -> None:
        self._notify("unloaded", room)

    def deleted(self, room_id: str) -> None:
        self._notify("deleted", room_id)
