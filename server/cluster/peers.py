"""The owner's side of connections other processes hold.

A `RemotePeer` is a room member like a local `Connection`: the room, its protocol and every
hook treat both alike. What it sends goes into the `Outbox`, which turns it into stream
entries: a relay of a shared board becomes ONE entry on the room's outbound stream for every
gateway; everything else (a sync answer, a participant's own votes, a private board, a
close) becomes an entry on the stream of the one gateway holding the connection, and
consecutive frames for several connections of that gateway share an entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from server.cluster.envelope import (
    CloseConnection,
    Delivered,
    Fields,
    PeerKey,
    Relayed,
    encode_outbound,
    gateway_stream,
    outbound_stream,
)
from server.cluster.streams import QueuedEntry, StreamWriter, min_id_for_age
from server.crdt.awareness import Identity
from server.ids import room_of_board
from server.rooms.room import Member, Room


class RemotePeer:
    """A connection that a gateway (maybe this very process) holds, seen by the owner."""

    def __init__(
        self,
        key: PeerKey,
        board: str,
        identity: Identity,
        outbox: Outbox,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.key = key
        self.board = board
        self.identity = identity
        self.log = log
        self._outbox = outbox
        self.closing = False

    @property
    def remote(self) -> bool:
        return True

    def send(self, data: bytes) -> None:
        if not self.closing:
            self._outbox.deliver(self, data)

    def close_soon(self, code: int, reason: str, *, last_words: bytes | None = None) -> None:
        if self.closing:
            return
        self.closing = True
        self._outbox.close(self, code, reason, last_words)

    def __repr__(self) -> str:
        return f"RemotePeer({self.key.gateway} #{self.key.conn} on {self.board})"


@dataclass(slots=True)
class _OpenDelivery:
    """The last Delivered entry queued, which later connections may still join."""

    entry: QueuedEntry
    board: str
    data: bytes
    conns: list[int]


class Outbox:
    """Stream entries from the rooms this process owns, in the order the rooms made them."""

    def __init__(
        self, writer: StreamWriter, epoch_of: Callable[[str], int | None], node: str
    ) -> None:
        self._writer = writer
        self._node = node
        self._epoch_of = epoch_of
        self._open: _OpenDelivery | None = None

    def _epoch(self, board: str) -> int:
        return self._epoch_of(room_of_board(board)) or 0

    # -- RemoteFanout ---------------------------------------------------------------------

    def relay(self, room: Room, frame: bytes, skip: Member | None) -> int:
        """One relay frame for every remote member of `room` but `skip`."""
        members = [c for c in room.connections if c.remote and c is not skip]
        if not members:
            return 0
        if room.private_owner is not None:
            # A private board's content never enters a room-wide stream.
            for member in members:
                member.send(frame)
            return len(members)
        skip_key = skip.key if isinstance(skip, RemotePeer) else None
        self._writer.add(
            outbound_stream(room.id),
            encode_outbound(Relayed(room.id, self._node, self._epoch(room.id), skip_key, frame)),
            min_id=min_id_for_age(int(time.time() * 1000)),
        )
        return len(members)

    # -- to one gateway -------------------------------------------------------------------

    def deliver(self, peer: RemotePeer, data: bytes) -> None:
        """A frame for one connection; the same bytes for the next connections of the same
        gateway and board share its entry while nothing else was queued after it."""
        stream = gateway_stream(peer.key.gateway)
        current = self._open
        if (
            current is not None
            and current.entry.stream == stream
            and current.board == peer.board
            and current.data is data
            and self._writer.is_last_queued(current.entry)
        ):
            current.conns.append(peer.key.conn)
            current.entry.fields = self._delivered(current.board, current.conns, data)
            return
        conns = [peer.key.conn]
        entry = self._writer.add(
            stream, self._delivered(peer.board, conns, data), existing_only=True
        )
        self._open = _OpenDelivery(entry, peer.board, data, conns)

    def _delivered(self, board: str, conns: list[int], data: bytes) -> Fields:
        return encode_outbound(Delivered(board, self._node, self._epoch(board), tuple(conns), data))

    def close(self, peer: RemotePeer, code: int, reason: str, last_words: bytes | None) -> None:
        entry = CloseConnection(
            peer.board,
            self._node,
            self._epoch(peer.board),
            peer.key.conn,
            code,
            reason,
            last_words,
        )
        self._writer.add(
            gateway_stream(peer.key.gateway), encode_outbound(entry), existing_only=True
        )
