"""Errors raised by the pure protocol layer; the room layer maps them to close codes."""

from __future__ import annotations


class ProtocolError(Exception):
    """A message from a client that cannot be accepted (malformed, unknown, undecodable)."""

    close_code = 4400

    @property
    def reason(self) -> str:
        return f"malformed message: {self}"
