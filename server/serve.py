"""Running the app under uvicorn, with limits that agree with the app's own."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from server.app import create_app
from server.cluster.config import with_node_id
from server.config import Settings
from server.datadir_lock import DataDirectoryInUse, DataDirLock
from server.logs import configure_logging
from server.rooms.connection import CLOSE_TOO_SLOW, DIRECT_SEND
from server.services import Services
from server.serving import DatabaseInUse, ServingClaim
from server.storage.store import StorageError

log = logging.getLogger("koprade.serve")


class DirectSendProtocol(WebSocketsSansIOProtocol):
    """uvicorn's Sans-I/O WebSocket protocol plus a synchronous send for the room's fan-out.

    ASGI's `send` is a coroutine, so every message would cost the sending connection a
    task wake-up and a stack of awaits even though the socket almost always takes the
    bytes at once. This protocol offers, as the ASGI scope extension `DIRECT_SEND`, a plain
    function that writes one binary message right away when the socket can take it without
    waiting, and says no otherwise (transport paused by backpressure, closing, closed).
    `Connection` calls it from the relay and falls back to its outbox and writer task when
    it says no, so slow clients are still bounded and closed with 4408 as before.

    A relay hands the same bytes object to every connection of a room, so the frame
    around it (RFC 6455: unmasked, unfragmented, no extension negotiated) is built once and
    reused for the other connections (`_frame`).
    """

    # The last payload framed and its frame, shared by all connections of the process.
    _framed: tuple[bytes, bytes] | None = None

    #: Close reason when a keepalive ping goes unanswered (docs/protocol.md, close codes).
    KEEPALIVE_REASON = "too slow: keepalive ping timeout"

    def keepalive_timeout(self) -> None:
        """A ping went unanswered: close with 4408, like a client too slow to read.

        uvicorn closes with 1011 here, the code Koprade keeps for its own bugs; a client
        that stopped reading (or vanished) is the client's condition, and reconnecting is
        the cure, as for a send-queue overflow. Mirrors uvicorn's method otherwise.
        """
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.close_sent or self.transport.is_closing():
            return
        log.info("closing a WebSocket whose keepalive ping went unanswered")
        self.conn.fail(CLOSE_TOO_SLOW, self.KEEPALIVE_REASON)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # only set when the upgrade is accepted
        if scope is not None:
            scope["extensions"][DIRECT_SEND] = {"send_bytes": self.send_bytes_now}

    def send_bytes_now(self, data: bytes) -> bool:
        """Write one binary message now; False if that would have to wait or cannot be done.

        Mirrors the `websocket.send` branch of `send()` minus its `await writable.wait()`.
        """
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        conn = self.conn
        if conn.state is not State.OPEN or conn.expect_continuation_frame:
            return False  # e.g. the peer's close frame was already parsed
        if conn.extensions:  # a negotiated extension (compression) transforms frames
            conn.send_binary(data)
            self.transport.write(b"".join(conn.data_to_send()))
            return True
        self.transport.write(self._frame(data))
        return True

    @classmethod
    def _frame(cls, data: bytes) -> bytes:
        """The binary frame carrying ``data``, built once per payload."""
        framed = cls._framed
        if framed is not None and framed[0] is data:
            return framed[1]
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x82, length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x82, 126, length)
        else:
            header = struct.pack("!BBQ", 0x82, 127, length)
        frame = header + data
        cls._framed = (data, frame)
        return frame


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # uvicorn's own Sans-I/O implementation on the `websockets` protocol library, with
        # the synchronous send the fan-out uses (above).
        ws=DirectSendProtocol,
        # uvicorn closes larger frames with 1009 before they reach the app.
        ws_max_size=settings.max_message_size,
        # Compression costs CPU per connection per message; Yjs updates are small binaries
        # and one relay is sent to every connection as the same bytes.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval_seconds or None,
        ws_ping_timeout=settings.ws_ping_timeout_seconds or None,
        lifespan="on",
        # uvloop (a dependency through uvicorn[standard]) when importable, else asyncio's own
        # loop. Only `run()` below uses it: `serve()` runs in whatever loop it is awaited in.
        loop="auto",
        log_config=None,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )


class AnnouncingServer(uvicorn.Server):
    """Prints the real URL once bound: with --port 0 the port is only known then.

    With a `ServingClaim` (a shared database) it keeps the claim's heartbeat while serving
    and frees the claim on shutdown.
    """

    def __init__(self, config: uvicorn.Config, serving: ServingClaim | None = None) -> None:
        super().__init__(config)
        self.serving = serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            node = self._node_id()
            suffix = f" (node {node})" if node else ""
            print(f"Koprade listening on {self.url}{suffix}", flush=True)
            self._announce_organizer_link()
            if self.serving is not None:
                self.serving.start(on_lost=self._stop)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self.serving is not None:
            await self.serving.release()

    def _stop(self) -> None:
        self.should_exit = True

    def _services(self) -> Services | None:
        # uvicorn types `config.app` as any ASGI app or import string; ours is the Starlette
        # app `uvicorn_config` built, whose state holds the Services (or not yet).
        app = self.config.app
        return getattr(app.state, "koprade", None) if isinstance(app, Starlette) else None

    def _node_id(self) -> str | None:
        """This process's node id in cluster mode (docs/cluster.md), else None."""
        services = self._services()
        if services is None or not services.settings.cluster:
            return None
        return services.settings.node_id

    def _announce_organizer_link(self) -> None:
        """The start page's link with the generated key, as Jupyter prints its token."""
        services = self._services()
        if services is None or not services.organizer.generated:
            return
        base = (services.settings.public_url or self._local_url()).rstrip("/")
        print(
            f"Organizer link (lab data and templates; keep it private): "
            f"{base}/#key={services.organizer.key}",
            flush=True,
        )

    def _local_url(self) -> str:
        """The URL as a browser on this machine opens it: bound to every interface
        (0.0.0.0, ::), the server is reached on loopback; browsers refuse 0.0.0.0 itself."""
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        if ipaddress.ip_address(host).is_unspecified:
            host = "127.0.0.1" if ":" not in host else "[::1]"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"


class StartupRefused(Exception):
    """The server must not start; the message says why and what to do."""


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound, listening socket, or StartupRefused naming a busy port.

    Bound here, before the app starts, so a busy port is one clear line and a non-zero exit
    before anything says "ready" (uvicorn would open storage first, then log a bare OSError).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise StartupRefused(f"cannot listen on {host}: {exc}") from exc
    try:
        # Like uvicorn: a restarted server may rebind while old connections linger in
        # TIME_WAIT; a port another process listens on still fails (Linux, macOS).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupRefused(
                f"port {port} on {host} is already in use by another program; "
                f"stop it or choose another port with --port (e.g. --port {port + 1})"
            ) from exc
        raise StartupRefused(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def inherited_socket(fd: int) -> socket.socket:
    """The listening socket a `--workers` supervisor bound and handed down as `fd`."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise StartupRefused(f"no listening socket on file descriptor {fd}: {exc}") from exc
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
    ):
        sock.detach()
        raise StartupRefused(f"file descriptor {fd} is not a listening TCP socket")
    return sock


@contextlib.contextmanager
def exclusive_startup(
    settings: Settings, listen_fd: int | None = None
) -> Iterator[tuple[socket.socket, ServingClaim | None]]:
    """The data directory's lock, the listening socket and (shared database) the serving row.

    In this order, so that the most telling refusal comes first: a second server on the
    same data directory usually also wants the same port.

    Cluster mode (docs/cluster.md) takes neither the lock nor the serving row: there, many
    processes serve one database (each room has one owner, by its lease), and processes on
    one machine may share a data directory. `listen_fd` is the socket a `--workers`
    supervisor bound for all its workers (server/workers.py).
    """
    lock = None if settings.cluster else DataDirLock(settings.data_dir)
    if lock is not None:
        try:
            lock.acquire()
        except DataDirectoryInUse as exc:
            raise StartupRefused(str(exc)) from exc
    claim: ServingClaim | None = None
    sock: socket.socket | None = None
    try:
        if listen_fd is not None:
            sock = inherited_socket(listen_fd)
        else:
            sock = listening_socket(settings.host, settings.port)
        if settings.database_url and not settings.cluster:
            claim = ServingClaim(settings.database_url)
            try:
                asyncio.run(claim.acquire())
            except (DatabaseInUse, StorageError) as exc:
                raise StartupRefused(str(exc)) from exc
        yield sock, claim
    finally:
        if claim is not None and claim.held:  # startup failed before the server freed it
            asyncio.run(claim.release())
        if sock is not None:
            sock.close()
        if lock is not None:
            lock.release()


def run(settings: Settings, listen_fd: int | None = None, supervisor_pid: int | None = None) -> int:
    """Serve until SIGINT/SIGTERM in a new event loop of uvicorn's choice (uvloop if installed).

    uvloop's transports and scheduler do the per-frame work (one socket write per message
    per client, the wake-ups) in C; on the many-rooms benchmark that cut the server's CPU
    per delivered update by 10-16 % in back-to-back runs (docs/benchmarks.md).

    Refuses to start (exit status 1, one line on stderr) when another server holds the data
    directory or the shared database, or the port is busy.

    `listen_fd` and `supervisor_pid`: this is a worker of `koprade serve --workers N`
    (server/workers.py), serving the supervisor's socket and stopping when it dies.
    """
    configure_logging(settings.log_level, settings.log_format)
    if supervisor_pid is not None:
        from server.workers import stop_with_supervisor

        stop_with_supervisor(supervisor_pid)
    settings = with_node_id(settings)
    try:
        with exclusive_startup(settings, listen_fd) as (sock, claim):
            server = AnnouncingServer(uvicorn_config(settings), serving=claim)
            server.run(sockets=[sock])
            return 0 if server.started else 1
    except StartupRefused as exc:
        print(f"koprade: {exc}", file=sys.stderr, flush=True)
        return 1


async def serve(settings: Settings) -> int:
    """Serve in the running event loop (for embedding; the command line uses `run`)."""
    configure_logging(settings.log_level, settings.log_format)
    server = AnnouncingServer(uvicorn_config(settings))
    await server.serve()
    return 0 if server.started else 1
