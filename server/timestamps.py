"""The one format of times in everything Koprade writes: ISO 8601 in UTC with milliseconds
and a Z (`2026-11-23T14:05:00.000Z`), as in docs/protocol.md."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """A moment as ISO 8601 in UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_ms(ms: float) -> str:
    """A time in milliseconds since the epoch, formatted as `iso`."""
    return iso(datetime.fromtimestamp(ms / 1000, UTC))
