"""A room's settings read as a typed value (server/crdt/settings.py)."""

from __future__ import annotations

from pycrdt import Map

from server.crdt.board import META, new_board
from server.crdt.meta import default_meta
from server.crdt.rules import PHASES
from server.crdt.settings import RoomSettings, Timer, Voting, read_settings


def test_an_empty_meta_reads_as_the_defaults() -> None:
    settings = read_settings(new_board())
    assert settings == RoomSettings()
    assert settings.phases == PHASES and settings.phase == PHASES[0]
    assert settings.voting == Voting() and settings.timer == Timer()
    assert settings.people is None and not settings.closed


def test_stored_values_round_trip() -> None:
    doc = new_board()
    meta = doc.get(META, type=Map)
    stored = {
        **default_meta("Mobility"),
        "phase": "closed",
        "anonymous": True,
        "people": {"p_1": "Ilze"},
        "voting": {"perParticipant": 7, "state": "closed"},
    }
    with doc.transaction():
        for key, value in stored.items():
            meta[key] = value
    settings = read_settings(doc)
    assert settings.title == "Mobility" and settings.closed and settings.anonymous
    assert settings.people == {"p_1": "Ilze"}
    # Missing voting keys take their defaults; numbers read back as Yjs stored them.
    expected = {**Voting().to_meta(), "perParticipant": 7, "state": "closed"}
    assert settings.voting.to_meta() == expected
    assert settings.voting.results_visible
    assert settings.timer.to_meta() == default_meta("")["timer"]
    assert settings.rules().anonymous and settings.rules().phase == "closed"
