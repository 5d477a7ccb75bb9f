"""Facilitation commands: the only way phases, settings, votes and reveals change.

Each command is checked here (role, phase, budget) and applied as the server's own
transaction on the room's board (`writes.py`), so every rule of docs/facilitation.md holds
whatever a client sends. Votes and removals are kept in the database, not in the shared
document: hidden votes must not reach anyone else's browser.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from server.crdt.awareness import Identity
from server.crdt.messages import encode_koprade
from server.crdt.rules import FACILITATOR, OBSERVER, VOTING_PHASE
from server.crdt.settings import Timer
from server.errors import Conflict, Invalid, Malformed, NotFound, Refused, Unavailable
from server.fields import MAX_TIMER_SECONDS
from server.ids import private_board_id
from server.rooms import anonymity, writes
from server.rooms import commands as arguments
from server.rooms.connection import CLOSE_FORBIDDEN
from server.rooms.hooks import RoomHooks
from server.rooms.manager import RoomManager, RoomNotFound
from server.rooms.room import Room
from server.storage.store import Store
from server.tokens import Claims

log = logging.getLogger("koprade.facilitation")


def _field_error(field: str, message: str) -> Invalid:
    return Invalid("invalid_field", message, field=field)


def _seconds(body: arguments.Timer, *, low: int) -> int:
    """The timer command's `seconds`, which `start` and `add` need (`start`: at least 1)."""
    if body.seconds is None or body.seconds < low:
        raise _field_error("seconds", f"'seconds' must be a whole number from {low} to 86400")
    return body.seconds


def now_ms() -> int:
    return int(time.time() * 1000)


#: A command's handler gets the command's typed arguments (server/rooms/commands.py).
Handler = Callable[["Facilitation", Room, Claims, Any], Awaitable[dict[str, Any]]]
_FACILITATOR_COMMANDS: dict[str, Handler] = {}
_VOTER_COMMANDS: dict[str, Handler] = {}


def _command(name: str, *, facilitator: bool = True) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        (_FACILITATOR_COMMANDS if facilitator else _VOTER_COMMANDS)[name] = handler
        return handler

    return register


class Facilitation:
    def __init__(
        self,
        store: Store,
        rooms: RoomManager,
        hooks: RoomHooks | None = None,
        *,
        shared_store: bool = False,
    ) -> None:
        self.store = store
        self.rooms = rooms
        # Cluster mode: other processes remove participants and own rooms too, so who is
        # removed is read from the database on every connection, and a room's votes are
        # cached only while this process holds the room (`VoteCache`).
        self._shared_store = shared_store
        # `phase_changed` goes to these (automatic snapshots, server/sessions.py).
        self.hooks = hooks or RoomHooks()
        # room id -> participant -> card -> dots; loaded from the database on first use.
        self._votes: dict[str, dict[str, dict[str, int]]] = {}
        self._removed: dict[str, set[str]] = {}
        self._vote_locks: dict[tuple[str, str], asyncio.Lock] = {}

    def forget(self, room_id: str) -> None:
        """Drop what is cached about a deleted room."""
        self.forget_votes(room_id)
        self._removed.pop(room_id, None)

    # -- who may come in -------------------------------------------------------------------

    async def is_removed(self, room_id: str, participant: str) -> bool:
        if self._shared_store:
            return participant in await self.store.removed_participants(room_id)
        removed = self._removed.get(room_id)
        if removed is None:
            removed = self._removed[room_id] = await self.store.removed_participants(room_id)
        return participant in removed

    def forget_votes(self, room_id: str) -> None:
        self._votes.pop(room_id, None)
        for key in [key for key in self._vote_locks if key[0] == room_id]:
            del self._vote_locks[key]

    def joined(self, room_id: str, participant: str, name: str) -> None:
        """A new participant's name goes into a loaded board's `meta.people` at once."""
        room = self.rooms.rooms.get(room_id)
        if room is not None:
            writes.set_person(room, participant, name)

    # -- commands ----------------------------------------------------------------------------

    def authorize(self, claims: Claims, name: str) -> None:
        """Raise a DomainError unless `claims` may run the command `name` (a known command)."""
        if name in _FACILITATOR_COMMANDS:
            if claims.role != FACILITATOR:
                raise Refused("facilitator_only", f"only facilitators can {name}")
        elif name in _VOTER_COMMANDS:
            if claims.role == OBSERVER:
                raise Refused("observer", "observers cannot vote")
        else:
            raise Malformed("unknown_command", f"unknown command {name!r}")

    async def run(self, claims: Claims, body: arguments.Command) -> dict[str, Any]:
        """Check and apply one command with its typed arguments; raises a DomainError."""
        name = body.command
        self.authorize(claims, name)
        handler = _FACILITATOR_COMMANDS.get(name) or _VOTER_COMMANDS[name]
        try:
            room = await self.rooms.acquire(claims.room)
        except RoomNotFound as exc:
            raise NotFound("room_not_found", "no such room") from exc
        try:
            result = await handler(self, room, claims, body)
            await self._stored(name)
        finally:
            self.rooms.release(room)
        log.info("command %s", name, extra={"room": claims.room, "participant": claims.participant})
        return {"ok": True, "serverTime": now_ms(), **result}

    async def _stored(self, name: str) -> None:
        """Reply only once the command's change is committed, as it is relayed then too.

        While the database fails the change stays in the room and goes out with the first
        commit that works; the caller is told it is not stored yet.
        """
        if not await self.rooms.writer.committed_within():
            raise Unavailable(
                "storage_unavailable",
                f"{name}: done, but not stored yet (the database is failing); it is stored "
                "and shown to everyone as soon as the database works again",
            )

    # -- phases and switches -----------------------------------------------------------------

    @_command("set_phase")
    async def _set_phase(
        self, room: Room, claims: Claims, body: arguments.SetPhase
    ) -> dict[str, Any]:
        phase = body.phase
        if phase not in room.settings.phases:
            raise _field_error("phase", f"'{phase}' is not one of this room's phases")
        old = room.settings.phase
        if phase == old:
            return {"phase": phase}
        before = room.snapshot()
        writes.write_meta(room, phase=phase)
        await self.hooks.phase_changed(room, claims, old, before)
        return {"phase": phase}

    @_command("set_phases")
    async def _set_phases(
        self, room: Room, claims: Claims, body: arguments.SetPhases
    ) -> dict[str, Any]:
        phases = body.phases
        if room.settings.phase not in phases:
            raise Conflict("last_phase_missing", "the current phase must stay in the sequence")
        writes.write_meta(room, phases=phases)
        return {"phases": phases}

    @_command("settings")
    async def _settings(
        self, room: Room, claims: Claims, body: arguments.RoomSwitches
    ) -> dict[str, Any]:
        changes = body.changes()
        if not changes:
            raise _field_error("locked", "give at least one of locked, anonymous, editOthers")
        await anonymity.apply_settings(self, room, changes)
        return changes

    @_command("follow_me")
    async def _follow_me(
        self, room: Room, claims: Claims, body: arguments.FollowMe
    ) -> dict[str, Any]:
        following = claims.participant if body.on else None
        writes.write_meta(room, followMe=following)
        return {"followMe": following}

    @_command("rename")
    async def _rename(self, room: Room, claims: Claims, body: arguments.Rename) -> dict[str, Any]:
        title = body.title
        await self.store.rename_room(room.id, title)
        writes.write_meta(room, title=title)
        return {"title": title}

    @_command("remove")
    async def _remove(self, room: Room, claims: Claims, body: arguments.Remove) -> dict[str, Any]:
        participant = body.participant
        if participant == claims.participant:
            raise _field_error("participant", "you cannot remove yourself")
        if not await self.store.remove_participant(room.id, participant):
            raise NotFound("participant_not_found", "no such participant in this room")
        self._removed.setdefault(room.id, set()).add(participant)
        boards = [room, self.rooms.rooms.get(private_board_id(room.id, participant))]
        for board in boards:
            for connection in board.connections_of(participant) if board else []:
                connection.close_soon(
                    CLOSE_FORBIDDEN,
                    "participant removed",
                    last_words=closing_message(CLOSING_PARTICIPANT_REMOVED),
                )
        return {"removed": participant}

    # -- timer ---------------------------------------------------------------------------------

    @_command("timer")
    async def _timer(self, room: Room, claims: Claims, body: arguments.Timer) -> dict[str, Any]:
        action = body.action
        timer = room.settings.timer
        now = now_ms()
        state = timer.state
        if action == "start":
            seconds = _seconds(body, low=1)
            timer = Timer("running", now + seconds * 1000, None, seconds * 1000)
        elif action == "pause" and state == "running":
            remaining = max(0, int(timer.ends_at) - now)  # type: ignore[arg-type]
            timer = replace(timer, state="paused", ends_at=None, remaining_ms=remaining)
        elif action == "resume" and state == "paused":
            ends_at = now + int(timer.remaining_ms)  # type: ignore[arg-type]
            timer = replace(timer, state="running", ends_at=ends_at, remaining_ms=None)
        elif action == "add" and state in ("running", "paused"):
            delta = _seconds(body, low=-MAX_TIMER_SECONDS) * 1000
            if state == "running":
                ends_at = max(now, int(timer.ends_at) + delta)  # type: ignore[arg-type]
                timer = replace(timer, ends_at=ends_at)
            else:
                remaining = max(0, int(timer.remaining_ms) + delta)  # type: ignore[arg-type]
                timer = replace(timer, remaining_ms=remaining)
            timer = replace(timer, duration_ms=max(0, int(timer.duration_ms or 0) + delta))
        elif action == "stop":
            timer = replace(Timer(), duration_ms=timer.duration_ms)
        elif action in ("pause", "resume", "add"):
            raise Conflict("timer_state", f"cannot {action} a timer that is {state}")
        else:
            raise _field_error("action", "'action' must be start, pause, resume, add or stop")
        writes.write_meta(room, timer=timer.to_meta())
        return {"timer": timer.to_meta()}

    # -- silent brainstorming ------------------------------------------------------------------

    @_command("private")
    async def _private(
        self, room: Room, claims: Claims, body: arguments.PrivateMode
    ) -> dict[str, Any]:
        on = body.on
        writes.write_meta(room, private=on)
        return {"private": on}

    @_command("reveal")
    async def _reveal(
        self, room: Room, claims: Claims, body: arguments.NoArguments
    ) -> dict[str, Any]:
        """Every private card onto the shared board at once, then private mode off."""
        revealed: dict[str, dict[str, Any]] = {}
        boards: list[Room] = []
        try:
            stored = await self.store.private_documents(room.id)
            # A board loaded now may hold cards not committed yet: count those in too.
            loaded = [
                key for key in self.rooms.rooms if key.startswith(private_board_id(room.id, ""))
            ]
            for board_id in sorted({*stored, *loaded}):
                board = await self.rooms.acquire(board_id)
                boards.append(board)
                revealed.update(writes.read_cards(board))
            writes.add_cards(room, revealed)  # authors as pseudonyms in anonymous rooms
            writes.write_meta(room, private=False)
            for board in boards:
                writes.remove_cards(board, list(writes.read_cards(board)))
        finally:
            for board in boards:
                self.rooms.release(board)
        return {"revealed": len(revealed)}

    # -- dot voting ----------------------------------------------------------------------------

    async def _room_votes(self, room_id: str) -> dict[str, dict[str, int]]:
        votes = self._votes.get(room_id)
        if votes is None:
            votes = self._votes[room_id] = await self.store.load_votes(room_id)
        return votes

    async def votes_message(self, room: Room, participant: str) -> bytes:
        """The participant's own dots and remaining budget, as a message-100 frame."""
        mine = dict((await self._room_votes(room.id)).get(participant, {}))
        budget = int(room.settings.voting.per_participant)
        return encode_koprade(
            {
                "type": "votes",
                "mine": mine,
                "remaining": budget - sum(mine.values()),
                "budget": budget,
            }
        )

    def _tallies(self, room: Room, votes: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
        named = not room.settings.voting.anonymous
        tallies: dict[str, dict[str, Any]] = {}
        for participant, cards in votes.items():
            for card_id, count in cards.items():
                entry = tallies.setdefault(card_id, {"count": 0})
                entry["count"] += count
                if named:
                    entry.setdefault("voters", {})[participant] = count
        return tallies

    async def shown_tallies(self, room: Room) -> dict[str, dict[str, Any]] | None:
        """The vote results the board shows (None: hidden); `voters` are keyed by
        pseudonym on an anonymous board (`writes.write_tallies`)."""
        votes = await self._room_votes(room.id)
        return self._tallies(room, votes) if self._results_visible(room) else None

    def _results_visible(self, room: Room) -> bool:
        return room.settings.voting.results_visible

    async def _publish(self, room: Room, participants: list[str]) -> None:
        """Results into the board when they may be seen; each voter's own dots to them."""
        votes = await self._room_votes(room.id)
        writes.write_tallies(
            room, self._tallies(room, votes) if self._results_visible(room) else None
        )
        for participant in participants:
            room.send_to(participant, await self.votes_message(room, participant))

    async def _change_vote(
        self, room: Room, claims: Claims, card_id: str, delta: int
    ) -> dict[str, Any]:
        # One vote change of a participant at a time: the budget check and the stored count
        # are separated by a database write, and two clicks at once must not both pass it.
        lock = self._vote_locks.setdefault((room.id, claims.participant), asyncio.Lock())
        async with lock:
            return await self._change_vote_now(room, claims, card_id, delta)

    async def _change_vote_now(
        self, room: Room, claims: Claims, card_id: str, delta: int
    ) -> dict[str, Any]:
        voting = room.settings.voting
        if room.settings.phase != VOTING_PHASE:
            raise Conflict("wrong_phase", "voting is only possible in the vote phase")
        if voting.state != "open":
            raise Conflict("voting_closed", "the facilitator has closed the vote")
        votes = await self._room_votes(room.id)
        mine = votes.setdefault(claims.participant, {})
        current = mine.get(card_id, 0)
        if delta > 0:
            if room.card_author(card_id) is None:
                raise NotFound("card_not_found", "no such card on the board")
            if sum(mine.values()) >= int(voting.per_participant):
                raise Conflict("no_votes_left", "you have used all your votes")
            if current >= int(voting.per_card):
                raise Conflict("card_limit", "you cannot give this card more votes")
        elif current == 0:
            raise Conflict("no_vote_to_remove", "you have no vote on this card")
        await self.store.set_vote(room.id, claims.participant, card_id, current + delta)
        if current + delta:
            mine[card_id] = current + delta
        else:
            del mine[card_id]
        await self._publish(room, [claims.participant])
        budget = int(voting.per_participant)
        return {"mine": dict(mine), "remaining": budget - sum(mine.values())}

    @_command("vote", facilitator=False)
    async def _vote(self, room: Room, claims: Claims, body: arguments.Vote) -> dict[str, Any]:
        return await self._change_vote(room, claims, body.card, +1)

    @_command("unvote", facilitator=False)
    async def _unvote(self, room: Room, claims: Claims, body: arguments.Vote) -> dict[str, Any]:
        return await self._change_vote(room, claims, body.card, -1)

    @_command("voting")
    async def _voting(
        self, room: Room, claims: Claims, body: arguments.VotingRules
    ) -> dict[str, Any]:
        if any(cards for cards in (await self._room_votes(room.id)).values()):
            raise Conflict("votes_cast", "reset the votes before changing the rules")
        voting = room.settings.voting.to_meta()
        for key in ("perParticipant", "perCard", "anonymous", "hidden"):
            if (value := getattr(body, key)) is not None:
                voting[key] = value
        voting["perCard"] = min(int(voting["perCard"]), int(voting["perParticipant"]))
        writes.write_meta(room, voting=voting)
        await self._publish(room, self._voters(room))
        return {"voting": voting}

    async def _set_voting_state(self, room: Room, state: str) -> dict[str, Any]:
        voting = room.settings.voting.with_state(state).to_meta()
        writes.write_meta(room, voting=voting)
        await self._publish(room, [])
        return {"voting": voting}

    @_command("close_vote")
    async def _close_vote(
        self, room: Room, claims: Claims, body: arguments.NoArguments
    ) -> dict[str, Any]:
        result = await self._set_voting_state(room, "closed")
        votes = await self._room_votes(room.id)
        ranked = sorted(
            self._tallies(room, votes).items(), key=lambda item: (-item[1]["count"], item[0])
        )
        return {**result, "results": [{"card": card, **tally} for card, tally in ranked]}

    @_command("reopen_vote")
    async def _reopen_vote(
        self, room: Room, claims: Claims, body: arguments.NoArguments
    ) -> dict[str, Any]:
        return await self._set_voting_state(room, "open")

    @_command("reset_votes")
    async def _reset_votes(
        self, room: Room, claims: Claims, body: arguments.NoArguments
    ) -> dict[str, Any]:
        voters = self._voters(room)
        await self.store.delete_votes(room.id)
        self._votes[room.id] = {}
        writes.write_meta(room, voting=room.settings.voting.with_state("open").to_meta())
        await self._publish(room, voters)
        return {"voting": room.settings.voting.to_meta()}

    def _voters(self, room: Room) -> list[str]:
        return sorted(
            {c.identity.participant for c in room.connections if c.identity.role != OBSERVER}
        )


def hello_message(who: Claims | Identity, room: Room) -> bytes:
    """Who the connection is, the `author` its new cards must carry, and how it appears in
    presence (in anonymous rooms: a neutral label, a number and an alias; docs/protocol.md)."""
    identity = who.identity if isinstance(who, Claims) else who
    shown = room.shown_as(identity)
    presence: dict[str, Any] = (
        {"id": identity.participant, "name": identity.name}
        if shown is None
        else {"id": shown.alias, "name": shown.label(identity.role), "number": shown.number}
    )
    return encode_koprade(
        {
            "type": "hello",
            "participant": identity.participant,
            "name": identity.name,
            "role": identity.role,
            "anonymous": room.anonymous,
            "author": room.author_id(identity),
            # Its own cards written while the room was anonymous name it by this.
            "pseudonym": room.author_pseudonym(identity),
            "presence": presence,
            "serverTime": now_ms(),
        }
    )


def rejected_message(rule: str, reason: str) -> bytes:
    return encode_koprade({"type": "rejected", "rule": rule, "reason": reason})


#: `closing` reasons: the server closes the socket for good right after (docs/protocol.md).
CLOSING_ROOM_DELETED = "room_deleted"
CLOSING_PARTICIPANT_REMOVED = "participant_removed"


def closing_message(reason: str) -> bytes:
    """Why the server is about to close this socket for good, as a slug the client acts on
    (the close code and reason that follow stay as they were, for older clients)."""
    return encode_koprade({"type": "closing", "reason": reason})


class VoteCache(RoomHooks):
    """Cluster mode: a room's votes are cached only while this process holds the room; when
    it unloads (or moves to another process), the next holder reads them afresh."""

    def __init__(self, facilitation: Facilitation) -> None:
        self._facilitation = facilitation

    def unloaded(self, room: Room) -> None:
        if room.private_owner is None:
            self._facilitation.forget_votes(room.id)
