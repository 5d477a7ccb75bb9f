"""What clients may send, as typed models (pydantic v2), and the one place that turns a
validation failure into the API's error body.

The HTTP edge (server/api.py, server/sessions_api.py, server/transfer.py) parses every body
and query parameter into these types before anything else sees it, so handlers below work
on typed, bounded values. A failure is `422 invalid_field` naming the field
(docs/protocol.md, "Error slugs"); models are strict (no "5" for 5, no 1 for true).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from server.crdt.rules import PHASES
from server.errors import ApiError

MAX_TITLE_LENGTH = 200
MAX_NAME_LENGTH = 60
MAX_TIMER_SECONDS = 24 * 3600
MAX_VOTES_PER_PARTICIPANT = 100
#: Ids a client names (cards, participants, templates): far longer than any real one.
MAX_ID_LENGTH = 200
#: A token or invite is well under 1 KiB; tokens.py refuses anything over 2 KiB.
MAX_TOKEN_LENGTH = 4096
#: Snapshot ids are database row ids: ASCII digits, within a signed 64-bit integer.
_SNAPSHOT_ID = re.compile(r"[0-9]{1,18}")

Model = TypeVar("Model", bound=BaseModel)


# -- field types -------------------------------------------------------------------------------


def _folded(max_length: int) -> Any:
    """Text trimmed with runs of white space folded to one space, 1..max_length long."""

    def fold(value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise PydanticCustomError("empty", "must not be empty")
        if len(value) > max_length:
            raise PydanticCustomError(
                "too_long", "must be at most {limit} characters", {"limit": max_length}
            )
        return value

    return Annotated[StrictStr, AfterValidator(fold)]


def _non_blank(max_length: int) -> Any:
    """Text kept as sent, but not blank and at most max_length long."""

    def check(value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("empty", "must be a non-empty string")
        if len(value) > max_length:
            raise PydanticCustomError(
                "too_long", "must be at most {limit} characters", {"limit": max_length}
            )
        return value

    return Annotated[StrictStr, AfterValidator(check)]


def _whole_float_as_int(value: Any) -> Any:
    # JSON has one number type: 60.0 is as good as 60. NaN and ±Infinity are not whole,
    # so they stay floats and fail the strict integer check below.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _whole(low: int, high: int) -> Any:
    return Annotated[StrictInt, BeforeValidator(_whole_float_as_int), Field(ge=low, le=high)]


def _distinct(phases: list[str]) -> list[str]:
    if len(set(phases)) != len(phases):
        raise PydanticCustomError("distinct", "must list distinct phases")
    return phases


Title = _folded(MAX_TITLE_LENGTH)
Name = _folded(MAX_NAME_LENGTH)
Phase = Literal[PHASES]  # type: ignore[valid-type]
PhaseSequence = Annotated[
    list[Phase], Field(min_length=1, max_length=len(PHASES)), AfterValidator(_distinct)
]
Language = Literal["lv", "en"]


class Body(BaseModel):
    """A request body: strict types, unknown keys ignored (clients may send more)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


# -- join flow ---------------------------------------------------------------------------------


class CreateRoom(Body):
    title: Title
    name: Name | None = None
    template: _non_blank(MAX_ID_LENGTH) | None = None
    lang: Language = "lv"


class JoinRoom(Body):
    code: _folded(32)
    name: Name
    role: Literal["participant", "observer"] = "participant"
    invite: Annotated[StrictStr, Field(max_length=MAX_TOKEN_LENGTH)] | None = None


class CreateInvite(Body):
    role: Literal["facilitator"] = "facilitator"


# -- sessions ----------------------------------------------------------------------------------


class TakeSnapshot(Body):
    name: _folded(200)


class DuplicateSnapshot(Body):
    title: Title | None = None


def _optional_description(value: str | None) -> str:
    if value is None or value == "":
        return ""
    value = " ".join(value.split())
    if not value:
        raise PydanticCustomError("empty", "must not be empty")
    if len(value) > 1000:
        raise PydanticCustomError("too_long", "must be at most 1000 characters")
    return value


class SaveTemplate(Body):
    name: _folded(200)
    description: Annotated[StrictStr | None, AfterValidator(_optional_description)] = None


class ImportParams(Body):
    """The query of POST /api/rooms/import."""

    title: Title | None = None
    name: Name | None = None


# -- facilitation commands (docs/facilitation.md, "Commands") -----------------------------------


class SetPhase(Body):
    command: Literal["set_phase"]
    phase: _non_blank(40)


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
    participant: _non_blank(64)


class Timer(Body):
    command: Literal["timer"]
    action: Literal["start", "pause", "resume", "add", "stop"]
    # Needed by start (1..86400) and add (may be negative); checked by the handler per action.
    seconds: _whole(-MAX_TIMER_SECONDS, MAX_TIMER_SECONDS) | None = None


class PrivateMode(Body):
    command: Literal["private"]
    on: StrictBool


class Vote(Body):
    command: Literal["vote", "unvote"]
    card: _non_blank(MAX_ID_LENGTH)


class VotingRules(Body):
    command: Literal["voting"]
    # As in RoomSwitches: absent is None, an explicit null is refused.
    perParticipant: _whole(1, MAX_VOTES_PER_PARTICIPANT) = None
    perCard: _whole(1, MAX_VOTES_PER_PARTICIPANT) = None
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
    """The body's known command name; `400 unknown_command` otherwise."""
    name = body.get("command")
    if not isinstance(name, str) or name not in COMMANDS:
        raise ApiError(400, "unknown_command", f"unknown command {str(name)[:60]!r}")
    return name


def command(body: dict[str, Any]) -> Command:
    """The command's typed arguments (the name was checked by `command_name`)."""
    try:
        return _COMMAND.validate_python(body)
    except ValidationError as exc:
        # The first element of each location is the union's tag (the command name).
        raise invalid_field(exc, skip=1) from exc


# -- turning failures into the API's error body -------------------------------------------------


def validated(model: type[Model], data: Any) -> Model:
    """`data` as `model`; `422 invalid_field` naming the first wrong field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_field(exc) from exc


def invalid_field(exc: ValidationError, *, skip: int = 0) -> ApiError:
    """The first error of `exc` as `422 invalid_field` with `field` (the top-level key)."""
    error = exc.errors(include_url=False, include_input=False)[0]
    location = [part for part in error["loc"][skip:] if isinstance(part, str)]
    field = location[0] if location else "body"
    if error["type"] == "missing":
        message = f"'{field}' is required"
    else:
        text = error["msg"].replace("Input should", "must")
        message = f"'{field}' {text[:1].lower()}{text[1:]}"
    return ApiError(422, "invalid_field", message, field=field)


# -- query parameters --------------------------------------------------------------------------


def snapshot_id(value: str) -> int:
    """A snapshot id from the query: ASCII digits only (`str.isdigit` also accepts '²')."""
    if not _SNAPSHOT_ID.fullmatch(value):
        raise ApiError(422, "invalid_field", "'snapshot' must be a snapshot id", field="snapshot")
    return int(value)


def choice(params: Any, name: str, options: tuple[str, ...] | Any, default: str) -> str:
    """One of `options` from the query (the default when absent), else 422 naming it."""
    value = params.get(name, default)
    if value not in options:
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise ApiError(
            422,
            "invalid_field",
            f"unknown {name} {shown!r} (one of {', '.join(options)})",
            field=name,
        )
    return value
