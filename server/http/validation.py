"""What HTTP requests carry, as typed models: the bodies of the join flow, sessions and
import, and the query parameters (formats, languages, snapshot ids).

The endpoints parse every body and query parameter into these types before anything else
sees it; a failure is `422 invalid_field` naming the field (`server.fields.validated`).
Facilitation commands are `server/rooms/commands.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictStr
from pydantic_core import PydanticCustomError

from server.errors import Invalid
from server.fields import (
    MAX_TOKEN_LENGTH,
    Body,
    ClientId,
    Language,
    Name,
    Title,
    folded,
)
from server.fields import validated as validated  # the endpoints' one entry point

#: Snapshot ids are database row ids: ASCII digits, within a signed 64-bit integer.
_SNAPSHOT_ID = re.compile(r"[0-9]{1,18}")

#: A room code as typed (white space folded; the lookup decides whether it exists).
RoomCode = Annotated[StrictStr, folded(32)]
#: The name of a snapshot or a saved template.
EntryName = Annotated[StrictStr, folded(200)]
#: An invite token (tokens.py checks it).
InviteToken = Annotated[StrictStr, Field(max_length=MAX_TOKEN_LENGTH)]


# -- join flow ---------------------------------------------------------------------------------


class CreateRoom(Body):
    title: Title
    name: Name | None = None
    template: ClientId | None = None
    lang: Language = "lv"


class JoinRoom(Body):
    code: RoomCode
    name: Name
    role: Literal["participant", "observer"] = "participant"
    invite: InviteToken | None = None


class CreateInvite(Body):
    role: Literal["facilitator"] = "facilitator"


# -- sessions ----------------------------------------------------------------------------------


class TakeSnapshot(Body):
    name: EntryName


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
    name: EntryName
    description: Annotated[StrictStr | None, AfterValidator(_optional_description)] = None


class ImportParams(Body):
    """The query of POST /api/rooms/import."""

    title: Title | None = None
    name: Name | None = None


# -- query parameters --------------------------------------------------------------------------


def snapshot_id(value: str) -> int:
    """A snapshot id from the query: ASCII digits only (`str.isdigit` also accepts '²')."""
    if not _SNAPSHOT_ID.fullmatch(value):
        raise Invalid("invalid_field", "'snapshot' must be a snapshot id", field="snapshot")
    return int(value)


def choice(params: Mapping[str, str], name: str, options: tuple[str, ...], default: str) -> str:
    """One of `options` from the query (the default when absent), else `Invalid` naming it."""
    value = params.get(name, default)
    if value not in options:
        shown = value if len(value) <= 20 else value[:20] + "…"
        raise Invalid(
            "invalid_field",
            f"unknown {name} {shown!r} (one of {', '.join(options)})",
            field=name,
        )
    return value
