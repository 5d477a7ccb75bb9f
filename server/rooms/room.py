"""One workshop board in memory, shared by every connection to it.

The path of one document update, in order:

1. `receive()` gets a decoded message from a connection (the WebSocket shell decoded it);
2. `_check()` reads the update's structs, finds where they land on the board (the room's
   `LocationIndex`) and checks them against the room's rules (`server/crdt/rules.py`):
   a malformed update raises `ProtocolError`, a forbidden one `Rejected`, both before
   anything changed, so only the sender is affected;
3. `_apply_update()` applies it to the room's `Doc` and the index learns its structs;
4. the document observer `_on_doc_change()` gets exactly what was new, hands it to the
   group-commit writer (persistence) and to the pending relay batch;
5. `_relay()` runs on the next tick: it merges the batch into one update message and one
   awareness message, encoded once, and holds them until the writer has committed the
   batch (durable before visible: a server killed at any moment never forgot anything a
   client has seen); then `_fan_out()` queues the same bytes on every connection (but the
   one that sent the whole batch, if a single connection did).

Replies to a sync step 1 wait for their content's commit the same way. Nothing here
awaits a socket or the database: connections only queue (see `connection.py`) and commits
call back, so one slow client cannot stall the room, and an exception for one connection
never stops the relay.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pycrdt import Awareness, Doc, Map, Subscription, TransactionEvent, merge_updates

from server.crdt.awareness import (
    MAX_CLIENT_IDS_PER_CONNECTION,
    AnonymousPresence,
    AwarenessEntry,
    Identity,
    bind_identity,
    encode_awareness_update,
    scan_awareness_update,
)
from server.crdt.board import CARDS
from server.crdt.errors import ProtocolError
from server.crdt.locations import LocationIndex, Placed
from server.crdt.messages import (
    EMPTY_UPDATE,
    AwarenessMessage,
    Message,
    QueryAwareness,
    SyncStep1,
    SyncStep2,
    SyncUpdate,
    encode_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
)
from server.crdt.pseudonyms import Pseudonyms, RoomPseudonyms
from server.crdt.rules import FACILITATOR, Rules, check_update
from server.crdt.settings import RoomSettings, read_settings
from server.crdt.yupdate import DecodedUpdate, decode_update, refuse_unsupported_content
from server.rooms.connection import Connection

log = logging.getLogger("koprade.room")

# The room's own document and the server's own changes are trusted: no size cap.
_NO_LIMIT = 2**62


class Commits(Protocol):
    """What a room needs of the group-commit writer (`server.storage.writer`)."""

    def enqueue(self, room_id: str, update: bytes) -> int: ...

    @property
    def committed_seq(self) -> int: ...

    def when_committed(self, seq: int, callback: Callable[[], None]) -> None: ...


@dataclass(slots=True)
class _Deferred:
    """Frames that go out once the writer has committed every update up to `seq`."""

    seq: int
    send: Callable[[], None]
    tick: bool  # a relay tick (else a reply to one connection)


class Room:
    def __init__(
        self,
        room_id: str,
        doc: Doc,
        *,
        commits: Commits,
        fanout_interval: float,
        private_owner: str | None = None,
        on_relay: Callable[[float, int], None] | None = None,
        pseudonyms: RoomPseudonyms | None = None,
    ) -> None:
        self.id = room_id
        self.doc = doc
        # Stand-ins for participants in anonymous rooms; without the server's secret (unit
        # tests), random per room.
        self.pseudonyms = pseudonyms or Pseudonyms(secrets.token_bytes(32)).for_room(room_id)
        # Which mode the held awareness states are bound in (None until awareness exists).
        self._presence_anonymous: bool | None = None
        # A participant's private board (silent brainstorming) has no settings of its own:
        # its owner may always write cards there.
        self.private_owner = private_owner
        self.settings = RoomSettings()
        self.rules = Rules()
        self.anonymous = False
        if private_owner is None:
            self.refresh_settings()
        self._cards = doc.get(CARDS, type=Map)
        # Where every struct of the document lives, for the rules (see locations.py).
        self.index = LocationIndex()
        self._index_own_change(doc.get_update())
        # Presence numbers of anonymous rooms ("Participant 3"): non-facilitators in join
        # order (`number_people` at load, `number_of` for anyone later).
        self._numbers: dict[str, int] = {}
        self.connections: set[Connection] = set()
        self._commits = commits
        # The sequence number of this room's last update handed to the writer.
        self._enqueued_seq = 0
        # Frames waiting for a commit, in the order they must go out; at most one relay
        # tick among them (the next batch grows meanwhile).
        self._deferred: deque[_Deferred] = deque()
        self._tick_deferred = False
        self._awaiting_commit = False
        self._fanout_interval = fanout_interval
        self._pending_updates: list[bytes] = []
        self._pending_awareness: dict[int, AwarenessEntry] = {}
        # Who caused the pending changes (None: the server itself). A batch with a single
        # sender is not sent back to it; a mixed batch goes to everyone, which Yjs
        # tolerates as duplicates.
        self._update_origins: set[Connection | None] = set()
        self._awareness_origins: set[Connection | None] = set()
        self._applying: tuple[Connection, bytes] | None = None
        self._relay_handle: asyncio.Handle | None = None
        self._last_relay = 0.0
        # When the oldest change of the pending batch arrived, and who hears of each relay
        # (delay since then, frames queued): the metrics.
        self._batch_since = 0.0
        self._on_relay = on_relay
        self._loop = asyncio.get_running_loop()
        self.awareness = Awareness(doc)
        # Which connection published each awareness client id (see _apply_awareness).
        self._owners: dict[int, Connection] = {}
        # Per published (real) client id: the key its state is held and relayed under (the
        # client id itself, or its alias in an anonymous room) and the state as published,
        # before binding, so every held state can be re-bound at once when anonymity changes.
        self._held: dict[int, int] = {}
        self._published: dict[int, dict[str, Any]] = {}
        # Every alias issued: stock clients echo them back, and an echo is never adopted.
        self._aliases: set[int] = set()
        # The server is no participant: it must not appear in anyone's presence list.
        self.awareness.set_local_state(None)
        self._awareness_subscription = self.awareness.observe(self._on_awareness_change)
        self._presence_anonymous = self.anonymous
        # Attached right after loading, with no await in between, so no write can slip
        # between the stored state and the observer (the y-crdt #632 trap).
        self._doc_subscription: Subscription | None = doc.observe(self._on_doc_change)
        self.relays = 0  # relay ticks so far; tests and diagnostics read it
        self.closed = False

    # -- joining and leaving ---------------------------------------------------------------

    def join(self, connection: Connection) -> None:
        """Start the sync handshake and show the newcomer who is already here."""
        identity = connection.identity
        connection.identity = replace(identity, pseudonym=self.author_pseudonym(identity))
        self.connections.add(connection)
        connection.send(encode_sync_step1(self.doc.get_state()))
        present = list(self.awareness.states)
        if present:
            connection.send(encode_awareness(self.awareness.encode_awareness_update(present)))

    def leave(self, connection: Connection) -> None:
        """Forget the connection and broadcast the removal of its awareness states."""
        self.connections.discard(connection)
        held: list[int] = []
        for client_id in connection.client_ids:
            if self._owners.get(client_id) is connection:
                del self._owners[client_id]
                self._published.pop(client_id, None)
                held.append(self._held.pop(client_id, client_id))
        connection.client_ids.clear()
        # Removed under the key the others know it by (the alias in an anonymous room).
        owned = [key for key in held if key in self.awareness.states]
        if owned:
            self.awareness.remove_awareness_states(owned, origin=connection)

    # -- receiving -------------------------------------------------------------------------

    def receive(self, connection: Connection, message: Message) -> None:
        """Handle one decoded message.

        Raises ProtocolError if it cannot be accepted, Rejected if the room's rules forbid it.
        """
        if isinstance(message, SyncUpdate | SyncStep2):
            if message.update == EMPTY_UPDATE:
                return
            decoded, placed = self._check(connection, message.update)
            self._applying = (connection, message.update)
            try:
                self._apply_update(message.update)
            finally:
                self._applying = None
            self.index.add(placed, decoded)
        elif isinstance(message, AwarenessMessage):
            self._apply_awareness(connection, message.update)
        elif isinstance(message, SyncStep1):
            self._reply_step2(connection, self._update_since(message.state_vector))
        elif isinstance(message, QueryAwareness):
            present = list(self.awareness.states)
            connection.send(encode_awareness(self.awareness.encode_awareness_update(present)))

    def _reply_step2(self, connection: Connection, update: bytes) -> None:
        """Answer a sync step 1 once everything the answer holds is committed.

        The answer is the document as it is now; it waits behind whatever the room holds
        back, so a joiner never receives content a crash could still take away.
        """
        frame = encode_sync_step2(update)
        if not self._deferred and self._enqueued_seq <= self._commits.committed_seq:
            connection.send(frame)
            return
        self._defer(_Deferred(self._enqueued_seq, lambda: connection.send(frame), tick=False))

    def _update_since(self, state_vector: bytes) -> bytes:
        try:
            return self.doc.get_update(state_vector)
        except ValueError as exc:
            raise ProtocolError("undecodable state vector") from exc

    def _check(self, connection: Connection, update: bytes) -> tuple[DecodedUpdate, list[Placed]]:
        """Where the update's structs land; raises if the sender may not make the change."""
        decoded = decode_update(update)
        refuse_unsupported_content(decoded)
        placed = self.index.place(decoded)
        check_update(
            placed,
            self.index.deleted_locations(decoded, placed),
            sender=connection.identity,
            rules=self.rules,
            card_author=self.card_author,
        )
        return decoded, placed

    def card_author(self, card_id: str) -> str | None:
        """The author of a card on this board, "" if it names none, None if no such card."""
        card = self._cards.get(card_id)
        if card is None:
            return None
        author = card.get("author") if isinstance(card, Map) else None
        return author if isinstance(author, str) else ""

    def refresh_settings(self) -> None:
        """Re-read `meta` after the server changed it (nobody else can)."""
        self.settings = read_settings(self.doc)
        self.rules = self.settings.rules()
        self.anonymous = self.settings.anonymous
        if self._presence_anonymous is not None and self._presence_anonymous != self.anonymous:
            self._rebind_presence()

    # -- anonymity: who is shown as whom -----------------------------------------------------

    def author_pseudonym(self, identity: Identity) -> str:
        """What this participant's cards name as author in an anonymous room."""
        return self.pseudonyms.author(identity.participant)

    def author_id(self, identity: Identity) -> str:
        """The `author` a new card of this participant carries now."""
        return self.author_pseudonym(identity) if self.anonymous else identity.participant

    def number_people(self, participants: Iterable[str]) -> None:
        """Give presence numbers in this (join) order to those who have none yet."""
        for participant in participants:
            self.number_of(participant)

    def number_of(self, participant: str) -> int:
        number = self._numbers.get(participant)
        if number is None:
            number = self._numbers[participant] = len(self._numbers) + 1
        return number

    def shown_as(self, identity: Identity) -> AnonymousPresence | None:
        """How this person appears in presence now: None means by name (facilitators, or
        a room that is not anonymous)."""
        if not self.anonymous or identity.role == FACILITATOR:
            return None
        return AnonymousPresence(
            self.pseudonyms.presence(identity.participant), self.number_of(identity.participant)
        )

    def _presence_key(self, client_id: int) -> int:
        """The client id a published state is held and relayed under."""
        if not self.anonymous:
            return client_id
        alias = self.pseudonyms.client_id(client_id)
        self._aliases.add(alias)
        return alias

    def _next_clock(self, key: int, published: int, *, removal: bool = False) -> int:
        """The client's own clock, unless clients would not take it as news for `key`
        (held at a higher clock since a re-binding): then one past what they hold."""
        meta = self.awareness.meta.get(key)
        if meta is None or published > meta["clock"] or (removal and published == meta["clock"]):
            return published
        return meta["clock"] + 1

    def _rebind_presence(self) -> None:
        """Re-issue every held state in the room's current mode, in one awareness update.

        The old keys are removed and the new ones added at once, so neither the clients
        present nor newcomers receive the states of the other mode again.
        """
        self._presence_anonymous = self.anonymous
        entries: list[AwarenessEntry] = []
        for client_id, owner in list(self._owners.items()):
            state = self._published.get(client_id)
            old = self._held.get(client_id)
            if state is None or old is None:
                continue
            new = self._presence_key(client_id)
            clock = self.awareness.meta.get(old, {}).get("clock", 0)
            if new != old and old in self.awareness.states:
                entries.append(AwarenessEntry(old, clock, None))
            bound = bind_identity(state, owner.identity, self.shown_as(owner.identity))
            entries.append(AwarenessEntry(new, self._next_clock(new, clock), bound))
            self._held[client_id] = new
        if entries:
            self.awareness.apply_awareness_update(encode_awareness_update(entries), origin=None)

    def send_to(self, participant: str, frame: bytes) -> None:
        """Queue a frame for every connection of one participant."""
        for connection in list(self.connections):
            if connection.identity.participant == participant:
                connection.send(frame)

    def connections_of(self, participant: str) -> list[Connection]:
        return [c for c in self.connections if c.identity.participant == participant]

    def _apply_update(self, update: bytes) -> None:
        try:
            # yrs decodes the whole update before integrating it: a malformed one leaves
            # the document untouched.
            self.doc.apply_update(update)
        except ValueError as exc:
            raise ProtocolError(f"undecodable update ({exc})") from exc

    def _apply_awareness(self, connection: Connection, update: bytes) -> None:
        """Accept the sender's own entries; drop echoes and anything about others.

        Stock y-websocket clients send back every awareness change they receive, so most
        entries are echoes of other people's states: they are recognised by client id and
        clock and skipped without parsing their JSON.
        """
        known = self.awareness.meta
        accepted: list[AwarenessEntry] = []
        for raw in scan_awareness_update(update):
            if raw.client_id in self._aliases:
                continue  # an alias the server relayed, echoed back: never anyone's own
            owner = self._owners.get(raw.client_id)
            if owner is None:
                meta = known.get(raw.client_id)
                if meta is not None and raw.clock <= meta["clock"]:
                    continue  # an echo of a state we already had (or its removal)
            elif owner is not connection:
                if owner.identity.participant != connection.identity.participant:
                    continue  # someone else's client id: nobody may edit or remove it
                # The same person on a new socket while the old one is not yet known to be
                # dead (a silent network drop): the new connection takes the id over.
                owner.client_ids.discard(raw.client_id)
                owner = None
            entry = raw.parse()
            state = entry.state
            key = self._presence_key(entry.client_id)
            if state is not None:
                identity = connection.identity
                self._published[entry.client_id] = state
                state = bind_identity(state, identity, self.shown_as(identity))
                if owner is None:
                    if len(connection.client_ids) >= MAX_CLIENT_IDS_PER_CONNECTION:
                        raise ProtocolError(
                            f"more than {MAX_CLIENT_IDS_PER_CONNECTION} awareness client ids "
                            "on one connection"
                        )
                    self._owners[entry.client_id] = connection
                    connection.client_ids.add(entry.client_id)
            elif owner is None:
                if raw.client_id not in known:
                    continue  # nothing to remove, and remembering the id would cost memory
                # A removal of an id nobody here owns: relayed as it came, nothing to hold.
                accepted.append(AwarenessEntry(key, entry.clock, None))
                continue
            else:
                self._published.pop(entry.client_id, None)
            self._held[entry.client_id] = key
            clock = self._next_clock(key, entry.clock, removal=state is None)
            accepted.append(AwarenessEntry(key, clock, state))
        if accepted:
            self.awareness.apply_awareness_update(
                encode_awareness_update(accepted), origin=connection
            )

    # -- observers: what changed goes to storage and to the next relay -----------------------

    def _on_doc_change(self, event: TransactionEvent) -> None:
        update = event.update
        if update == EMPTY_UPDATE:
            return
        if self._applying is None:
            self._index_own_change(update)
        self._enqueued_seq = self._commits.enqueue(self.id, update)
        self._note_batch_start()
        self._pending_updates.append(update)
        self._update_origins.add(self._sender_of(update))
        self._schedule_relay()

    def _index_own_change(self, update: bytes) -> None:
        """The server's own writes (and the loaded state) never pass `_check`: index them."""
        try:
            decoded = decode_update(update, max_structs=_NO_LIMIT)
            self.index.add(self.index.place(decoded), decoded)
        except ProtocolError:
            log.exception("could not index a server change", extra={"room": self.id})

    def _sender_of(self, change: bytes) -> Connection | None:
        """The connection whose update produced exactly this change, else None.

        If the change is more than what the connection sent (its update completed
        structs that were waiting for it, possibly someone else's), the sender lacks part
        of it, so it must not be skipped when relaying.
        """
        if self._applying is not None and self._applying[1] == change:
            return self._applying[0]
        return None

    def _on_awareness_change(self, topic: str, change: tuple[dict[str, Any], Any]) -> None:
        if topic != "update":
            return
        changes, origin = change
        self._note_batch_start()
        self._awareness_origins.add(origin if isinstance(origin, Connection) else None)
        states = self.awareness.states
        meta = self.awareness.meta
        for client_id in (*changes["added"], *changes["updated"], *changes["removed"]):
            clock = meta.get(client_id, {}).get("clock", 0)
            self._pending_awareness[client_id] = AwarenessEntry(
                client_id, clock, states.get(client_id)
            )
        self._schedule_relay()

    # -- relay -----------------------------------------------------------------------------

    def _note_batch_start(self) -> None:
        """When the oldest change of the pending batch arrived (the fan-out delay metric)."""
        if not self._pending_updates and not self._pending_awareness:
            self._batch_since = time.monotonic()

    def _schedule_relay(self) -> None:
        """Relay at once when idle; under load at most once per fan-out interval.

        Everything that arrives before the relay runs joins its batch, so the number of
        sends per client follows the tick rate, not the number of incoming messages.
        While a tick waits for its commit, the next batch keeps growing: `_release`
        schedules it once that tick went out.
        """
        if self._relay_handle is not None or self.closed or self._tick_deferred:
            return
        now = time.monotonic()
        wait = self._last_relay + self._fanout_interval - now
        if wait <= 0:
            self._relay_handle = self._loop.call_soon(self._relay)
        else:
            self._relay_handle = self._loop.call_later(wait, self._relay)

    def _relay(self) -> None:
        """One tick: encode the batch, then send it once its updates are committed."""
        self._relay_handle = None
        if self._tick_deferred:
            return  # the tick before is waiting for its commit; this batch goes next
        self._last_relay = time.monotonic()
        since = self._batch_since
        update_frame = awareness_frame = None
        update_skip = awareness_skip = None
        try:
            if self._pending_updates:
                updates, self._pending_updates = self._pending_updates, []
                merged = updates[0] if len(updates) == 1 else merge_updates(*updates)
                update_frame = encode_update(merged)
                update_skip = self._single_origin(self._update_origins)
            if self._pending_awareness:
                entries = list(self._pending_awareness.values())
                self._pending_awareness = {}
                awareness_frame = encode_awareness(encode_awareness_update(entries))
                awareness_skip = self._single_origin(self._awareness_origins)
        except Exception:
            log.exception("relay batch could not be encoded", extra={"room": self.id})
            return
        finally:
            self._update_origins.clear()
            self._awareness_origins.clear()
        # Durable before visible: the updates wait for their commit. Awareness needs none,
        # but travels in the same tick, behind the update it may refer to. An update
        # nobody else would receive (a lone editor) needs no wait either.
        audience = any(c is not update_skip for c in self.connections)
        seq = self._enqueued_seq if update_frame is not None and audience else 0

        def fan_out() -> None:
            self._fan_out(((update_frame, update_skip), (awareness_frame, awareness_skip)), since)

        self._defer(_Deferred(seq, fan_out, tick=True))

    def _fan_out(
        self, frames: tuple[tuple[bytes | None, Connection | None], ...], since: float
    ) -> None:
        self.relays += 1
        connections = list(self.connections)
        sent = 0
        # Frame by frame, so each connection still gets the update before the awareness,
        # and the protocol frames each payload once for all of them (server/serve.py).
        for frame, skip in frames:
            if frame is None:
                continue
            for connection in connections:
                if connection is skip:
                    continue
                try:
                    connection.send(frame)
                    sent += 1
                except Exception:  # one connection's failure must never stop the relay
                    connection.log.exception("relay to connection failed")
        if self._on_relay is not None:
            self._on_relay(time.monotonic() - since, sent)

    # -- durable before visible: frames wait for their commit ------------------------------

    def _defer(self, item: _Deferred) -> None:
        self._deferred.append(item)
        if item.tick:
            self._tick_deferred = True
        self._release()

    def _release(self) -> None:
        """Send, in order, every deferred frame whose updates are committed; ask for the rest."""
        committed = self._commits.committed_seq
        while self._deferred and self._deferred[0].seq <= committed:
            item = self._deferred.popleft()
            if item.tick:
                self._tick_deferred = False
            try:
                item.send()
            except Exception:
                log.exception("sending committed frames failed", extra={"room": self.id})
        if self._deferred and not self._awaiting_commit:
            self._awaiting_commit = True
            self._commits.when_committed(self._deferred[0].seq, self._on_committed)
        if not self._tick_deferred and (self._pending_updates or self._pending_awareness):
            self._schedule_relay()

    def _on_committed(self) -> None:
        self._awaiting_commit = False
        if not self.closed:
            self._release()

    @staticmethod
    def _single_origin(origins: set[Connection | None]) -> Connection | None:
        """The one connection that caused a whole batch, if it was only one."""
        if len(origins) == 1:
            (origin,) = origins
            return origin
        return None

    # -- snapshot and shutdown -------------------------------------------------------------

    def snapshot(self) -> bytes:
        return self.doc.get_update()

    def close(self) -> None:
        """Detach observers; call only when the room has no connections left."""
        self.closed = True
        self._deferred.clear()
        self._tick_deferred = False
        if self._relay_handle is not None:
            self._relay_handle.cancel()
            self._relay_handle = None
        if self._doc_subscription is not None:
            self.doc.unobserve(self._doc_subscription)
            self._doc_subscription = None
        self.awareness.unobserve(self._awareness_subscription)
