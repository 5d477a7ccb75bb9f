"""Reading a board's JSON export back into a board: import, and later templates.

`read_export` checks an export strictly (format, version 1 or 2, every field's type and
bounds) and raises `InvalidExport` naming the first wrong field; `import_board` writes a
checked export into a document in one transaction. Both are pure over a pycrdt `Doc`, so
the HTTP API, the CLI and templates share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar

from pycrdt import Map, Text
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from server.crdt.board import CARDS, CLUSTERS, EXPORT_FORMAT, META, VOTES, BoardDoc
from server.crdt.rules import PHASES, is_phase_sequence
from server.crdt.settings import MAX_TITLE_LENGTH

READABLE_VERSIONS = (1, 2)
MAX_CARDS = 5000
MAX_CLUSTERS = 1000
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 10_000
MAX_NAME_LENGTH = 200
MAX_COORDINATE = 1e9
MAX_VOTES = 1_000_000
#: Settings carried over from an export's `meta`; the rest (title, timer, follow-me,
#: private mode) belongs to the session that was running, not to the board.
IMPORTED_SETTINGS = ("phases", "phase", "locked", "anonymous", "editOthers", "voting", "people")


class InvalidExport(ValueError):
    """The data is not a board export Koprade can read; `field` names the first bad one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class BoardExport:
    """A checked export: plain values ready to be written into a board."""

    version: int
    title: str  # the room's title; "" when the export has none (a template)
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    votes: dict[str, dict[str, Any]] = field(default_factory=dict)


# -- checks ------------------------------------------------------------------------------------
#
# The export's shape as strict pydantic models (types, optional fields, lengths, bounds);
# what relates fields to each other (duplicate ids, the phase among the phases, perCard
# within perParticipant) is checked on the validated values in `read_export`.


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


def _number(low: float, high: float, *, whole: bool = False) -> PlainValidator:
    """A JSON number within [low, high] (finite: NaN, ±Infinity and 1e400 are refused)."""

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError("number", "must be a number")
        try:
            finite = math.isfinite(value) and low <= value <= high
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            raise PydanticCustomError(
                "range",
                "must be between {low} and {high}",
                {"low": f"{low:g}", "high": f"{high:g}"},
            )
        if whole:
            if value != int(value):
                raise PydanticCustomError("whole", "must be a whole number")
            return int(value)
        return value

    # A plain check of the raw value: strict int/float unions would name the union member
    # in errors. (The annotated type is what the field holds afterwards, for the reader.)
    return PlainValidator(check)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty", "must not be empty")
    return value


def _phase_sequence(value: Any) -> list[str]:
    # Strings first: a list or object inside would be unhashable in the sequence check.
    if not (
        isinstance(value, list) and all(isinstance(p, str) for p in value)
    ) or not is_phase_sequence(value):
        raise PydanticCustomError(
            "phases", "must list distinct phases from {phases}", {"phases": ", ".join(PHASES)}
        )
    return list(value)


def _readable_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in READABLE_VERSIONS:
        raise PydanticCustomError(
            "version",
            "must be one of {versions}",
            {"versions": ", ".join(map(str, READABLE_VERSIONS))},
        )
    return value


def _export_format(value: Any) -> str:
    if value != EXPORT_FORMAT:
        raise PydanticCustomError("format", f"must be {EXPORT_FORMAT!r}")
    return EXPORT_FORMAT


_T = TypeVar("_T")

if TYPE_CHECKING:
    #: A field that may be left out (it is None then) but not given as null.
    Omittable: TypeAlias = _T | None
else:

    class Omittable:
        """At run time `Omittable[X]` is X itself: pydantic refuses an explicit null, and
        a field left out keeps its default None (defaults are not validated)."""

        def __class_getitem__(cls, item: Any) -> Any:
            return item


Coordinate = Annotated[float, _number(-MAX_COORDINATE, MAX_COORDINATE)]
Size = Annotated[float, _number(0, MAX_COORDINATE)]
Timestamp = Annotated[float, _number(0, 253_402_300_800_000)]  # ms, up to year 9999
VoteCount = Annotated[int, _number(0, MAX_VOTES, whole=True)]
Dots = Annotated[int, _number(1, 100, whole=True)]
Id = Annotated[StrictStr, Field(max_length=MAX_ID_LENGTH), AfterValidator(_not_blank)]
LongText = Annotated[StrictStr, Field(max_length=MAX_TEXT_LENGTH)]
Title = Annotated[StrictStr, Field(max_length=MAX_TITLE_LENGTH)]
Name = Annotated[StrictStr, Field(max_length=MAX_NAME_LENGTH)]
Color = Annotated[StrictStr, Field(max_length=64)]
Author = Annotated[StrictStr, Field(max_length=MAX_ID_LENGTH)]


class _Card(_Strict):
    id: Id
    text: LongText = ""
    # Optional fields default to None without being checked; an explicit null is refused.
    x: Omittable[Coordinate] = None
    y: Omittable[Coordinate] = None
    color: Omittable[Color] = None
    author: Omittable[Author] = None
    cluster: Omittable[Id] = None
    created: Omittable[Timestamp] = None


class _Cluster(_Strict):
    id: Id
    title: LongText = ""
    x: Omittable[Coordinate] = None
    y: Omittable[Coordinate] = None
    w: Omittable[Size] = None
    h: Omittable[Size] = None


class _Voting(_Strict):
    perParticipant: Omittable[Dots] = None
    perCard: Omittable[Dots] = None
    anonymous: Omittable[StrictBool] = None
    hidden: Omittable[StrictBool] = None
    state: Omittable[Literal["open", "closed"]] = None


class _Meta(_Strict):
    phases: Omittable[Annotated[list[str], PlainValidator(_phase_sequence)]] = None
    phase: Any = None  # one of the phases: checked against them in read_export
    locked: Omittable[StrictBool] = None
    anonymous: Omittable[StrictBool] = None
    editOthers: Omittable[StrictBool] = None
    voting: Omittable[_Voting] = None
    people: Any = None  # read only when the room is not anonymous (see read_export)


class _Tally(_Strict):
    count: VoteCount
    voters: Omittable[Annotated[dict[Id, VoteCount], Field(max_length=MAX_CARDS)]] = None


class _Room(_Strict):
    title: Omittable[Title] = None


class _Export(_Strict):
    # Always given (read_export passes None for a missing one, which the checks refuse).
    format: Annotated[str, PlainValidator(_export_format)]
    version: Annotated[int, PlainValidator(_readable_version)]
    # `room` is optional (templates have none); its title, when there, must be a title.
    room: _Room = _Room()
    clusters: Annotated[list[_Cluster], Field(max_length=MAX_CLUSTERS)] = []
    cards: Annotated[list[_Card], Field(max_length=MAX_CARDS)] = []
    meta: _Meta = _Meta()
    votes: Annotated[dict[Id, _Tally], Field(max_length=MAX_CARDS)] = {}


_PEOPLE: TypeAdapter[dict[str, str]] = TypeAdapter(
    Annotated[dict[Id, Name], Field(max_length=MAX_CARDS)],
    config=ConfigDict(strict=True),
)


def _invalid(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> InvalidExport:
    """The first error as InvalidExport, its field spelled like `cards[3].x`."""
    error = exc.errors(include_url=False, include_input=False)[0]
    name = ""
    for part in (*prefix, *error["loc"]):
        if part == "[key]":  # a bad key of a mapping: name the mapping
            name = name.rsplit(".", 1)[0]
        elif isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    name = name or "body"
    if error["type"] == "missing":
        message = f"'{name}' is required"
    else:
        text = error["msg"].replace("Input should", "must")
        message = f"'{name}' {text[:1].lower()}{text[1:]}"
    return InvalidExport(name, message)


def _set_fields(model: BaseModel, *, skip: str) -> dict[str, Any]:
    """The fields the export gave, in the model's order (a set has none)."""
    given = model.model_fields_set
    return {
        key: getattr(model, key) for key in type(model).model_fields if key in given and key != skip
    }


def read_export(data: Any) -> BoardExport:
    """Check a JSON export (version 1 or 2); raises InvalidExport on the first wrong field."""
    if not isinstance(data, dict):
        raise InvalidExport("body", "'body' must be an object")
    try:
        export = _Export.model_validate({"format": None, "version": None, **data})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    title = " ".join(export.room.title.split()) if export.room.title is not None else ""
    board = BoardExport(version=export.version, title=title)
    for index, cluster in enumerate(export.clusters):
        if cluster.id in board.clusters:
            raise InvalidExport(f"clusters[{index}].id", f"cluster id {cluster.id!r} appears twice")
        board.clusters[cluster.id] = {"title": cluster.title, **_set_fields(cluster, skip="id")}
    for index, card in enumerate(export.cards):
        if card.id in board.cards:
            raise InvalidExport(f"cards[{index}].id", f"card id {card.id!r} appears twice")
        board.cards[card.id] = {"text": card.text, **_set_fields(card, skip="id")}
    board.settings = _settings(export.meta)
    board.votes = {
        card_id: {"count": tally.count}
        | ({"voters": tally.voters} if tally.voters is not None else {})
        for card_id, tally in export.votes.items()
    }
    if board.settings.get("anonymous"):
        for values in board.cards.values():
            if "author" in values:
                values["author"] = ""  # as a version 2 export of an anonymous room has it
        for tally in board.votes.values():
            tally.pop("voters", None)
    return board


def _settings(meta: _Meta) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if meta.phases is not None:
        settings["phases"] = meta.phases
    if "phase" in meta.model_fields_set:
        if not isinstance(meta.phase, str) or meta.phase not in settings.get("phases", PHASES):
            raise InvalidExport("meta.phase", "'meta.phase' must be one of the room's phases")
        settings["phase"] = meta.phase
    for key in ("locked", "anonymous", "editOthers"):
        if key in meta.model_fields_set:
            settings[key] = getattr(meta, key)
    if meta.voting is not None:
        voting = _set_fields(meta.voting, skip="")
        if voting.get("perCard", 0) > voting.get("perParticipant", 100):
            limit = voting.get("perParticipant", 100)
            raise InvalidExport(
                "meta.voting.perCard", f"'meta.voting.perCard' must be between 1 and {limit}"
            )
        settings["voting"] = voting
    if "people" in meta.model_fields_set and not settings.get("anonymous"):
        try:
            settings["people"] = _PEOPLE.validate_python(meta.people)
        except ValidationError as exc:
            raise _invalid(exc, ("meta", "people")) from exc
    return settings


# -- writing -----------------------------------------------------------------------------------


def import_board(
    doc: BoardDoc,
    export: dict[str, Any] | BoardExport,
    *,
    settings: bool = True,
    votes: bool = True,
    origin: str = "server",
) -> BoardExport:
    """Write an export's cards and clusters (same ids, text, places, colours, authors,
    creation times), and unless told otherwise its settings and vote results, into `doc`
    in one transaction. Entries with the same ids are replaced; nothing else is removed.

    Imported results are a record of the earlier session: `voting.state` becomes "closed"
    when there are any, so they stay visible (a new vote in the room replaces them).
    """
    board = export if isinstance(export, BoardExport) else read_export(export)
    cards, clusters = doc.get(CARDS, type=Map), doc.get(CLUSTERS, type=Map)
    meta, results = doc.get(META, type=Map), doc.get(VOTES, type=Map)
    with doc.transaction(origin=origin):
        for cluster_id, values in board.clusters.items():
            plain = {key: value for key, value in values.items() if key != "title"}
            clusters[cluster_id] = Map({**plain, "title": Text(values["title"])})
        for card_id, values in board.cards.items():
            plain = {key: value for key, value in values.items() if key != "text"}
            cards[card_id] = Map({**plain, "text": Text(values["text"])})
        if settings:
            for key, value in board.settings.items():
                if key == "voting" and votes and board.votes:
                    value = {**value, "state": "closed"}
                meta[key] = value
            if votes and board.votes and "voting" not in board.settings:
                voting = meta.get("voting")
                meta["voting"] = {**(voting if isinstance(voting, dict) else {}), "state": "closed"}
        if votes:
            for card_id, tally in board.votes.items():
                results[card_id] = tally
    return board
