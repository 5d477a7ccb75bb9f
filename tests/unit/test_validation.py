"""The request models (server/http/validation.py), the command models (server/rooms/commands.py)
and the bounded JSON parser (server/safejson.py)."""

from __future__ import annotations

import math

import pytest

from server import safejson
from server.errors import DomainError
from server.http import validation
from server.http.errors import status_of
from server.rooms import commands, facilitation


def test_every_command_has_a_model_and_a_handler() -> None:
    handlers = set(facilitation._FACILITATOR_COMMANDS) | set(facilitation._VOTER_COMMANDS)
    assert handlers == commands.COMMANDS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"command": "timer", "action": "start", "seconds": math.nan}, "seconds"),
        ({"command": "timer", "action": "start", "seconds": math.inf}, "seconds"),
        ({"command": "timer", "action": "start", "seconds": 10**400}, "seconds"),
        ({"command": "timer", "action": "start", "seconds": "60"}, "seconds"),
        ({"command": "timer", "action": "start", "seconds": True}, "seconds"),
        ({"command": "timer", "action": "nap"}, "action"),
        ({"command": "voting", "perCard": 2.5}, "perCard"),
        ({"command": "set_phases", "phases": [["explore"]]}, "phases"),
        ({"command": "set_phases", "phases": ["explore", "explore"]}, "phases"),
        ({"command": "set_phases", "phases": []}, "phases"),
        ({"command": "settings", "locked": "yes"}, "locked"),
        ({"command": "settings", "locked": None}, "locked"),
        ({"command": "voting", "perParticipant": None}, "perParticipant"),
        ({"command": "vote", "card": "   "}, "card"),
        ({"command": "rename"}, "title"),
    ],
)
def test_bad_command_arguments_name_their_field(body: dict, field: str) -> None:
    with pytest.raises(DomainError) as raised:
        commands.command(body)
    assert (status_of(raised.value), raised.value.slug) == (422, "invalid_field")
    assert raised.value.extra["field"] == field
    assert raised.value.message.startswith(f"'{field}' ")


def test_whole_floats_are_whole_numbers() -> None:
    timer = commands.command({"command": "timer", "action": "start", "seconds": 60.0})
    assert isinstance(timer, commands.Timer) and timer.seconds == 60


def test_text_is_folded_and_bounded() -> None:
    room = validation.validated(validation.CreateRoom, {"title": "  Mobility \n for   seniors "})
    assert room.title == "Mobility for seniors"
    for title in ("   ", "t" * 201, 5, None):
        with pytest.raises(DomainError):
            validation.validated(validation.CreateRoom, {"title": title})


@pytest.mark.parametrize("value", ["²", "\u0661", "1.0", "-1", "", " 1", "1" * 19])
def test_snapshot_ids_are_ascii_digits(value: str) -> None:
    with pytest.raises(DomainError) as raised:
        validation.snapshot_id(value)
    assert raised.value.extra["field"] == "snapshot"
    assert validation.snapshot_id("42") == 42


def test_json_depth_is_bounded_without_recursion_errors() -> None:
    assert safejson.loads(b"[" * 150 + b"]" * 150)
    for depth in (300, 100_000):
        with pytest.raises(safejson.InvalidJson) as raised:
            safejson.loads("[" * depth + "]" * depth)
        assert raised.value.too_deep
    with pytest.raises(safejson.InvalidJson) as raised:
        safejson.loads(b"{nope")
    assert not raised.value.too_deep
