"""What clients may send, field by field: typed, bounded values (pydantic v2) and the one
place that turns a validation failure into a domain error.

Request bodies (server/http/validation.py) and facilitation commands
(server/rooms/commands.py) are built from these types, so everything below the edge works on
typed, bounded values. A failure is `Invalid("invalid_field")` naming the field
(docs/protocol.md, "Error slugs"); models are strict (no "5" for 5, no 1 for true).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from server.crdt.rules import PHASES
from server.crdt.settings import MAX_TITLE_LENGTH
from server.errors import Invalid

MAX_NAME_LENGTH = 60
MAX_TIMER_SECONDS = 24 * 3600
MAX_VOTES_PER_PARTICIPANT = 100
#: Ids a client names (cards, participants, templates): far longer than any real one.
MAX_ID_LENGTH = 200
#: A token or invite is well under 1 KiB; tokens.py refuses anything over 2 KiB.
MAX_TOKEN_LENGTH = 4096

Model = TypeVar("Model", bound=BaseModel)


# -- field types -------------------------------------------------------------------------------


def _at_most(value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise PydanticCustomError(
            "too_long", "must be at most {limit} characters", {"limit": max_length}
        )
    return value


def folded(max_length: int) -> AfterValidator:
    """For text: trimmed with runs of white space folded to one space, 1..max_length long.

    Metadata for a named `Annotated[StrictStr, folded(...)]` alias (mypy reads no field type
    built by a call, so each bound gets its alias once, as `Title` and `Name` below).
    """

    def fold(value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise PydanticCustomError("empty", "must not be empty")
        return _at_most(value, max_length)

    return AfterValidator(fold)


def non_blank(max_length: int) -> AfterValidator:
    """For text: kept as sent, but not blank and at most max_length long.

    Metadata for a named `Annotated[StrictStr, non_blank(...)]` alias, as `folded`.
    """

    def check(value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("empty", "must be a non-empty string")
        return _at_most(value, max_length)

    return AfterValidator(check)


def _whole_float_as_int(value: Any) -> Any:
    # JSON has one number type: 60.0 is as good as 60. NaN and ±Infinity are not whole,
    # so they stay floats and fail the strict integer check below.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A whole number; bound it in a named alias: `Annotated[Whole, Field(ge=low, le=high)]`.
Whole = Annotated[StrictInt, BeforeValidator(_whole_float_as_int)]


def _distinct(phases: list[str]) -> list[str]:
    if len(set(phases)) != len(phases):
        raise PydanticCustomError("distinct", "must list distinct phases")
    return phases


Title = Annotated[StrictStr, folded(MAX_TITLE_LENGTH)]
Name = Annotated[StrictStr, folded(MAX_NAME_LENGTH)]
#: An id a client names (a card, a template).
ClientId = Annotated[StrictStr, non_blank(MAX_ID_LENGTH)]
Phase = Literal[PHASES]  # type: ignore[valid-type]
PhaseSequence = Annotated[
    list[Phase], Field(min_length=1, max_length=len(PHASES)), AfterValidator(_distinct)
]
Language = Literal["lv", "en"]


class Body(BaseModel):
    """A request body: strict types, unknown keys ignored (clients may send more)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


# -- turning failures into a domain error ---------------------------------------------------------


def validated(model: type[Model], data: Any) -> Model:
    """`data` as `model`; `Invalid("invalid_field")` naming the first wrong field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_field(exc) from exc


def invalid_field(exc: ValidationError, *, skip: int = 0) -> Invalid:
    """The first error of `exc` as `Invalid("invalid_field")` with `field` (the top-level key)."""
    error = exc.errors(include_url=False, include_input=False)[0]
    location = [part for part in error["loc"][skip:] if isinstance(part, str)]
    field = location[0] if location else "body"
    if error["type"] == "missing":
        message = f"'{field}' is required"
    else:
        text = error["msg"].replace("Input should", "must")
        message = f"'{field}' {text[:1].lower()}{text[1:]}"
    return Invalid("invalid_field", message, field=field)
