"""A room's settings as a typed value: what the board's `meta` map says, with defaults.

`read_settings(doc)` is the one reader of `meta` (docs/facilitation.md); the server is its
only writer (`server/rooms/writes.py`), which writes plain values (`Voting.to_meta()`).
Numbers are kept as stored (Yjs numbers read back as floats); use `int()` where a count is
needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from server.crdt.board import BoardDoc
from server.crdt.meta import DEFAULT_VOTING, STOPPED_TIMER, meta_map
from server.crdt.rules import CLOSED_PHASE, PHASES, Rules

#: The longest room title, in characters (after white space is folded).
MAX_TITLE_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Voting:
    """The dot-voting rules of a room (`meta.voting`)."""

    per_participant: float = DEFAULT_VOTING["perParticipant"]
    per_card: float = DEFAULT_VOTING["perCard"]
    anonymous: bool = DEFAULT_VOTING["anonymous"]
    hidden: bool = DEFAULT_VOTING["hidden"]
    state: str = DEFAULT_VOTING["state"]

    @classmethod
    def from_meta(cls, stored: Any) -> Voting:
        values = {**DEFAULT_VOTING, **(stored if isinstance(stored, dict) else {})}
        return cls(
            per_participant=values["perParticipant"],
            per_card=values["perCard"],
            anonymous=values["anonymous"],
            hidden=values["hidden"],
            state=values["state"],
        )

    def to_meta(self) -> dict[str, Any]:
        """The plain value stored in `meta.voting` and sent in command replies."""
        return {
            "perParticipant": self.per_participant,
            "perCard": self.per_card,
            "anonymous": self.anonymous,
            "hidden": self.hidden,
            "state": self.state,
        }

    def with_state(self, state: str) -> Voting:
        return replace(self, state=state)

    @property
    def results_visible(self) -> bool:
        return not self.hidden or self.state == "closed"


@dataclass(frozen=True, slots=True)
class Timer:
    """The room's countdown (`meta.timer`): running until `ends_at` (ms since the epoch),
    paused with `remaining_ms` left, or stopped; `duration_ms` is what it was set to."""

    state: str | None = STOPPED_TIMER["state"]
    ends_at: float | None = STOPPED_TIMER["endsAt"]
    remaining_ms: float | None = STOPPED_TIMER["remainingMs"]
    duration_ms: float | None = STOPPED_TIMER["durationMs"]

    @classmethod
    def from_meta(cls, stored: Any) -> Timer:
        values = stored if isinstance(stored, dict) and stored else STOPPED_TIMER
        return cls(
            state=values.get("state"),
            ends_at=values.get("endsAt"),
            remaining_ms=values.get("remainingMs"),
            duration_ms=values.get("durationMs", 0),
        )

    def to_meta(self) -> dict[str, Any]:
        """The plain value stored in `meta.timer` and sent in command replies."""
        return {
            "state": self.state,
            "endsAt": self.ends_at,
            "remainingMs": self.remaining_ms,
            "durationMs": self.duration_ms,
        }


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """Everything of `meta` the server reads; defaults for whatever is missing."""

    title: str = ""
    phases: tuple[str, ...] = PHASES
    phase: str = PHASES[0]
    locked: bool = False
    anonymous: bool = False
    edit_others: bool = True
    private: bool = False
    follow_me: str | None = None
    timer: Timer = field(default_factory=Timer)
    voting: Voting = field(default_factory=Voting)
    #: participant id -> name; None in anonymous rooms (and before anyone joined).
    people: dict[str, str] | None = None

    @property
    def closed(self) -> bool:
        return self.phase == CLOSED_PHASE

    def rules(self) -> Rules:
        """What participants' updates may do under these settings."""
        return Rules(
            phase=self.phase,
            locked=self.locked,
            edit_others=self.edit_others,
            private=self.private,
            anonymous=self.anonymous,
        )


def read_settings(doc: BoardDoc) -> RoomSettings:
    """The board's settings, with defaults for anything missing (older rooms, partial writes)."""
    stored = meta_map(doc).to_py() or {}
    default = RoomSettings()
    phases = stored.get("phases")
    timer = stored.get("timer")
    people = stored.get("people")
    follow_me = stored.get("followMe")
    return RoomSettings(
        title=str(stored.get("title", "")),
        phases=tuple(phases) if isinstance(phases, list) else default.phases,
        phase=str(stored.get("phase", default.phase)),
        locked=bool(stored.get("locked", default.locked)),
        anonymous=bool(stored.get("anonymous", default.anonymous)),
        edit_others=bool(stored.get("editOthers", default.edit_others)),
        private=bool(stored.get("private", default.private)),
        follow_me=follow_me if isinstance(follow_me, str) else None,
        timer=Timer.from_meta(timer),
        voting=Voting.from_meta(stored.get("voting")),
        people=dict(people) if isinstance(people, dict) else None,
    )
