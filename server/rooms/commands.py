"""The facilitation commands clients send, as typed models (docs/facilitation.md, "Commands").

`command_name()` reads a body's command name (so who may run it is decided before its
arguments are read), `command()` its typed arguments; `server/rooms/facilitation.py` runs
them. Field types and limits: `server/fields.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Discriminator, Field, StrictBool, StrictStr, TypeAdapter, ValidationError

from server.errors import Malformed
from server.fields import (
    MAX_TIMER_SECONDS,
    MAX_VOTES_PER_PARTICIPANT,
    Body,
    ClientId,
    PhaseSequence,
    Title,
    Whole,
    invalid_field,
    non_blank,
)

#: A phase name (checked against the room's phases by the handler).
PhaseName = Annotated[StrictStr, non_blank(40)]
#: A participant id, as in the room's `people`.
ParticipantId = Annotated[StrictStr, non_blank(64)]
#: Timer seconds: start needs 1..86400, add may be negative (the handler checks per action).
TimerSeconds = Annotated[Whole, Field(ge=-MAX_TIMER_SECONDS, le=MAX_TIMER_SECONDS)]
#: A voting limit (votes per participant, per card).
VoteLimit = Annotated[Whole, Field(ge=1, le=MAX_VOTES_PER_PARTICIPANT)]


class SetPhase(Body):
    command: Literal["set_phase"]
    phase: PhaseName


class SetPhases(Body):
    command: Literal["set_phases"]
    phases: PhaseSequence


class RoomSwitches(Body):
    command: Literal["settings"]
    # Absent is None; an explicit null is refused, as any other non-boolean (defaults are
    # not validated, so `None` here never passes the StrictBool check).
    locked: StrictBool = None  # type: ignore[assignment]
    anonymous: StrictBool = None  # type: ignore[assignment]
    editOthers: StrictBool = None  # type: ignore[assignment]

    def changes(self) -> dict[str, bool]:
        """The switches given, by their `meta` keys."""
        return {
            key: value
            for key in ("locked", "anonymous", "editOthers")
            if (value := getattr(self, key)) is not None
        }


class FollowMe(Body):
    command: Literal["follow_me"]
    on: StrictBool


class Rename(Body):
    command: Literal["rename"]
    title: Title


class Remove(Body):
    command: Literal["remove"]
    participant: ParticipantId


class Timer(Body):
    command: Literal["timer"]
    action: Literal["start", "pause", "resume", "add", "stop"]
    # Needed by start (1..86400) and add (may be negative); checked by the handler per action.
    seconds: TimerSeconds | None = None


class PrivateMode(Body):
    command: Literal["private"]
    on: StrictBool


class Vote(Body):
    command: Literal["vote", "unvote"]
    card: ClientId


class VotingRules(Body):
    command: Literal["voting"]
    # As in RoomSwitches: absent is None, an explicit null is refused.
    perParticipant: VoteLimit = None  # type: ignore[assignment]
    perCard: VoteLimit = None  # type: ignore[assignment]
    anonymous: StrictBool = None  # type: ignore[assignment]
    hidden: StrictBool = None  # type: ignore[assignment]


class NoArguments(Body):
    command: Literal["reveal", "close_vote", "reopen_vote", "reset_votes"]


_COMMAND_MODELS = (
    SetPhase,
    SetPhases,
    RoomSwitches,
    FollowMe,
    Rename,
    Remove,
    Timer,
    PrivateMode,
    Vote,
    VotingRules,
    NoArguments,
)
Command = Annotated[
    SetPhase
    | SetPhases
    | RoomSwitches
    | FollowMe
    | Rename
    | Remove
    | Timer
    | PrivateMode
    | Vote
    | VotingRules
    | NoArguments,
    Discriminator("command"),
]
#: Every command name, from the `command` literals of the models.
COMMANDS: frozenset[str] = frozenset(
    name for model in _COMMAND_MODELS for name in get_args(model.model_fields["command"].annotation)
)
_COMMAND = TypeAdapter(Command)


def command_name(body: dict[str, Any]) -> str:
    """The body's known command name; `Malformed("unknown_command")` otherwise."""
    name = body.get("command")
    if not isinstance(name, str) or name not in COMMANDS:
        raise Malformed("unknown_command", f"unknown command {str(name)[:60]!r}")
    return name


def command(body: dict[str, Any]) -> Command:
    """The command's typed arguments (the name was checked by `command_name`)."""
    try:
        return _COMMAND.validate_python(body)
    except ValidationError as exc:
        # The first element of each location is the union's tag (the command name).
        raise invalid_field(exc, skip=1) from exc
