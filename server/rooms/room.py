"""One workshop board in memory: the asyncio shell around its `RoomProtocol`.

The protocol (`protocol.py`) decides everything; this shell does only what needs I/O:

- it feeds the protocol (a connection's decoded message, a join, a leave, a server change,
  the relay tick from its timer, a commit reported by the writer);
- after each input it *drains* the protocol: stored updates go to the group-commit writer,
  ready frames to the connections' outboxes (`connection.py`, which never blocks), and the
  tick timer is set for when the protocol wants its next tick.

Nothing here awaits a socket or the database, so one slow client cannot stall the room,
and an exception for one connection never stops the fan-out.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from pycrdt import Awareness

from server.crdt.awareness import AnonymousPresence, Identity
from server.crdt.board import BoardDoc
from server.crdt.locations import LocationIndex
from server.crdt.messages import EMPTY_UPDATE, Message
from server.crdt.pseudonyms import Pseudonyms, RoomPseudonyms
from server.crdt.rules import Rules
from server.crdt.settings import RoomSettings
from server.rooms.hooks import RoomHooks
from server.rooms.protocol import UPDATE_MESSAGES, Outgoing, Refusal, RoomProtocol, ToPeer

log = logging.getLogger("koprade.room")


class Member(Protocol):
    """A connection in the room: a local WebSocket (`connection.Connection`) or, in cluster
    mode, one that another process's gateway holds (`server.cluster.peers.RemotePeer`)."""

    identity: Identity
    log: logging.LoggerAdapter[logging.Logger]

    #: True for a connection another process holds: the room's relay reaches those through
    #: `RemoteFanout`, once for all of them, instead of one send each.
    @property
    def remote(self) -> bool: ...

    def __hash__(self) -> int: ...

    def send(self, data: bytes) -> None: ...

    def close_soon(self, code: int, reason: str, *, last_words: bytes | None = None) -> None: ...


class RemoteFanout(Protocol):
    """Cluster mode: how a relay frame reaches the members other processes hold."""

    def relay(self, room: Room, frame: bytes, skip: Member | None) -> int:
        """Send `frame` to every remote member of `room` but `skip`; returns how many."""
        ...


class Commits(Protocol):
    """What a room needs of the group-commit writer (`server.storage.writer`)."""

    def enqueue(self, room_id: str, update: bytes) -> int: ...

    @property
    def committed_seq(self) -> int: ...

    def when_committed(self, seq: int, callback: Callable[[], None]) -> None: ...


class Room:
    def __init__(
        self,
        room_id: str,
        doc: BoardDoc,
        *,
        commits: Commits,
        fanout_interval: float,
        private_owner: str | None = None,
        hooks: RoomHooks | None = None,
        pseudonyms: RoomPseudonyms | None = None,
        remote: RemoteFanout | None = None,
    ) -> None:
        self.id = room_id
        # Stand-ins for participants in anonymous rooms; without the server's secret (unit
        # tests), random per room.
        pseudonyms = pseudonyms or Pseudonyms(secrets.token_bytes(32)).for_room(room_id)
        # Attached to the document right here, with no await since it was loaded.
        self.protocol: RoomProtocol[Member] = RoomProtocol(
            room_id,
            doc,
            pseudonyms=pseudonyms,
            fanout_interval=fanout_interval,
            private_owner=private_owner,
        )
        self.connections: set[Member] = set()
        self._remote = remote
        self.remote_members = 0  # how many of `connections` are remote
        self._commits = commits
        self._hooks = hooks or RoomHooks()
        # (stored count, writer seq) of the last update of each drain not yet committed:
        # how the protocol's own count maps to the writer's sequence numbers.
        self._uncommitted: deque[tuple[int, int]] = deque()
        self._awaiting_commit = False
        self._tick_handle: asyncio.Handle | None = None
        # When the oldest change of the pending batch arrived, and of the batch the last
        # tick took (the fan-out delay metric).
        self._batch_since = 0.0
        self._tick_since = 0.0
        self._loop = asyncio.get_running_loop()
        self._server_changes = 0  # nesting depth of `change()`
        self.closed = False

    # -- what the room knows (the protocol's) ---------------------------------------------

    @property
    def doc(self) -> BoardDoc:
        return self.protocol.doc

    @property
    def settings(self) -> RoomSettings:
        return self.protocol.settings

    @property
    def rules(self) -> Rules:
        return self.protocol.rules

    @property
    def anonymous(self) -> bool:
        return self.protocol.anonymous

    @property
    def private_owner(self) -> str | None:
        return self.protocol.private_owner

    @property
    def pseudonyms(self) -> RoomPseudonyms:
        return self.protocol.pseudonyms

    @property
    def awareness(self) -> Awareness:
        return self.protocol.awareness

    @property
    def index(self) -> LocationIndex:
        return self.protocol.index

    @property
    def relays(self) -> int:
        return self.protocol.relays

    def card_author(self, card_id: str) -> str | None:
        return self.protocol.card_author(card_id)

    def author_pseudonym(self, identity: Identity) -> str:
        return self.protocol.author_pseudonym(identity)

    def author_id(self, identity: Identity) -> str:
        return self.protocol.author_id(identity)

    def number_people(self, participants: Iterable[str]) -> None:
        self.protocol.number_people(participants)

    def shown_as(self, identity: Identity) -> AnonymousPresence | None:
        return self.protocol.shown_as(identity)

    def snapshot(self) -> bytes:
        return self.protocol.snapshot()

    # -- input ----------------------------------------------------------------------------

    def join(self, connection: Member) -> None:
        """Start the sync handshake and show the newcomer who is already here."""
        connection.identity = self.protocol.open(connection, connection.identity)
        if connection not in self.connections and connection.remote:
            self.remote_members += 1
        self.connections.add(connection)
        self._drain()

    def leave(self, connection: Member) -> None:
        """Forget the connection; the others see its presence go on the next tick."""
        if connection in self.connections:
            self.connections.discard(connection)
            if connection.remote:
                self.remote_members -= 1
        self.protocol.close(connection)
        self._drain()

    def receive(self, connection: Member, message: Message) -> Refusal[Member] | None:
        """Hand one decoded message to the room; a refusal changed nothing."""
        refusal = self.protocol.receive(connection, message)
        if (
            refusal is None
            and isinstance(message, UPDATE_MESSAGES)
            and message.update != EMPTY_UPDATE
        ):
            self._hooks.changed(self, connection.identity)
        self._drain()
        return refusal

    @contextmanager
    def change(self) -> Iterator[BoardDoc]:
        """The server's own change to the board, in one transaction; settings re-read after.

        Nested changes share the outermost one, which is relayed and stored as one update.
        """
        self._server_changes += 1
        try:
            with self.protocol.server_change() as doc:
                yield doc
        finally:
            self._server_changes -= 1
        if not self._server_changes:
            self._drain()

    def refresh_settings(self) -> None:
        """Re-read `meta` (e.g. after a restore wrote it)."""
        self.protocol.refresh_settings()
        self._drain()

    def send_to(self, participant: str, frame: bytes) -> None:
        """Queue a frame for every connection of one participant."""
        for connection in self.connections_of(participant):
            self.protocol.send(connection, frame)
        self._drain()

    def connections_of(self, participant: str) -> list[Member]:
        return [c for c in self.connections if c.identity.participant == participant]

    # -- output ---------------------------------------------------------------------------

    def _drain(self) -> None:
        """Hand the protocol's output to the writer and the connections; set the timer."""
        protocol = self.protocol
        if self.closed:
            return
        stored = protocol.take_stored()
        if stored:
            enqueue = self._commits.enqueue
            seq = 0
            for update in stored:
                seq = enqueue(self.id, update)
            self._uncommitted.append((protocol.stored_count, seq))
            self._learn_commits()
        frames = protocol.take_outgoing()
        if frames:
            self._send(frames)
        # Cheap tests first: this runs after every message. A scheduled tick means the
        # pending batch already has its start time and its timer.
        if not self._awaiting_commit and protocol.waiting_for is not None:
            self._await_commit()
        if self._tick_handle is None and protocol.batch_pending:
            if not self._batch_since:
                self._batch_since = time.monotonic()
            self._schedule_tick()

    def _send(self, frames: list[Outgoing[Member]]) -> None:
        relay = relayed = 0
        remote = self._remote if self.remote_members else None
        # Local sockets; in cluster mode the remote members are reached through `remote`,
        # once for all of them.
        connections = (
            [c for c in self.connections if not c.remote]
            if remote is not None
            else list(self.connections)
        )
        # Frame by frame, so each connection still gets the update before the awareness,
        # and the protocol frames each payload once for all of them (server/serve.py).
        # The inner loop runs once per connection and frame (200 connections: 400 times a
        # tick), so it is kept to the skip test and the send: no generator, no attribute
        # read, and the frames sent are counted from the few that were not.
        for item in frames:
            recipients = item.recipients
            frame = item.frame
            skip: Member | None = None
            if isinstance(recipients, ToPeer):
                targets: Iterable[Member] = (recipients.peer,)
                count = 1
            else:
                targets, skip = connections, recipients.skip
                count = len(connections)
                if remote is not None:
                    try:
                        count += remote.relay(self, frame, skip)
                    except Exception:
                        log.exception("relay to other processes failed", extra={"room": self.id})
            for connection in targets:
                if connection is skip:
                    count -= 1
                    continue
                try:
                    connection.send(frame)
                except Exception:  # one connection's failure must never stop the relay
                    connection.log.exception("send to connection failed")
                    count -= 1
            if item.relay:
                relay = item.relay
                relayed += count
        if relay:
            self._hooks.relayed(self, time.monotonic() - self._tick_since, relayed)

    def _schedule_tick(self) -> None:
        """Relay at once when idle; under load at most once per fan-out interval."""
        if self._tick_handle is not None:
            return
        now = time.monotonic()
        due = self.protocol.next_tick(now)
        if due is None:
            return
        if due <= now:
            self._tick_handle = self._loop.call_soon(self._tick)
        else:
            self._tick_handle = self._loop.call_later(due - now, self._tick)

    def _tick(self) -> None:
        self._tick_handle = None
        if self.closed:
            return
        since = self._batch_since
        if self.protocol.tick(time.monotonic()):
            # The batch is on its way (maybe held for its commit); a new one starts.
            self._tick_since, self._batch_since = since, 0.0
        self._drain()

    # -- durable before visible: frames wait for their commit -----------------------------

    def _learn_commits(self) -> None:
        """Tell the protocol how many of its updates the writer has committed."""
        committed_seq = self._commits.committed_seq
        count = 0
        while self._uncommitted and self._uncommitted[0][1] <= committed_seq:
            count = self._uncommitted.popleft()[0]
        if count:
            self.protocol.committed(count)

    def _await_commit(self) -> None:
        if self._awaiting_commit:
            return
        waiting_for = self.protocol.waiting_for
        if waiting_for is None:
            return
        seq = next((seq for count, seq in self._uncommitted if count >= waiting_for), None)
        if seq is None:
            # Nothing handed to the writer is uncommitted: everything held may go.
            self.protocol.committed(self.protocol.stored_count)
            self._drain()
            return
        self._awaiting_commit = True
        self._commits.when_committed(seq, self._on_committed)

    def _on_committed(self) -> None:
        self._awaiting_commit = False
        if self.closed:
            return
        self._learn_commits()
        self._drain()

    # -- shutdown -------------------------------------------------------------------------

    def close(self) -> None:
        """Detach observers; call only when the room has no connections left."""
        self.closed = True
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        self.protocol.detach()
