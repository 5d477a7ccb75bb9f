"""Closing a member whose message the room did not accept (nothing of it changed the room).

The same for a local socket (server/http/ws.py) and, in cluster mode, for a connection another
process holds (server/cluster/owner.py), so a refused client hears the same words either way.
"""

from __future__ import annotations

from server.crdt.errors import ProtocolError
from server.crdt.rules import Rejected
from server.metrics import Metrics
from server.rooms.connection import CLOSE_BAD_MESSAGE
from server.rooms.facilitation import rejected_message
from server.rooms.room import Member


def refuse(member: Member, error: ProtocolError | Rejected, metrics: Metrics) -> None:
    if isinstance(error, Rejected):
        # The client's document now holds a change the room refused: it must start over
        # with a fresh one, so the socket closes after telling it why.
        member.log.warning("update rejected (%s): %s", error.rule, error)
        metrics.errors.labels(f"rejected_{error.rule}").inc()
        member.close_soon(
            error.close_code, error.reason, last_words=rejected_message(error.rule, str(error))
        )
        return
    member.log.warning("rejected: %s", error)
    metrics.errors.labels("bad_message").inc()
    member.close_soon(CLOSE_BAD_MESSAGE, error.reason)
