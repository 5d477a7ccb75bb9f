"""One board's room as a Sans-I/O state machine: messages in, frames and stored updates out.

`RoomProtocol` is what the room *knows* and *decides*; it owns no socket, task, timer or
clock, so a test (or a stream from another process) can drive it directly:

- input: `open(peer, identity)`, `receive(peer, message)`, `close(peer)`, server changes
  (`server_change()`), `tick(now)` when `next_tick(now)` says so, and `committed(count)` when
  the store has committed the first `count` updates that `take_stored()` handed out;
- output: `take_stored()` (updates for the writer, in order), `take_outgoing()` (frames with
  their recipients: everyone, everyone but one peer, or one peer) and, from `receive`, a
  `Refusal` naming the peer whose message changed nothing and must be disconnected.

A peer is any hashable handle the caller chooses (the asyncio `Room` uses its
`Connection` objects). Durable before visible: a relay tick and a sync answer leave
`take_outgoing()` only once every update they hold is committed, so no client ever sees
what a crash could take away (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from pycrdt import Awareness, Map, Subscription, TransactionEvent, merge_updates

from server.crdt.awareness import (
    MAX_CLIENT_IDS_PER_CONNECTION,
    AnonymousPresence,
    AwarenessEntry,
    Identity,
    bind_identity,
    encode_awareness_update,
    scan_awareness_update,
)
from server.crdt.board import CARDS, BoardDoc
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
from server.crdt.pseudonyms import RoomPseudonyms
from server.crdt.rules import FACILITATOR, Rejected, Rules, check_update
from server.crdt.settings import RoomSettings, read_settings
from server.crdt.yupdate import DecodedUpdate, decode_update, refuse_unsupported_content

log = logging.getLogger("koprade.room")

#: The transaction origin of the server's own changes (commands, restores, settings).
SERVER_ORIGIN = "server"

# The room's own document and the server's own changes are trusted: no size cap.
_NO_LIMIT = 2**62

P = TypeVar("P", bound=Hashable)

# The messages that carry a document update (a tuple: `X | Y` would build a union per call).
UPDATE_MESSAGES = (SyncUpdate, SyncStep2)


# -- output ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToAll(Generic[P]):
    """Every peer open when the frame is delivered, except `skip` (the sender of a batch)."""

    skip: P | None = None


@dataclass(frozen=True, slots=True)
class ToPeer(Generic[P]):
    peer: P


@dataclass(frozen=True, slots=True)
class Outgoing(Generic[P]):
    recipients: ToAll[P] | ToPeer[P]
    frame: bytes
    #: The relay tick this frame belongs to (0: not a relay, e.g. a sync answer).
    relay: int = 0


@dataclass(frozen=True, slots=True)
class Refusal(Generic[P]):
    """A message the room did not accept; nothing of it changed the room."""

    peer: P
    error: ProtocolError | Rejected


# -- state ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Peer:
    identity: Identity
    #: Awareness client ids this peer published; removed when it closes.
    client_ids: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Held(Generic[P]):
    """Frames that may go out once the first `count` stored updates are committed."""

    count: int
    frames: list[Outgoing[P]]
    tick: bool  # a relay tick (else a reply to one peer)


class RoomProtocol(Generic[P]):
    def __init__(
        self,
        room_id: str,
        doc: BoardDoc,
        *,
        pseudonyms: RoomPseudonyms,
        fanout_interval: float,
        private_owner: str | None = None,
    ) -> None:
        self.room_id = room_id
        self.doc = doc
        # Stand-ins for participants in anonymous rooms.
        self.pseudonyms = pseudonyms
        # A participant's private board (silent brainstorming) has no settings of its own:
        # its owner may always write cards there.
        self.private_owner = private_owner
        self.settings = RoomSettings()
        self.rules = Rules()
        self.anonymous = False
        # Which mode the held awareness states are bound in (None until awareness exists).
        self._presence_anonymous: bool | None = None
        if private_owner is None:
            self.refresh_settings()
        self._cards = doc.get(CARDS, type=Map)
        # Where every struct of the document lives, for the rules (see locations.py).
        self.index = LocationIndex()
        self._index_own_change(doc.get_update())
        # Presence numbers of anonymous rooms ("Participant 3"): non-facilitators in join
        # order (`number_people` at load, `number_of` for anyone later).
        self._numbers: dict[str, int] = {}
        self._peers: dict[P, _Peer] = {}
        self._fanout_interval = fanout_interval

        # Storage: updates for the writer, and how many it has (been) handed and committed.
        self._to_store: list[bytes] = []
        self.stored_count = 0
        self._committed_count = 0
        # Output: ready frames, and frames held until their updates are committed, in the
        # order they must go out; at most one relay tick among them (the next batch grows
        # meanwhile).
        self._outgoing: list[Outgoing[P]] = []
        self._held: deque[_Held[P]] = deque()
        self._tick_held = False

        # The relay batch. Who caused the pending changes (None: the server itself): a
        # batch with a single sender is not sent back to it; a mixed batch goes to everyone,
        # which Yjs tolerates as duplicates.
        self._pending_updates: list[bytes] = []
        self._pending_awareness: dict[int, AwarenessEntry] = {}
        self._update_origins: set[P | None] = set()
        self._awareness_origins: set[P | None] = set()
        self._applying: tuple[P, bytes] | None = None
        self._last_tick = float("-inf")
        self.relays = 0  # relay ticks so far; tests and diagnostics read it

        self.awareness = Awareness(doc)
        # Which peer published each awareness client id (see _apply_awareness).
        self._owners: dict[int, P] = {}
        # Per published (real) client id: the key its state is held and relayed under (the
        # client id itself, or its alias in an anonymous room) and the state as published,
        # before binding, so every held state can be re-bound at once when anonymity changes.
        self._held_as: dict[int, int] = {}
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

    # -- peers ----------------------------------------------------------------------------

    @property
    def peers(self) -> list[P]:
        return list(self._peers)

    def identity(self, peer: P) -> Identity:
        return self._peers[peer].identity

    def peers_of(self, participant: str) -> list[P]:
        return [p for p, state in self._peers.items() if state.identity.participant == participant]

    def open(self, peer: P, identity: Identity) -> Identity:
        """A peer joins: start its sync handshake and show it who is already here.

        Returns the identity the room knows it by (with its author pseudonym).
        """
        identity = replace(identity, pseudonym=self.author_pseudonym(identity))
        self._peers[peer] = _Peer(identity)
        to_peer = ToPeer(peer)
        self._outgoing.append(Outgoing(to_peer, encode_sync_step1(self.doc.get_state())))
        present = list(self.awareness.states)
        if present:
            update = self.awareness.encode_awareness_update(present)
            self._outgoing.append(Outgoing(to_peer, encode_awareness(update)))
        return identity

    def close(self, peer: P) -> None:
        """A peer left: forget it and remove its awareness states for everyone."""
        state = self._peers.pop(peer, None)
        if state is None:
            return
        held: list[int] = []
        for client_id in state.client_ids:
            if self._owners.get(client_id) is peer:
                del self._owners[client_id]
                self._published.pop(client_id, None)
                held.append(self._held_as.pop(client_id, client_id))
        # Removed under the key the others know it by (the alias in an anonymous room).
        owned = [key for key in held if key in self.awareness.states]
        if owned:
            self.awareness.remove_awareness_states(owned, origin=peer)

    def send(self, peer: P, frame: bytes) -> None:
        """A frame of the server's own for one peer (a Koprade message), not held back."""
        self._outgoing.append(Outgoing(ToPeer(peer), frame))

    # -- receiving ------------------------------------------------------------------------

    def receive(self, peer: P, message: Message) -> Refusal[P] | None:
        """Handle one decoded message from an open peer.

        A refused message (malformed, or forbidden by the room's rules) changed nothing; the
        caller closes the peer with the refusal's close code.
        """
        try:
            if isinstance(message, UPDATE_MESSAGES):
                if message.update != EMPTY_UPDATE:
                    self._receive_update(peer, message.update)
            elif isinstance(message, AwarenessMessage):
                self._apply_awareness(peer, message.update)
            elif isinstance(message, SyncStep1):
                self._reply_step2(peer, self._update_since(message.state_vector))
            elif isinstance(message, QueryAwareness):
                present = list(self.awareness.states)
                update = self.awareness.encode_awareness_update(present)
                self._outgoing.append(Outgoing(ToPeer(peer), encode_awareness(update)))
        except (ProtocolError, Rejected) as error:
            return Refusal(peer, error)
        return None

    def _receive_update(self, peer: P, update: bytes) -> None:
        decoded, placed = self._check(peer, update)
        self._applying = (peer, update)
        try:
            try:
                # yrs decodes the whole update before integrating it: a malformed one
                # leaves the document untouched.
                self.doc.apply_update(update)
            except ValueError as exc:
                raise ProtocolError(f"undecodable update ({exc})") from exc
        finally:
            self._applying = None
        self.index.add(placed, decoded)

    def _check(self, peer: P, update: bytes) -> tuple[DecodedUpdate, list[Placed]]:
        """Where the update's structs land; raises if the sender may not make the change."""
        decoded = decode_update(update)
        refuse_unsupported_content(decoded)
        placed = self.index.place(decoded)
        check_update(
            placed,
            self.index.deleted_locations(decoded, placed),
            sender=self._peers[peer].identity,
            rules=self.rules,
            card_author=self.card_author,
        )
        return decoded, placed

    def _update_since(self, state_vector: bytes) -> bytes:
        try:
            return self.doc.get_update(state_vector)
        except ValueError as exc:
            raise ProtocolError("undecodable state vector") from exc

    def _reply_step2(self, peer: P, update: bytes) -> None:
        """Answer a sync step 1 once everything the answer holds is committed.

        The answer is the document as it is now; it waits behind whatever the room holds
        back, so a joiner never receives content a crash could still take away.
        """
        reply = Outgoing(ToPeer(peer), encode_sync_step2(update))
        self._hold(_Held(self.stored_count, [reply], tick=False))

    def card_author(self, card_id: str) -> str | None:
        """The author of a card on this board, "" if it names none, None if no such card."""
        card = self._cards.get(card_id)
        if card is None:
            return None
        author = card.get("author") if isinstance(card, Map) else None
        return author if isinstance(author, str) else ""

    # -- the server's own changes ---------------------------------------------------------

    @contextmanager
    def server_change(self) -> Iterator[BoardDoc]:
        """One transaction of the server's own (commands, restores); settings re-read after.

        Nested uses share the outermost transaction, so everything inside goes out in one
        update.
        """
        with self.doc.transaction(origin=SERVER_ORIGIN):
            yield self.doc
        self.refresh_settings()

    def refresh_settings(self) -> None:
        """Re-read `meta` after the server changed it (nobody else can)."""
        self.settings = read_settings(self.doc)
        self.rules = self.settings.rules()
        self.anonymous = self.settings.anonymous
        if self._presence_anonymous is not None and self._presence_anonymous != self.anonymous:
            self._rebind_presence()

    # -- anonymity: who is shown as whom --------------------------------------------------

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
        return int(meta["clock"]) + 1

    def _rebind_presence(self) -> None:
        """Re-issue every held state in the room's current mode, in one awareness update.

        The old keys are removed and the new ones added at once, so neither the peers
        present nor newcomers receive the states of the other mode again.
        """
        self._presence_anonymous = self.anonymous
        entries: list[AwarenessEntry] = []
        for client_id, owner in list(self._owners.items()):
            state = self._published.get(client_id)
            old = self._held_as.get(client_id)
            if state is None or old is None:
                continue
            new = self._presence_key(client_id)
            clock = self.awareness.meta.get(old, {}).get("clock", 0)
            if new != old and old in self.awareness.states:
                entries.append(AwarenessEntry(old, clock, None))
            identity = self._peers[owner].identity
            bound = bind_identity(state, identity, self.shown_as(identity))
            entries.append(AwarenessEntry(new, self._next_clock(new, clock), bound))
            self._held_as[client_id] = new
        if entries:
            self.awareness.apply_awareness_update(encode_awareness_update(entries), origin=None)

    def _apply_awareness(self, peer: P, update: bytes) -> None:
        """Accept the sender's own entries; drop echoes and anything about others.

        Stock y-websocket clients send back every awareness change they receive, so most
        entries are echoes of other people's states: they are recognised by client id and
        clock and skipped without parsing their JSON.
        """
        known = self.awareness.meta
        sender = self._peers[peer]
        accepted: list[AwarenessEntry] = []
        for raw in scan_awareness_update(update):
            if raw.client_id in self._aliases:
                continue  # an alias the server relayed, echoed back: never anyone's own
            owner = self._owners.get(raw.client_id)
            if owner is None:
                meta = known.get(raw.client_id)
                if meta is not None and raw.clock <= meta["clock"]:
                    continue  # an echo of a state we already had (or its removal)
            elif owner != peer:
                previous = self._peers[owner]
                if previous.identity.participant != sender.identity.participant:
                    continue  # someone else's client id: nobody may edit or remove it
                # The same person on a new socket while the old one is not yet known to be
                # dead (a silent network drop): the new connection takes the id over.
                previous.client_ids.discard(raw.client_id)
                owner = None
            entry = raw.parse()
            state = entry.state
            key = self._presence_key(entry.client_id)
            if state is not None:
                self._published[entry.client_id] = state
                state = bind_identity(state, sender.identity, self.shown_as(sender.identity))
                if owner is None:
                    if len(sender.client_ids) >= MAX_CLIENT_IDS_PER_CONNECTION:
                        raise ProtocolError(
                            f"more than {MAX_CLIENT_IDS_PER_CONNECTION} awareness client ids "
                            "on one connection"
                        )
                    self._owners[entry.client_id] = peer
                    sender.client_ids.add(entry.client_id)
            elif owner is None:
                if raw.client_id not in known:
                    continue  # nothing to remove, and remembering the id would cost memory
                # A removal of an id nobody here owns: relayed as it came, nothing to hold.
                accepted.append(AwarenessEntry(key, entry.clock, None))
                continue
            else:
                self._published.pop(entry.client_id, None)
            self._held_as[entry.client_id] = key
            clock = self._next_clock(key, entry.clock, removal=state is None)
            accepted.append(AwarenessEntry(key, clock, state))
        if accepted:
            self.awareness.apply_awareness_update(encode_awareness_update(accepted), origin=peer)

    # -- observers: what changed goes to storage and to the next relay --------------------

    def _on_doc_change(self, event: TransactionEvent) -> None:
        update = event.update
        if update == EMPTY_UPDATE:
            return
        if self._applying is None:
            self._index_own_change(update)
        self._to_store.append(update)
        self.stored_count += 1
        self._pending_updates.append(update)
        self._update_origins.add(self._sender_of(update))

    def _index_own_change(self, update: bytes) -> None:
        """The server's own writes (and the loaded state) never pass `_check`: index them."""
        try:
            decoded = decode_update(update, max_structs=_NO_LIMIT)
            self.index.add(self.index.place(decoded), decoded)
        except ProtocolError:
            log.exception("could not index a server change", extra={"room": self.room_id})

    def _sender_of(self, change: bytes) -> P | None:
        """The peer whose update produced exactly this change, else None.

        If the change is more than what the peer sent (its update completed structs that
        were waiting for it, possibly someone else's), the sender lacks part of it, so it
        must not be skipped when relaying.
        """
        if self._applying is not None and self._applying[1] == change:
            return self._applying[0]
        return None

    def _on_awareness_change(self, topic: str, change: tuple[dict[str, Any], Any]) -> None:
        if topic != "update":
            return
        changes, origin = change
        # The peer whose message (or close) caused it; None for the server's re-binding.
        self._awareness_origins.add(origin)
        states = self.awareness.states
        meta = self.awareness.meta
        for client_id in (*changes["added"], *changes["updated"], *changes["removed"]):
            clock = meta.get(client_id, {}).get("clock", 0)
            self._pending_awareness[client_id] = AwarenessEntry(
                client_id, clock, states.get(client_id)
            )

    # -- storage --------------------------------------------------------------------------

    def take_stored(self) -> list[bytes]:
        """The updates to store since the last call, in order (each counts once in
        `stored_count`, which `committed()` refers to)."""
        updates, self._to_store = self._to_store, []
        return updates

    def committed(self, count: int) -> None:
        """The store has committed the first `count` updates handed out: release what waited."""
        if count > self._committed_count:
            self._committed_count = count
        self._release()

    @property
    def waiting_for(self) -> int | None:
        """The stored count the oldest held frames wait for, None if nothing is held."""
        return self._held[0].count if self._held else None

    # -- the relay tick -------------------------------------------------------------------

    @property
    def batch_pending(self) -> bool:
        return bool(self._pending_updates or self._pending_awareness)

    def next_tick(self, now: float) -> float | None:
        """When the next relay tick is due (`now` or later), None if there is nothing to
        relay or the last tick still waits for its commit (the batch grows meanwhile).

        Relays go at once when the room is idle, under load at most once per fan-out
        interval, so the number of sends per client follows the tick rate, not the number
        of incoming messages.
        """
        if self._tick_held or not self.batch_pending:
            return None
        return max(now, self._last_tick + self._fanout_interval)

    def tick(self, now: float) -> int:
        """Encode the batch (one update and one awareness message) for everyone; it goes
        out once its updates are committed. Returns the relay number (0: nothing to relay).
        """
        if self._tick_held or not self.batch_pending:
            return 0
        self._last_tick = now
        self.relays += 1
        frames: list[Outgoing[P]] = []
        update_skip: P | None = None
        has_update = bool(self._pending_updates)
        try:
            if has_update:
                updates, self._pending_updates = self._pending_updates, []
                merged = updates[0] if len(updates) == 1 else merge_updates(*updates)
                update_skip = _single_origin(self._update_origins)
                frames.append(Outgoing(ToAll(update_skip), encode_update(merged), self.relays))
            if self._pending_awareness:
                entries = list(self._pending_awareness.values())
                self._pending_awareness = {}
                frame = encode_awareness(encode_awareness_update(entries))
                skip = _single_origin(self._awareness_origins)
                frames.append(Outgoing(ToAll(skip), frame, self.relays))
        except Exception:
            log.exception("relay batch could not be encoded", extra={"room": self.room_id})
            return 0
        finally:
            self._update_origins.clear()
            self._awareness_origins.clear()
        # Durable before visible: the updates wait for their commit. Awareness needs none,
        # but travels in the same tick, behind the update it may refer to. An update
        # nobody else would receive (a lone editor) needs no wait either.
        audience = any(peer != update_skip for peer in self._peers)
        count = self.stored_count if has_update and audience else 0
        self._hold(_Held(count, frames, tick=True))
        return self.relays

    # -- durable before visible: frames wait for their commit -----------------------------

    def _hold(self, item: _Held[P]) -> None:
        self._held.append(item)
        if item.tick:
            self._tick_held = True
        self._release()

    def _release(self) -> None:
        """Move, in order, every held item whose updates are committed to the output."""
        while self._held and self._held[0].count <= self._committed_count:
            item = self._held.popleft()
            if item.tick:
                self._tick_held = False
            self._outgoing.extend(item.frames)

    def take_outgoing(self) -> list[Outgoing[P]]:
        """The frames ready to go since the last call, in the order they must be sent."""
        frames, self._outgoing = self._outgoing, []
        return frames

    # -- snapshot and shutdown ------------------------------------------------------------

    def snapshot(self) -> bytes:
        return self.doc.get_update()

    def detach(self) -> None:
        """Stop observing the document and awareness (the room is unloaded)."""
        self._held.clear()
        self._tick_held = False
        if self._doc_subscription is not None:
            self.doc.unobserve(self._doc_subscription)
            self._doc_subscription = None
        self.awareness.unobserve(self._awareness_subscription)


def _single_origin(origins: set[P | None]) -> P | None:
    """The one peer that caused a whole batch, if it was only one."""
    if len(origins) == 1:
        (origin,) = origins
        return origin
    return None
