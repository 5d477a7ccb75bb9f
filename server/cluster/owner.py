"""The owner's side of cluster mode: the rooms whose lease this process holds.

A room is served by exactly one process at a time, its **owner**: the holder of the room's
lease in PostgreSQL (`server.storage.leases`). The owner holds the document, the rules, the
awareness, the votes and the private boards, exactly as a single process does; the only
differences are where some of its members are and how its writes are guarded:

- **lease** — taken in the `loading` hook, before a board of the room is read from the
  store (another live holder: `OwnedElsewhere`); renewed every `renew_seconds` for every
  owned room in one statement; released when the room's last board unloads. A renewal
  that finds the lease gone (this process was paused or cut off, and another took over)
  gives the room up at once (`RoomManager.abandon`).
- **fencing** — this object is the store's `Fence`: every owner write carries the epoch
  of the lease, and a write of an owner that lost it inserts nothing.
- **inbound stream** — what gateways send (connections opening, their frames, closing;
  HTTP requests only the owner can answer) is read through the consumer group `owners`,
  in one serial order per room, so every rule check happens in one order against one
  document. An entry is acknowledged only once the commit holding its effect is done; a
  new owner first claims what the previous one read but did not acknowledge, and applies
  it again (the location index checks only structs the document does not have yet, so a
  re-delivery is never judged again under newer rules).
- **gateways' health** — a gateway that stops refreshing its alive key (killed) loses its
  members here within a few seconds, so their presence disappears for everyone.

Everything the rooms send to remote members goes out through `Outbox` (peers.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from server.cluster.envelope import (
    OWNERS_GROUP,
    BadEntry,
    Call,
    Closed,
    Opened,
    PeerKey,
    Received,
    Reply,
    alive_key,
    decode_inbound,
    encode_outbound,
    gateway_stream,
    inbound_stream,
)
from server.cluster.peers import Outbox, RemotePeer
from server.cluster.streams import Entries, StreamWriter, claimed, normalize
from server.crdt.errors import ProtocolError
from server.crdt.messages import decode_message
from server.errors import OwnedElsewhere
from server.ids import room_of_board
from server.logs import connection_logger
from server.metrics import Metrics
from server.rooms.connection import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_MOVED,
    CLOSE_ROOM_NOT_FOUND,
    CLOSE_TRY_AGAIN_LATER,
    MOVED_REASON,
    STORAGE_UNAVAILABLE,
)
from server.rooms.hooks import RoomHooks
from server.rooms.manager import RoomManager, RoomNotFound
from server.rooms.refusal import refuse
from server.rooms.room import Room
from server.storage.leases import LeaseStore
from server.storage.store import ParticipantRecord, RoomRecord, StorageError
from server.tokens import Claims

log = logging.getLogger("koprade.cluster")


#: Answers a forwarded HTTP request: (request description, body) -> Reply.
CallHandler = Callable[[dict[str, Any], bytes, str], Awaitable[Reply]]


@dataclass(slots=True)
class _Owned:
    room_id: str
    epoch: int
    stream: str
    #: Reading starts once a board is loaded; before that nothing could apply an entry.
    reading: bool = False
    #: Entries earlier owners read but did not acknowledge, taken over and applied first.
    claimed: bool = False
    #: Ids read and not yet acknowledged, in order (acknowledged after their commit).
    unacked: dict[str, None] = field(default_factory=dict)


@dataclass(slots=True)
class _RemoteMember:
    room: Room
    peer: RemotePeer


class Owner(RoomHooks):
    def __init__(
        self,
        *,
        redis: Redis,
        leases: LeaseStore,
        node: str,
        metrics: Metrics,
        lease_seconds: float = 5.0,
        renew_seconds: float = 1.0,
        gateway_check_seconds: float = 2.0,
        read_block_ms: int = 100,
    ) -> None:
        self.node = node
        self._redis = redis
        self._leases = leases
        self._metrics = metrics
        self._lease_seconds = lease_seconds
        self._renew_seconds = renew_seconds
        self._gateway_check_seconds = gateway_check_seconds
        self._read_block_ms = read_block_ms
        self.writer = StreamWriter(redis, on_error=self._transport_failed)
        self.outbox = Outbox(self.writer, self.epoch_of, node)
        self._owned: dict[str, _Owned] = {}
        self._lease_locks: dict[str, asyncio.Lock] = {}
        self._members: dict[PeerKey, _RemoteMember] = {}
        self._rooms: RoomManager | None = None
        self._answer: CallHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._acks: dict[str, list[str]] = {}
        self._ack_task: asyncio.Task[None] | None = None
        self.take_overs = 0  # leases taken from another node (metrics)
        self.step_downs = 0

    # -- wiring ----------------------------------------------------------------------------

    def serve(self, rooms: RoomManager, answer: CallHandler) -> None:
        """The rooms to own, and how to answer forwarded HTTP requests (the app)."""
        self._rooms = rooms
        self._answer = answer

    @property
    def rooms(self) -> RoomManager:
        assert self._rooms is not None, "Owner.serve() was not called"
        return self._rooms

    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._read_forever(), name="koprade-owner-read"),
            asyncio.create_task(self._renew_forever(), name="koprade-owner-leases"),
            asyncio.create_task(self._watch_gateways(), name="koprade-owner-gateways"),
        ]

    async def stop(self) -> None:
        """Stop reading (the rooms are flushed and unloaded by the manager, which releases
        every lease through the `unloaded` hook)."""
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []

    async def finish(self, timeout: float = 5.0) -> None:
        """After the rooms are unloaded: send the last acknowledgements and releases.

        Bounded: a forwarded request still running (waiting for a commit that will not come
        now) is cancelled after `timeout`; its gateway answers 503 and the client retries.
        """
        if self._tasks:
            _, late = await asyncio.wait(list(self._tasks), timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._ack_task is not None:
            await asyncio.gather(self._ack_task, return_exceptions=True)
        await self.writer.flushed()

    @property
    def remote_members(self) -> int:
        return len(self._members)

    @property
    def pending_entries(self) -> int:
        return sum(len(owned.unacked) for owned in self._owned.values())

    @property
    def owned(self) -> dict[str, int]:
        """Room id -> epoch of every lease this process holds."""
        return {room_id: owned.epoch for room_id, owned in self._owned.items()}

    # -- Fence (server.storage.fencing) ----------------------------------------------------

    def epoch_of(self, room_id: str) -> int | None:
        owned = self._owned.get(room_id)
        return owned.epoch if owned is not None else None

    def lost(self, room_id: str) -> None:
        """A write found the lease gone: give the room up, right here inside the commit,
        before the writer releases the frames that waited for it (they were not stored,
        so nobody may see them)."""
        self._step_down(room_id, "a write found the room's lease taken over")

    # -- hooks -----------------------------------------------------------------------------

    def _lease_lock(self, room_id: str) -> asyncio.Lock:
        """Taking and releasing a room's lease one at a time: a release still in flight
        must not expire the lease a new load of the room just took."""
        lock = self._lease_locks.get(room_id)
        if lock is None:
            lock = self._lease_locks[room_id] = asyncio.Lock()
        return lock

    async def loading(self, board_id: str) -> None:
        room_id = room_of_board(board_id)
        if room_id in self._owned:
            return
        async with self._lease_lock(room_id):
            await self._take(room_id)

    async def _take(self, room_id: str) -> None:
        if room_id in self._owned:  # another board of the room loaded meanwhile
            return
        lease = await self._leases.acquire(room_id, self.node, self._lease_seconds)
        if lease is None:
            holder = await self._leases.holder(room_id)
            raise OwnedElsewhere(
                room_id, holder.node if holder else None, holder.epoch if holder else None
            )
        if room_id in self._owned:  # another board of the room loaded meanwhile
            return
        owned = self._owned[room_id] = _Owned(room_id, lease.epoch, inbound_stream(room_id))
        if lease.epoch > 1:
            self.take_overs += 1
        try:
            # Id 0: a gateway may have appended before any owner created the group.
            await self._redis.xgroup_create(owned.stream, OWNERS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                self._forget(room_id)
                raise StorageError(f"cluster transport: {exc}") from exc
        except RedisError as exc:
            self._forget(room_id)
            raise StorageError(f"cluster transport unavailable: {exc}") from exc
        log.info("room lease taken (epoch %d)", lease.epoch, extra={"room": room_id})

    def loaded(self, room: Room, record: RoomRecord, people: list[ParticipantRecord]) -> None:
        owned = self._owned.get(room_of_board(room.id))
        if owned is not None:
            owned.reading = True

    def unloaded(self, room: Room) -> None:
        room_id = room_of_board(room.id)
        if room_id in self.rooms.evicted:
            return  # the deletion is fenced by this lease; its row goes with the room
        self._release_if_unused(room_id)

    def deleted(self, room_id: str) -> None:
        self._forget(room_id)
        self._lease_locks.pop(room_id, None)

    def _release_if_unused(self, room_id: str) -> None:
        owned = self._owned.get(room_id)
        if owned is None or self.rooms.holds(room_id):
            return
        self._forget(room_id)
        self._spawn(self._release(owned))

    def _forget(self, room_id: str) -> None:
        self._owned.pop(room_id, None)
        for key in [k for k, m in self._members.items() if room_of_board(m.peer.board) == room_id]:
            del self._members[key]

    async def _release(self, owned: _Owned) -> None:
        room_id = owned.room_id
        lock = self._lease_lock(room_id)
        async with lock:
            if room_id in self._owned:
                pass  # loaded again meanwhile, under the same lease: keep it
            else:
                try:
                    await self._leases.release(room_id, self.node, owned.epoch)
                    log.info("room lease released", extra={"room": room_id})
                except StorageError as exc:  # it expires by itself
                    log.warning("could not release a room lease: %s", exc, extra={"room": room_id})

    def _step_down(self, room_id: str, reason: str) -> None:
        if room_id not in self._owned:
            return
        self.step_downs += 1
        log.warning("giving the room up: %s", reason, extra={"room": room_id})
        self._forget(room_id)
        self.rooms.abandon(room_id, CLOSE_MOVED, MOVED_REASON)

    # -- the lease loop --------------------------------------------------------------------

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._renew_seconds)
            for room_id in list(self._owned):
                # A lease whose room never loaded (a failed load) or whose deletion failed.
                if room_id not in self.rooms.evicted:
                    self._release_if_unused(room_id)
            asked = dict(self.owned)
            if not asked:
                continue
            try:
                held = await self._leases.renew(self.node, asked, self._lease_seconds)
            except StorageError as exc:
                # Nobody can take a lease over while the database is down either, and every
                # write is fenced: keep serving, and learn the truth at the next renewal.
                log.warning("renewing %d room leases failed: %s", len(asked), exc)
                continue
            missing = {r: e for r, e in asked.items() if r not in held}
            if missing:
                await self._recover(missing)

    async def _recover(self, missing: dict[str, int]) -> None:
        """Leases a renewal did not extend: taken over (give the room up), or only expired
        while the database was unreachable, with nobody taking them (take them again: the
        next epoch, so frames of the old one are recognisably older)."""
        try:
            holders = await self._leases.holders(list(missing))
        except StorageError:
            return  # the next renewal asks again
        for room_id, epoch in missing.items():
            owned = self._owned.get(room_id)
            if owned is None or owned.epoch != epoch:
                continue
            holder = holders.get(room_id)
            if holder is not None and (holder.node, holder.epoch) == (self.node, epoch):
                try:
                    lease = await self._leases.acquire(room_id, self.node, self._lease_seconds)
                except StorageError:
                    continue
                if lease is not None and self._owned.get(room_id) is owned:
                    owned.epoch = lease.epoch
                    log.warning(
                        "room lease had expired unclaimed; held again (epoch %d)",
                        lease.epoch,
                        extra={"room": room_id},
                    )
                    continue
            self._step_down(room_id, "its lease was taken over")

    # -- reading the inbound streams -------------------------------------------------------

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            try:
                await self._read_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                failures += 1
                self._transport_failed(exc)
                await asyncio.sleep(min(0.1 * 2**failures, 2.0))
            except Exception:
                log.exception("reading the inbound streams failed")
                await asyncio.sleep(0.5)

    async def _read_once(self) -> None:
        reading = [owned for owned in self._owned.values() if owned.reading]
        for owned in reading:
            if not owned.claimed:
                await self._claim(owned)
        if not reading:
            await asyncio.sleep(self._read_block_ms / 1000)
            return
        try:
            result = await self._redis.xreadgroup(
                OWNERS_GROUP,
                self.node,
                {owned.stream: ">" for owned in reading},
                count=500,
                block=self._read_block_ms,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost its data (a restart): make the groups again.
            for owned in reading:
                await self._redis.xgroup_create(owned.stream, OWNERS_GROUP, id="0", mkstream=True)
            return
        for stream, entries in normalize(result):
            found = self._owned.get(_room_of_stream(stream))
            if found is not None:
                await self._apply(found, entries)

    async def _claim(self, owned: _Owned) -> None:
        """Take over what earlier owners read but did not acknowledge, and apply it."""
        start = "0-0"
        taken = 0
        for _ in range(10_000):  # bounded: each round takes up to 500 entries
            start, entries = claimed(
                await self._redis.xautoclaim(
                    owned.stream,
                    OWNERS_GROUP,
                    self.node,
                    min_idle_time=0,
                    start_id=start,
                    count=500,
                )
            )
            taken += len(entries)
            if entries and self._owned.get(owned.room_id) is owned:
                await self._apply(owned, entries)
            if start == "0-0":
                break
        owned.claimed = True
        if taken:
            log.info("applied %d entries taken over", taken, extra={"room": owned.room_id})

    async def _apply(self, owned: _Owned, entries: Entries) -> None:
        ids: list[str] = []
        for entry_id, fields in entries:
            if self._owned.get(owned.room_id) is not owned:
                return  # given up meanwhile: the rest stays pending for the next owner
            ids.append(entry_id)
            owned.unacked[entry_id] = None
            try:
                entry = decode_inbound(fields)
            except BadEntry as exc:
                log.error("skipped an unreadable stream entry: %s", exc)
                continue
            try:
                await self._handle(entry)
            except Exception:
                log.exception("handling a stream entry failed", extra={"room": owned.room_id})
        # Acknowledged once everything these entries changed is committed (durable).
        writer = self.rooms.writer
        seq = writer.last_seq
        if seq <= writer.committed_seq:
            self._ack(owned, ids)
        else:
            writer.when_committed(seq, lambda: self._ack(owned, ids))

    async def _handle(self, entry: Opened | Received | Closed | Call) -> None:
        if isinstance(entry, Received):
            member = self._members.get(entry.peer) or await self._open(
                entry.board, entry.peer, entry.claims
            )
            if member is not None and not member.peer.closing:
                self._receive(member, entry.data)
        elif isinstance(entry, Opened):
            if entry.peer not in self._members:
                await self._open(entry.board, entry.peer, entry.claims)
        elif isinstance(entry, Closed):
            self._close(entry.peer)
        else:
            self._spawn(self._call(entry))

    async def _open(self, board: str, key: PeerKey, claims: Claims) -> _RemoteMember | None:
        conn_log = connection_logger(board, claims.participant, claims.role)
        peer = RemotePeer(key, board, claims.identity, self.outbox, conn_log)
        try:
            room = await self.rooms.acquire(board)
        except RoomNotFound:
            peer.close_soon(CLOSE_ROOM_NOT_FOUND, "room not found")
            return None
        except OwnedElsewhere:
            peer.close_soon(CLOSE_MOVED, MOVED_REASON)
            return None
        except StorageError:
            peer.close_soon(CLOSE_TRY_AGAIN_LATER, STORAGE_UNAVAILABLE)
            return None
        member = self._members[key] = _RemoteMember(room, peer)
        room.join(peer)
        try:
            await self.rooms.hooks.joined(room, peer, claims)
        except StorageError:
            peer.close_soon(CLOSE_TRY_AGAIN_LATER, STORAGE_UNAVAILABLE)
        except Exception:
            conn_log.exception("joining through another server failed")
            peer.close_soon(CLOSE_INTERNAL_ERROR, "internal error")
        return member

    def _receive(self, member: _RemoteMember, data: bytes) -> None:
        peer = member.peer
        try:
            message = decode_message(data)
            self._metrics.received[type(message).__name__].inc()
            refusal = member.room.receive(peer, message)
        except ProtocolError as exc:
            refuse(peer, exc, self._metrics)
            return
        except Exception:
            peer.log.exception("unexpected error while handling a message")
            self._metrics.errors.labels("internal").inc()
            peer.close_soon(CLOSE_INTERNAL_ERROR, "internal error")
            return
        if refusal is not None:
            refuse(peer, refusal.error, self._metrics)

    def _close(self, key: PeerKey) -> None:
        member = self._members.pop(key, None)
        if member is None:
            return
        room, peer = member.room, member.peer
        room.leave(peer)
        self.rooms.hooks.left(room, peer.identity)
        self.rooms.release(room)

    # -- forwarded HTTP requests -----------------------------------------------------------

    async def _call(self, call: Call) -> None:
        assert self._answer is not None
        try:
            reply = await self._answer(call.request, call.body, call.call_id)
        except Exception:
            log.exception("answering a forwarded request failed")
            reply = Reply(call.call_id, 500, [("content-type", "application/json")], b"{}")
        self.writer.add(gateway_stream(call.gateway), encode_outbound(reply), existing_only=True)

    # -- acknowledging ---------------------------------------------------------------------

    def _ack(self, owned: _Owned, ids: list[str]) -> None:
        if self._owned.get(owned.room_id) is not owned:
            return  # given up: these stay pending, the next owner applies them again
        for entry_id in ids:
            owned.unacked.pop(entry_id, None)
        self._acks.setdefault(owned.stream, []).extend(ids)
        if self._ack_task is None:
            self._ack_task = asyncio.get_running_loop().create_task(self._send_acks())

    async def _send_acks(self) -> None:
        try:
            while self._acks:
                batch, self._acks = self._acks, {}
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for stream, ids in batch.items():
                            pipe.xack(stream, OWNERS_GROUP, *ids)
                            owned = self._owned.get(_room_of_stream(stream))
                            # Entries before the oldest unacknowledged one are done with
                            # (stored, and acknowledged): trim them.
                            if owned is not None:
                                oldest = next(iter(owned.unacked), None)
                                pipe.xtrim(
                                    stream, minid=oldest or _after(ids[-1]), approximate=True
                                )
                        await pipe.execute(raise_on_error=False)
                except RedisError as exc:
                    log.warning("acknowledging stream entries failed: %s", exc)
        finally:
            self._ack_task = None

    # -- gateways' health ------------------------------------------------------------------

    async def _watch_gateways(self) -> None:
        while True:
            await asyncio.sleep(self._gateway_check_seconds)
            gateways = sorted({key.gateway for key in self._members})
            if not gateways:
                continue
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for gateway in gateways:
                        pipe.exists(alive_key(gateway))
                    alive = await pipe.execute()
            except RedisError:
                continue  # the reader reports the transport's failure
            for gateway, is_alive in zip(gateways, alive, strict=True):
                if not is_alive:
                    self._drop_gateway(gateway, "it stopped answering")

    def _drop_gateway(self, gateway: str, why: str) -> None:
        keys = [key for key in self._members if key.gateway == gateway]
        if keys:
            log.warning("dropping %d connections of gateway %s: %s", len(keys), gateway, why)
        for key in keys:
            member = self._members.get(key)
            if member is not None:
                # If the gateway still runs (it only missed its heartbeat), its client
                # reconnects and syncs again; if it is dead, nobody reads this.
                member.peer.close_soon(CLOSE_MOVED, "lost contact with your server; reconnecting")
            self._close(key)

    def _transport_failed(self, exc: Exception) -> None:
        """Redis failed: frames to remote members may be lost, so let every one go (their
        gateways close them with 1012 and they sync again when the transport is back)."""
        if self._members:
            log.error("cluster transport failed (%s): dropping remote connections", exc)
        for gateway in sorted({key.gateway for key in self._members}):
            self._drop_gateway(gateway, "the cluster transport failed")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _room_of_stream(stream: str) -> str:
    return stream.rsplit(":", 1)[1]


def _after(entry_id: str) -> str:
    """The smallest stream id greater than `entry_id`."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"
