"""The `koprade` command: serve, list rooms, export and import boards.

Every option can also come from an environment variable named KOPRADE_<OPTION>
(e.g. KOPRADE_DATABASE_URL); a command-line flag wins over the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from server.config import Settings

if TYPE_CHECKING:  # imported where used, so `koprade --help` stays fast
    from server.storage.store import Store

_DEFAULTS = Settings()


def _env(name: str, default: object) -> object:
    return os.environ.get(f"KOPRADE_{name.upper()}", default)


def _storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(str(_env("data_dir", _DEFAULTS.data_dir))),
        help="directory for the SQLite file and the token secret (default ./koprade-data)",
    )
    parser.add_argument(
        "--database-url",
        default=_env("database_url", None),
        help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db (default: SQLite)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="koprade", description="Koprade co-creation whiteboard server"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", default=_env("host", _DEFAULTS.host))
    serve.add_argument("--port", type=int, default=int(str(_env("port", _DEFAULTS.port))))
    _storage_options(serve)
    serve.add_argument(
        "--organizer-key",
        default=_env("organizer_key", None),
        help="the key (X-Organizer-Key) for lab-wide data and, beyond loopback, creating rooms "
        "(default: generated into <data-dir>/organizer.key and printed as a link)",
    )
    serve.add_argument(
        "--secret",
        default=_env("secret", None),
        help="token signing secret (default: generated into <data-dir>/secret.key)",
    )
    serve.add_argument(
        "--public-url", default=_env("public_url", None), help="base URL used in join links"
    )
    for name, kind, help_text in (
        ("max_message_size", int, "largest WebSocket message in bytes"),
        ("commit_interval_ms", int, "group commit interval"),
        ("compact_after", int, "log length that triggers a snapshot"),
        ("room_idle_seconds", float, "unload an empty room after this long"),
        ("fanout_interval_ms", float, "minimum spacing of relay ticks under load"),
        ("send_queue_bytes", int, "per-connection backlog limit in bytes"),
        ("send_queue_messages", int, "per-connection backlog limit in messages"),
        ("ws_ping_interval_seconds", float, "WebSocket keepalive ping interval (0: off)"),
        ("ws_ping_timeout_seconds", float, "close a client with 4408 after no pong this long"),
        ("retention_days", int, "delete closed rooms idle this many days (0: never)"),
    ):
        default = getattr(_DEFAULTS, name)
        serve.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=kind(str(_env(name, default))),
            help=f"{help_text} (default {default})",
        )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(str(_env("workers", _DEFAULTS.workers))),
        help="serving processes on this one port, to use several cores (default 1; more "
        "than 1 needs cluster mode: --redis-url)",
    )
    serve.add_argument(
        "--redis-url",
        default=_env("redis_url", None),
        help="cluster mode: the Redis (redis://HOST:PORT/DB) that carries frames between "
        "processes; needs a PostgreSQL --database-url, --secret and --organizer-key "
        "(docs/cluster.md)",
    )
    serve.add_argument(
        "--node-id",
        default=_env("node_id", None),
        help="cluster mode: this process's name in room leases and streams "
        "(default <host>-<pid>-<4 hex>, new on every start)",
    )
    # Set by `--workers N` for its worker processes (server/workers.py), not by people.
    serve.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--worker-of", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument(
        "--log-level", default=_env("log_level", "info"), choices=["debug", "info", "warning"]
    )
    serve.add_argument("--log-format", default=_env("log_format", "text"), choices=["text", "json"])

    rooms = commands.add_parser("rooms", help="inspect rooms")
    rooms_commands = rooms.add_subparsers(dest="rooms_command", required=True)
    listing = rooms_commands.add_parser("list", help="list rooms, newest first")
    _storage_options(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    stats = commands.add_parser("stats", help="participation figures across all rooms")
    _storage_options(stats)
    stats.add_argument("--json", action="store_true", help="the figures as one JSON object")
    stats.add_argument(
        "--secret",
        default=_env("secret", None),
        help="the server's secret, to count anonymous cards (default: <data-dir>/secret.key)",
    )

    purge = commands.add_parser(
        "purge", help="delete closed rooms (and their snapshots) past the retention period"
    )
    _storage_options(purge)
    purge.add_argument(
        "--retention-days",
        type=int,
        default=int(str(_env("retention_days", _DEFAULTS.retention_days))),
        help="closed rooms without activity for this many days are deleted",
    )
    purge.add_argument("--dry-run", action="store_true", help="only list what would be deleted")

    export = commands.add_parser("export", help="export a room's board")
    export.add_argument("room")
    export.add_argument(
        "--format", default="json", choices=["json", "md", "csv", "svg", "png", "pdf"]
    )
    export.add_argument(
        "--lang", default="en", choices=["en", "lv"], help="language of the report's words"
    )
    export.add_argument("--output", "-o", type=Path, help="write to this file (default stdout)")
    export.add_argument("--snapshot", type=int, help="export this snapshot instead of the board")
    _storage_options(export)

    importer = commands.add_parser("import", help="a new room from a JSON export")
    importer.add_argument("file", type=Path, help="a JSON board export (- for stdin)")
    importer.add_argument("--title", help="the new room's title (default: the export's)")
    importer.add_argument("--name", default="Facilitator", help="the facilitator's name")
    importer.add_argument(
        "--secret",
        default=_env("secret", None),
        help="token signing secret, as the server's (default: <data-dir>/secret.key)",
    )
    importer.add_argument(
        "--public-url",
        default=_env("public_url", "http://127.0.0.1:8000"),
        help="the server's base URL for the printed links (default http://127.0.0.1:8000)",
    )
    _storage_options(importer)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        host=args.host,
        port=args.port,
        workers=args.workers,
        data_dir=args.data_dir,
        database_url=args.database_url,
        organizer_key=args.organizer_key,
        secret=args.secret,
        public_url=args.public_url,
        max_message_size=args.max_message_size,
        commit_interval_ms=args.commit_interval_ms,
        compact_after=args.compact_after,
        room_idle_seconds=args.room_idle_seconds,
        fanout_interval_ms=args.fanout_interval_ms,
        send_queue_bytes=args.send_queue_bytes,
        send_queue_messages=args.send_queue_messages,
        ws_ping_interval_seconds=args.ws_ping_interval_seconds,
        ws_ping_timeout_seconds=args.ws_ping_timeout_seconds,
        retention_days=args.retention_days,
        redis_url=args.redis_url,
        node_id=args.node_id,
        log_level=args.log_level,
        log_format=args.log_format,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "rooms":
        return asyncio.run(_list_rooms(args))
    if args.command == "export":
        return asyncio.run(_export(args))
    if args.command == "purge":
        return asyncio.run(_purge(args))
    if args.command == "import":
        return asyncio.run(_import(args))
    if args.command == "stats":
        return asyncio.run(_stats(args))
    return 2


def _serve(args: argparse.Namespace) -> int:
    """Check the settings (exit 2 with one line if they cannot work), then serve: in this
    process, or with --workers N in N worker processes under a supervisor."""
    from server.cluster.config import ConfigError, check_cluster_settings

    settings = settings_from(args)
    try:
        check_cluster_settings(settings)
    except ConfigError as exc:
        print(f"koprade: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if settings.workers > 1:
        from server.workers import supervise

        return supervise(settings)
    from server.serve import run

    return run(settings, listen_fd=args.listen_fd, supervisor_pid=args.worker_of)


async def _stats(args: argparse.Namespace) -> int:
    from server.crdt.pseudonyms import Pseudonyms
    from server.insight import lab_stats

    # The server's secret resolves anonymous cards' pseudonyms; never create one here.
    key_file = args.data_dir / "secret.key"
    secret = args.secret.encode() if args.secret else None
    if secret is None and key_file.exists():
        secret = key_file.read_bytes().strip()
    pseudonyms = Pseudonyms(secret) if secret else None
    store = await _open_store(args)
    try:
        figures = await lab_stats(store, pseudonyms=pseudonyms)
    finally:
        await store.close()
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
        return 0
    share = figures["medianTopQuarterShare"]
    print(
        f"{figures['rooms']} rooms, {figures['participants']} participants, "
        f"{figures['cards']} cards, {figures['votes']} votes, "
        f"{figures['hoursActive']} hours active; median share of cards by the most active "
        f"quarter: {'-' if share is None else f'{share:.0%}'}"
    )
    if figures["byRoom"]:
        print(
            f"{'ROOM':<13} {'PHASE':<8} {'PEOPLE':>6} {'CARDS':>5} {'VOTES':>5} "
            f"{'TOP 1/4':>7}  TITLE"
        )
    for room in figures["byRoom"]:
        top = room["topQuarterShare"]
        print(
            f"{room['room']:<13} {room['phase'] or '-':<8} {room['participants']:>6} "
            f"{room['cards']:>5} {room['votes']:>5} {'-' if top is None else f'{top:.0%}':>7}  "
            f"{room['title']}"
        )
    return 0


async def _open_store(args: argparse.Namespace) -> Store:
    from server.storage.store import Store

    store = Store.for_settings(args.data_dir, args.database_url)
    await store.open()
    return store


async def _list_rooms(args: argparse.Namespace) -> int:
    from server.timestamps import iso

    store = await _open_store(args)
    try:
        rooms = await store.list_rooms()
    finally:
        await store.close()
    if args.json:
        for room in rooms:
            print(
                json.dumps(
                    {
                        "room": room.id,
                        "code": room.code,
                        "title": room.title,
                        "created": iso(room.created),
                        "participants": room.participants,
                        "updates_in_log": room.updates_in_log,
                        "stored_bytes": room.stored_bytes,
                    },
                    ensure_ascii=False,
                )
            )
        return 0
    if not rooms:
        print("no rooms yet")
        return 0
    print(f"{'ROOM':<13} {'CODE':<7} {'CREATED':<25} {'PEOPLE':>6} {'BYTES':>9}  TITLE")
    for room in rooms:
        print(
            f"{room.id:<13} {room.code:<7} {iso(room.created):<25} "
            f"{room.participants:>6} {room.stored_bytes:>9}  {room.title}"
        )
    return 0


async def _export(args: argparse.Namespace) -> int:
    from server.exports import export_stored
    from server.reports import FORMATS, render

    if FORMATS[args.format].binary and not args.output and sys.stdout.isatty():
        print(f"koprade: {args.format} is binary: give -o FILE or redirect", file=sys.stderr)
        return 2
    store = await _open_store(args)
    try:
        document = await export_stored(store, args.room, args.snapshot)
    finally:
        await store.close()
    if document is None:
        what = f"snapshot {args.snapshot} of room" if args.snapshot is not None else "room"
        print(f"koprade: no {what} {args.room!r}", file=sys.stderr)
        return 1
    content = render(args.format, document, args.lang)
    if args.output:
        args.output.write_bytes(content)
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    return 0


async def _import(args: argparse.Namespace) -> int:
    from server import safejson
    from server.crdt.settings import MAX_TITLE_LENGTH
    from server.creation import import_room
    from server.fields import MAX_NAME_LENGTH
    from server.reports import InvalidExport, read_export
    from server.tokens import TokenSigner, load_or_create_secret

    try:
        raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
        board = read_export(safejson.loads(raw))
    except OSError as exc:
        print(f"koprade: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    except ValueError as exc:  # not JSON, or InvalidExport
        where = f" ({exc.field})" if isinstance(exc, InvalidExport) else ""
        print(f"koprade: {args.file} is not a board export{where}: {exc}", file=sys.stderr)
        return 1
    title = " ".join((args.title or board.title).split())[:MAX_TITLE_LENGTH]
    name = " ".join(args.name.split())[:MAX_NAME_LENGTH] or "Facilitator"
    if not title:
        print("koprade: the export has no room title: give --title", file=sys.stderr)
        return 1
    store = await _open_store(args)
    try:
        record, participant = await import_room(store, board, title, name)
    finally:
        await store.close()
    signer = TokenSigner(load_or_create_secret(args.data_dir, args.secret))
    token = signer.issue(record.id, participant, name, "facilitator")
    base = args.public_url.rstrip("/")
    print(f"room: {record.id}")
    print(f"code: {record.code}")
    print(f"cards: {len(board.cards)}, clusters: {len(board.clusters)}")
    print(f"join_url: {base}/join/{record.code}")
    print(f"facilitator_url: {base}/room/{record.id}#token={token}")
    return 0


async def _purge(args: argparse.Namespace) -> int:
    """Delete closed rooms whose last activity is older than the retention period."""
    from server.sessions.retention import closed_rooms_past_retention
    from server.timestamps import iso

    if args.retention_days <= 0:
        print(
            "koprade: no retention period set (--retention-days or KOPRADE_RETENTION_DAYS); "
            "nothing deleted",
            file=sys.stderr,
        )
        return 1
    store = await _open_store(args)
    try:
        found = await closed_rooms_past_retention(store, args.retention_days)
        for candidate in found:
            if not args.dry_run:
                await store.delete_room(candidate.room.id)
            print(
                f"{'would delete' if args.dry_run else 'deleted'} {candidate.room.id} "
                f"{candidate.room.code} (closed, last activity {iso(candidate.last_activity)}, "
                f"{candidate.snapshots} snapshots, {candidate.private_boards} private boards): "
                f"{candidate.room.title}"
            )
    finally:
        await store.close()
    print(
        f"{len(found)} closed rooms {'to delete' if args.dry_run else 'deleted'} "
        f"(no activity for {args.retention_days} days)"
    )
    return 0
