"""Which rooms are in memory: loading, keeping and unloading them, and compacting their logs.

- **load** — `acquire()` calls the `loading` hook (cluster mode: the room's lease, or
  `OwnedElsewhere`), reads the latest snapshot plus later updates from the store, once,
  however many clients open a brand-new room at the same instant, then calls the `loaded`
  hook;
- **store** — the writer commits within the commit interval and calls the `stored` hook;
  this manager listens to it and merges a long log into a new snapshot (`_compact`);
- **unload** — `release()` of the last connection starts the idle timer; `_unload()`
  flushes the room's pending updates first, then forgets it (the `unloaded` hook).

The whole list of hooks is in `hooks.py`; `server/app.py` wires them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from server.crdt.board import BoardDoc, new_board
from server.crdt.pseudonyms import Pseudonyms
from server.exports import load_stored_board
from server.ids import PRIVATE_SEPARATOR, room_of_board
from server.rooms.hooks import Hooks, RoomHooks
from server.rooms.room import RemoteFanout, Room
from server.storage.store import StorageError, Store
from server.storage.writer import UpdateWriter

log = logging.getLogger("koprade.rooms")

_STOP_TIMEOUT = 30.0


class RoomNotFound(Exception):
    pass


class RoomManager(RoomHooks):
    def __init__(
        self,
        store: Store,
        *,
        commit_interval: float,
        compact_after: int,
        idle_seconds: float,
        fanout_interval: float,
        hooks: RoomHooks | None = None,
        pseudonyms: Pseudonyms | None = None,
        remote: RemoteFanout | None = None,
        cluster: bool = False,
    ) -> None:
        self.store = store
        # Cluster mode: relays reach connections other processes hold through `remote`.
        self._remote = remote
        self.cluster = cluster
        # Everything that follows a room's life (server/app.py wires them); without any,
        # this manager alone, so long logs are still compacted.
        self.hooks = hooks if hooks is not None else Hooks(self)
        # Stand-ins for participants of anonymous rooms, from the server's secret.
        self.pseudonyms = pseudonyms or Pseudonyms(secrets.token_bytes(32))
        self.writer = UpdateWriter(
            store,
            interval=commit_interval,
            on_flushed=self.hooks.stored,
            on_committed=self.hooks.committed,
        )
        self._compact_after = compact_after
        self._idle_seconds = idle_seconds
        self._fanout_interval = fanout_interval
        self.rooms: dict[str, Room] = {}
        self._loading: dict[str, asyncio.Future[Room]] = {}
        self._unload_timers: dict[str, asyncio.TimerHandle] = {}
        self._last_update_id: dict[str, int] = {}
        self._compacting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Rooms being deleted or deleted: never loaded again by this process.
        self.evicted: set[str] = set()

    async def start(self) -> None:
        await self.writer.start()

    async def stop(self) -> None:
        """Store everything accepted so far, then drop all rooms."""
        for timer in self._unload_timers.values():
            timer.cancel()
        self._unload_timers.clear()
        try:
            # The writer retries while the database is down; a stop must still end.
            await asyncio.wait_for(self.writer.stop(), _STOP_TIMEOUT)
        except TimeoutError:
            log.error(
                "database unreachable at shutdown: %d updates could not be stored; "
                "clients that reconnect will send them again",
                self.writer.pending_count(),
            )
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
        for room in self.rooms.values():
            room.close()
            self.hooks.unloaded(room)
        self.rooms.clear()

    # -- load ------------------------------------------------------------------------------

    async def acquire(self, room_id: str) -> Room:
        """The loaded room, loading it on first use. Raises RoomNotFound."""
        if room_of_board(room_id) in self.evicted:
            raise RoomNotFound(room_id)
        timer = self._unload_timers.pop(room_id, None)
        if timer is not None:
            timer.cancel()
        room = self.rooms.get(room_id)
        if room is not None:
            return room
        loading = self._loading.get(room_id)
        if loading is None:
            # Every concurrent first join awaits this one future: one load, no race.
            loading = asyncio.ensure_future(self._load(room_id))
            self._loading[room_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(room_id, None))
        return await asyncio.shield(loading)

    async def _load(self, room_id: str) -> Room:
        board_id, _, private_owner = room_id.partition(PRIVATE_SEPARATOR)
        record = await self.store.get_room(board_id)
        if record is None:
            raise RoomNotFound(room_id)
        await self.hooks.loading(room_id)
        people = [] if private_owner else await self.store.list_participants(board_id)
        stored = await self.store.load_document(room_id)
        doc = new_board()
        if stored.snapshot:
            doc.apply_update(stored.snapshot)
        for update in stored.updates:
            try:
                doc.apply_update(update)
            except ValueError:
                # Never refuse a whole room for one bad row; keep it in the log for forensics.
                log.exception("skipped an undecodable stored update", extra={"room": room_id})
        # No await between reading the store and attaching the observer (inside Room()).
        room = Room(
            room_id,
            doc,
            commits=self.writer,
            fanout_interval=self._fanout_interval,
            private_owner=private_owner or None,
            hooks=self.hooks,
            pseudonyms=self.pseudonyms.for_room(board_id),
            remote=self._remote,
        )
        self.hooks.loaded(room, record, people)
        self.rooms[room_id] = room
        self._last_update_id[room_id] = stored.last_update_id
        log.info(
            "room loaded (%d stored updates after snapshot)",
            len(stored.updates),
            extra={"room": room_id},
        )
        return room

    def holds(self, room_id: str) -> bool:
        """Whether a board of the room is loaded or loading in this process."""
        return any(room_of_board(key) == room_id for key in (*self.rooms, *self._loading))

    @contextlib.asynccontextmanager
    async def owning(self, room_id: str) -> AsyncIterator[None]:
        """Cluster mode: hold the room while a write only its owner may make runs (a
        snapshot, a deletion): raises `OwnedElsewhere` when another process serves it, so
        the request is forwarded there. One process: nothing to do."""
        if not self.cluster:
            yield
            return
        room = await self.acquire(room_id)
        try:
            yield
        finally:
            self.release(room)

    # -- unload ----------------------------------------------------------------------------

    def release(self, room: Room) -> None:
        """Called when a connection left; starts the idle timer for an empty room."""
        if room.connections or room.id in self._unload_timers:
            return
        self._unload_timers[room.id] = asyncio.get_running_loop().call_later(
            self._idle_seconds, lambda: self._spawn(self._unload(room))
        )

    async def _unload(self, room: Room) -> None:
        self._unload_timers.pop(room.id, None)
        await self.writer.wait_flushed(room.id)
        # Someone joined while we flushed: keep the room. No await between this check and
        # the removal below, so no join can slip in between.
        if room.connections or self.rooms.get(room.id) is not room:
            return
        del self.rooms[room.id]
        room.close()
        self.hooks.unloaded(room)
        log.info("room unloaded", extra={"room": room.id})

    async def evict(
        self,
        room_id: str,
        close_code: int,
        reason: str,
        timeout: float = 5.0,
        *,
        last_words: bytes | None = None,
    ) -> None:
        """Take a room that is being deleted out of service, with its private boards.

        From now on it cannot be loaded; its connections are closed with `close_code`
        (after `last_words`, one frame saying why), what they sent is stored, then the
        boards are unloaded. The caller deletes the
        data next (and calls `evicted.discard(room_id)` if that fails).
        """
        self.evicted.add(room_id)

        def boards() -> list[str]:
            return [key for key in self.rooms if room_of_board(key) == room_id]

        loads = [f for key, f in self._loading.items() if room_of_board(key) == room_id]
        await asyncio.gather(*loads, return_exceptions=True)
        for board_id in boards():
            for connection in list(self.rooms[board_id].connections):
                connection.close_soon(close_code, reason, last_words=last_words)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(self.rooms[key].connections for key in boards()) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for board_id in boards():
            room = self.rooms.pop(board_id, None)
            timer = self._unload_timers.pop(board_id, None)
            if timer is not None:
                timer.cancel()
            await self.writer.wait_flushed(board_id)
            while board_id in self._compacting:  # a compaction would write after the delete
                await asyncio.sleep(0.01)
            if room is not None:
                room.close()
                self.hooks.unloaded(room)
            self._last_update_id.pop(board_id, None)
            log.info("room unloaded for deletion", extra={"room": board_id})

    def abandon(self, room_id: str, close_code: int, reason: str) -> None:
        """Cluster mode: this process lost the room's lease; drop its boards at once.

        Nothing is flushed: the new owner's writes are the room's now, and ours are fenced
        off anyway. Every connection is closed with `close_code`, so its client reconnects
        and syncs with the new owner (it still holds whatever it sent us, and sends it again).
        """
        for board_id in [key for key in self.rooms if room_of_board(key) == room_id]:
            room = self.rooms.pop(board_id)
            timer = self._unload_timers.pop(board_id, None)
            if timer is not None:
                timer.cancel()
            for connection in list(room.connections):
                connection.close_soon(close_code, reason)
            room.close()
            self.hooks.unloaded(room)
            self._last_update_id.pop(board_id, None)
            log.warning("room given up: %s", reason, extra={"room": board_id})

    # -- store: compaction -----------------------------------------------------------------

    def stored(self, room_id: str, last_update_id: int, log_length: int) -> None:
        self._last_update_id[room_id] = last_update_id
        if log_length >= self._compact_after and room_id not in self._compacting:
            room = self.rooms.get(room_id)
            if room is not None:
                self._compacting.add(room_id)
                self._spawn(self._compact(room, last_update_id))

    async def _compact(self, room: Room, upto_update_id: int) -> None:
        try:
            # The snapshot is taken after every row <= upto was applied to the document,
            # so it contains them all (and maybe more, which is harmless for Yjs).
            await self.store.compact(room.id, room.snapshot(), upto_update_id)
            log.info("log compacted up to update %d", upto_update_id, extra={"room": room.id})
        except Exception:
            log.exception("compaction failed; the log stays as it is", extra={"room": room.id})
        finally:
            self._compacting.discard(room.id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- figures ---------------------------------------------------------------------------

    async def board(self, room_id: str) -> BoardDoc:
        """The board for a reply: the live document once what it holds is committed (what
        anyone is shown is stored first, docs/architecture.md), else a copy of the stored one.

        Raises StorageError when the database keeps failing, so nothing unstored is shown.
        """
        room = self.rooms.get(room_id)
        if room is None:
            return await load_stored_board(self.store, room_id)
        if not await self.writer.committed_within():
            raise StorageError("the board holds changes the database has not stored yet")
        return room.doc

    def connection_count(self, room_id: str | None = None) -> int:
        if room_id is not None:
            room = self.rooms.get(room_id)
            return len(room.connections) if room else 0
        return sum(len(room.connections) for room in self.rooms.values())
