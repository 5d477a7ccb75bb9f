"""Sessions over time: named snapshots, templates, retention and deletion of rooms.

* **Snapshots** — a board's full Yjs state under a name, taken by a facilitator, before
  every phase change and when the room closes. A snapshot can be viewed, restored into the
  live board (as a new state: the live board is kept as a "restore" snapshot first) or
  copied into a new room for the next session.
* **Templates** — boards to start a room from: the built-in methods of the lab
  (`server/templates/*.json`, in the JSON export format plus Latvian and English names)
  and boards a facilitator saved.
* **Data protection** — deleting a room with everything stored about it, exporting all of
  it, and deleting closed rooms after the retention period (`koprade purge`, and hourly in
  the server when `--retention-days` is set). See docs/data-protection.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from pycrdt import Doc, Map

from server.crdt.board import (
    CARD_FIELDS,
    CARDS,
    CLUSTER_FIELDS,
    CLUSTERS,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    META,
    VOTES,
    board_to_json,
    doc_from_updates,
    new_board,
)
from server.crdt.meta import read_meta
from server.crdt.rules import PHASES
from server.errors import ApiError
from server.exports import export_json, hide_people, iso, load_stored_board
from server.reports.importer import import_board
from server.rooms import writes
from server.rooms.connection import CLOSE_ROOM_NOT_FOUND
from server.rooms.facilitation import CLOSING_ROOM_DELETED, Facilitation, closing_message
from server.rooms.manager import RoomManager, RoomNotFound
from server.rooms.room import Room
from server.storage.sessions import SessionStore, SnapshotRecord, TemplateRecord
from server.storage.store import ParticipantRecord, RoomRecord, StorageError, Store
from server.tokens import Claims

log = logging.getLogger("koprade.sessions")

CLOSED_PHASE = "closed"
LANGUAGES = ("lv", "en")
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
PURGE_INTERVAL_SECONDS = 3600.0
MAX_SNAPSHOT_ID = 2**63  # ids are BIGINT; a larger number in a URL finds nothing


class SessionError(ApiError):
    """A refused session request: HTTP status, error slug, message (like commands)."""


def _now() -> datetime:
    return datetime.now(UTC)


#: What of a template's or copied board's `meta` a new room takes over.
SEEDED = ("phases", "phase")


def _export_of(cards: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON board export holding just these cards and clusters."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "cards": cards,
        "clusters": clusters,
        "meta": {},
        "votes": {},
    }


def _plain_entries(doc: Doc, root: str, fields: tuple[str, ...], text_field: str) -> dict:
    """A root map's well-formed entries as plain values, numbers as stored."""
    found: dict[str, dict[str, Any]] = {}
    for entry_id, entry in doc.get(root, type=Map).items():
        if not isinstance(entry, Map):
            continue
        values = {key: entry[key] for key in fields if key in entry}
        values[text_field] = str(entry.get(text_field, ""))
        found[entry_id] = values
    return found


# -- built-in templates -----------------------------------------------------------------------


@cache
def builtin_templates() -> dict[str, dict[str, Any]]:
    """The templates shipped with Koprade, by id, in the order of their file names."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(TEMPLATE_DIR.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        found[board["template"]["id"]] = board
    return found


def localized(board: dict[str, Any], lang: str) -> dict[str, Any]:
    """The board with its texts in `lang` where the template has a translation."""
    translation = (board.get("translations") or {}).get(lang)
    if not translation:
        return board
    cards = translation.get("cards", {})
    clusters = translation.get("clusters", {})
    return {
        **board,
        "cards": [{**c, "text": cards.get(c["id"], c.get("text", ""))} for c in board["cards"]],
        "clusters": [
            {**c, "title": clusters.get(c["id"], c.get("title", ""))} for c in board["clusters"]
        ],
    }


def _template_phases(board: dict[str, Any]) -> list[str] | None:
    phases = (board.get("meta") or {}).get("phases")
    if (
        isinstance(phases, list)
        and phases
        and all(p in PHASES for p in phases)
        and len(set(phases)) == len(phases)
    ):
        return list(phases)
    return None


def template_entry(board: dict[str, Any]) -> dict[str, Any]:
    info = board["template"]
    return {
        "id": info["id"],
        "builtin": True,
        "name": dict(info["name"]),
        "description": dict(info["description"]),
        "cards": len(board.get("cards", [])),
        "clusters": len(board.get("clusters", [])),
        "phases": _template_phases(board),
        "created": None,
        "sourceRoom": None,
    }


def saved_template_entry(record: TemplateRecord) -> dict[str, Any]:
    board = json.loads(record.board)
    return {
        "id": record.id,
        "builtin": False,
        # Saved templates carry the facilitator's own words, the same in every language.
        "name": {lang: record.name for lang in LANGUAGES},
        "description": {lang: record.description for lang in LANGUAGES},
        "cards": len(board.get("cards", [])),
        "clusters": len(board.get("clusters", [])),
        "phases": _template_phases(board),
        "created": iso(record.created),
        "sourceRoom": record.source_room,
    }


# -- retention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeCandidate:
    """A closed room whose last activity is older than the retention period."""

    room: RoomRecord
    last_activity: datetime
    snapshots: int
    private_boards: int


async def closed_rooms_past_retention(
    store: Store, retention_days: int, *, now: datetime | None = None
) -> list[PurgeCandidate]:
    """Rooms in phase `closed` with no activity for `retention_days` days, oldest first."""
    if retention_days <= 0:
        return []
    cutoff = (now or _now()) - timedelta(days=retention_days)
    saved = SessionStore(store)
    found = []
    for record, last in (await saved.last_activity()).values():
        if last >= cutoff:
            continue
        if read_meta(await load_stored_board(store, record.id)).get("phase") != CLOSED_PHASE:
            continue
        found.append(
            PurgeCandidate(
                room=record,
                last_activity=last,
                snapshots=len(await saved.list_snapshots(record.id)),
                private_boards=len(await store.private_documents(record.id)),
            )
        )
    found.sort(key=lambda c: (c.last_activity, c.room.id))
    return found


# -- the service -------------------------------------------------------------------------------


class Sessions:
    def __init__(
        self,
        store: Store,
        rooms: RoomManager,
        facilitation: Facilitation,
        *,
        retention_days: int = 0,
        flush_activity: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.saved = SessionStore(store)
        self.rooms = rooms
        self.facilitation = facilitation
        self.retention_days = retention_days
        # Participation figures counted in memory reach the database through this, so a
        # deleted room's figures are written (then deleted) before its data goes.
        self.flush_activity = flush_activity
        self._purger: asyncio.Task[None] | None = None
        facilitation.on_phase_change = self._phase_changed

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.retention_days > 0:
            self._purger = asyncio.ensure_future(self._purge_regularly())

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            await asyncio.gather(self._purger, return_exceptions=True)
            self._purger = None

    async def _purge_regularly(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception:
                log.exception("purging closed rooms failed; trying again later")
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)

    # -- the board, live or stored ---------------------------------------------------------

    async def board(self, room_id: str) -> Doc:
        """The live document (once stored) when the room is loaded, else the stored one."""
        return await self.rooms.board(room_id)

    async def anonymous(self, room_id: str) -> bool:
        return bool(read_meta(await self.board(room_id)).get("anonymous"))

    # -- snapshots -------------------------------------------------------------------------

    async def take_snapshot(self, room_id: str, name: str, author: str | None) -> SnapshotRecord:
        doc = await self.board(room_id)
        return await self.saved.add_snapshot(
            room_id,
            name=name,
            kind="manual",
            data=doc.get_update(),
            phase=read_meta(doc).get("phase"),
            author=author,
        )

    async def _phase_changed(self, room: Room, claims: Claims, old: str, before: bytes) -> None:
        """Automatic snapshots: the board before every phase change, and when it closes."""
        new = room.settings["phase"]
        if new == CLOSED_PHASE:
            name, kind, data, phase = "Session closed", "closed", room.snapshot(), new
        else:
            name, kind, data, phase = f"Before phase: {new}", "phase", before, old
        try:
            await self.saved.add_snapshot(
                room.id, name=name, kind=kind, data=data, phase=phase, author=claims.participant
            )
        except StorageError:
            # The phase has changed already; a missing snapshot must not turn it into an error.
            log.exception("automatic snapshot not stored", extra={"room": room.id})

    async def snapshot(self, room_id: str, snapshot_id: int) -> tuple[SnapshotRecord, bytes]:
        found = None
        if 0 < snapshot_id < MAX_SNAPSHOT_ID:
            found = await self.saved.get_snapshot(room_id, snapshot_id)
        if found is None:
            raise SessionError(404, "snapshot_not_found", "no such snapshot in this room")
        return found

    async def delete_snapshot(self, room_id: str, snapshot_id: int) -> None:
        if not (
            0 < snapshot_id < MAX_SNAPSHOT_ID
            and await self.saved.delete_snapshot(room_id, snapshot_id)
        ):
            raise SessionError(404, "snapshot_not_found", "no such snapshot in this room")

    async def snapshot_doc(self, room_id: str, snapshot_id: int) -> tuple[SnapshotRecord, Doc]:
        """A snapshot's board; without `meta.people` if the room is (or was) anonymous."""
        record, data = await self.snapshot(room_id, snapshot_id)
        doc = doc_from_updates([data])
        if doc.get(META, type=Map).get("anonymous") or await self.anonymous(room_id):
            hide_people(doc)
        return record, doc

    async def restore(
        self, room_id: str, snapshot_id: int, author: str
    ) -> tuple[SnapshotRecord, SnapshotRecord]:
        """Make the live board equal to a snapshot's; returns (snapshot, backup of before).

        Cards, clusters and vote results become the snapshot's; the room's settings
        (`meta`: phase, lock, anonymity, voting rules, timer, names) stay as they are, and
        so do the ballots cast (a later vote publishes results from them again).
        """
        record, data = await self.snapshot(room_id, snapshot_id)
        target = doc_from_updates([data])
        try:
            room = await self.rooms.acquire(room_id)
        except RoomNotFound as exc:
            raise SessionError(404, "room_not_found", "no such room") from exc
        try:
            backup = await self.saved.add_snapshot(
                room_id,
                name=f"Before restoring: {record.name}"[:400],
                kind="restore",
                data=room.snapshot(),
                phase=room.settings.get("phase"),
                author=author,
            )
            writes.replace_board(
                room,
                _plain_entries(target, CARDS, CARD_FIELDS, "text"),
                _plain_entries(target, CLUSTERS, CLUSTER_FIELDS, "title"),
                target.get(VOTES, type=Map).to_py() or {},
            )
        finally:
            self.rooms.release(room)
        log.info("snapshot %d restored", record.id, extra={"room": room_id})
        return record, backup

    async def seed(self, room_id: str, board: dict[str, Any]) -> None:
        """Give a room that nobody has opened yet its first board, from a JSON export.

        Cards and clusters, and the phase sequence of a template (`meta.phases`, `phase`);
        everything else of `meta` gets the defaults when the room first loads. Cards
        without a creation time (template cards) are created now.
        """
        created = int(_now().timestamp() * 1000)
        board = {
            **board,
            "cards": [{"created": created, **card} for card in board.get("cards", [])],
            "meta": {k: v for k, v in (board.get("meta") or {}).items() if k in SEEDED},
            "votes": {},
        }
        doc = new_board()
        import_board(doc, board)
        # The room's first stored update, before anyone can know its code.
        await self.store.append_updates([(room_id, doc.get_update())])

    async def snapshot_board(self, room_id: str, snapshot_id: int) -> dict[str, Any]:
        """A snapshot's cards and clusters as a JSON export, to copy into a new room."""
        _, doc = await self.snapshot_doc(room_id, snapshot_id)
        board = board_to_json(doc)
        return _export_of(board["cards"], board["clusters"])

    # -- templates -------------------------------------------------------------------------

    async def list_templates(self, *, include_saved: bool) -> list[dict[str, Any]]:
        entries = [template_entry(board) for board in builtin_templates().values()]
        if include_saved:
            entries += [saved_template_entry(t) for t in await self.saved.list_templates()]
        return entries

    async def template(
        self, template_id: Any, lang: Any, *, include_saved: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(listing entry, board in the export format) of a template, in `lang`."""
        if not isinstance(template_id, str) or not template_id:
            raise SessionError(
                422, "invalid_field", "'template' must be a template id", field="template"
            )
        if lang not in LANGUAGES:
            raise SessionError(422, "invalid_field", "'lang' must be lv or en", field="lang")
        builtin = builtin_templates().get(template_id)
        if builtin is not None:
            return template_entry(builtin), localized(builtin, lang)
        record = await self.saved.get_template(template_id) if include_saved else None
        if record is None:
            raise SessionError(404, "template_not_found", f"no template {template_id!r}")
        return saved_template_entry(record), json.loads(record.board)

    async def save_template(self, room_id: str, name: str, description: str) -> dict[str, Any]:
        """The room's current board as a template of the lab's own.

        Only the method's structure is kept: card and cluster texts and positions; card
        authors, creation times, votes and settings (names included) are left out.
        """
        exported = board_to_json(await self.board(room_id))
        cards = [
            {**{k: v for k, v in card.items() if k not in ("author", "created")}, "author": ""}
            for card in exported["cards"]
        ]
        phases = read_meta(await self.board(room_id)).get("phases")
        board = _export_of(cards, exported["clusters"])
        if isinstance(phases, list) and phases:
            board["meta"] = {"phases": phases, "phase": phases[0]}
        record = TemplateRecord(
            id="t_" + secrets.token_hex(6),
            name=name,
            description=description,
            source_room=room_id,
            created=_now(),
            board=json.dumps(board, ensure_ascii=False).encode(),
        )
        await self.saved.add_template(record)
        log.info("template %s saved", record.id, extra={"room": room_id})
        return saved_template_entry(record)

    async def delete_template(self, room_id: str, template_id: str) -> None:
        record = await self.saved.get_template(template_id)
        if record is None or record.source_room != room_id:
            raise SessionError(404, "template_not_found", "no template saved from this room")
        await self.saved.delete_template(template_id)

    # -- data protection -------------------------------------------------------------------

    async def delete_room(self, room_id: str) -> None:
        """Close the room's sockets, unload it and delete everything stored about it."""
        await self.rooms.evict(
            room_id,
            CLOSE_ROOM_NOT_FOUND,
            "room deleted",
            last_words=closing_message(CLOSING_ROOM_DELETED),
        )
        try:
            if self.flush_activity is not None:
                await self.flush_activity()
            await self.store.delete_room(room_id)
        except BaseException:
            self.rooms.deleted.discard(room_id)
            raise
        self.facilitation.forget(room_id)
        log.info("room deleted with everything stored about it", extra={"room": room_id})

    async def purge(self, *, dry_run: bool = False) -> list[PurgeCandidate]:
        """Delete closed rooms past the retention period (but none that is open right now)."""
        found = [
            candidate
            for candidate in await closed_rooms_past_retention(self.store, self.retention_days)
            if candidate.room.id not in self.rooms.rooms
        ]
        if not dry_run:
            for candidate in found:
                await self.delete_room(candidate.room.id)
        return found

    async def room_data(self, record: RoomRecord) -> dict[str, Any]:
        """Everything stored about a room, for the lab's data-protection duties."""
        if self.flush_activity is not None:
            await self.flush_activity()
        room_id = record.id
        people = await self.store.list_participants(room_id)
        names = {p.id: p.name for p in people}
        last = (await self.saved.last_activity()).get(room_id)
        private: dict[str, Any] = {}
        for board_id in await self.store.private_documents(room_id):
            doc = await self.board(board_id)
            private[board_id.partition("/")[2]] = board_to_json(doc)["cards"]
        return {
            "format": "koprade-room-data",
            "version": 1,
            "exported": iso(_now()),
            "room": {
                "id": record.id,
                "code": record.code,
                "title": record.title,
                "created": iso(record.created),
                "lastActivity": iso(last[1]) if last else None,
            },
            "retentionDays": self.retention_days or None,
            "participants": [
                {
                    "participant": p.id,
                    "name": p.name,
                    "role": p.role,
                    "joined": iso(p.joined),
                    "removed": iso(p.removed) if p.removed else None,
                }
                for p in people
            ],
            "votes": [
                {
                    "participant": v.participant_id,
                    "card": v.card_id,
                    "count": v.count,
                    "updated": iso(v.updated),
                }
                for v in await self.saved.votes_of(room_id)
            ],
            "snapshots": [
                snapshot_entry(s, names) for s in await self.saved.list_snapshots(room_id)
            ],
            # Everything stored, names included: this answers a person's request for their
            # data, so the room's display rules (anonymous mode) do not apply here.
            "board": self._attributed(
                room_id, export_json(record, await self.board(room_id), room_rules=False), people
            ),
            "privateBoards": private,
            "activity": [
                {
                    "participant": a.participant_id,
                    "edits": a.edits,
                    "secondsActive": a.seconds_active,
                    "lastSeen": iso(a.last_seen) if a.last_seen else None,
                }
                for a in await self.saved.activity_of(room_id)
            ],
            "templates": await self.saved.templates_from(room_id),
        }

    def _attributed(
        self, room_id: str, board: dict[str, Any], people: list[ParticipantRecord]
    ) -> dict[str, Any]:
        """Each card with the `participant` who wrote it, its pseudonym resolved (anonymous
        mode): a person asking for their data gets their anonymous cards too."""
        resolve = self.rooms.pseudonyms.for_room(room_id).resolver(p.id for p in people)
        for card in board["cards"]:
            author = card.get("author")
            if isinstance(author, str) and author:
                card["participant"] = resolve.get(author, author)
        return board


def snapshot_entry(record: SnapshotRecord, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "kind": record.kind,
        "phase": record.phase,
        "author": record.author,
        "authorName": names.get(record.author) if record.author else None,
        "created": iso(record.created),
        "bytes": record.size,
    }
