"""Multi-process tests of cluster mode: a private Redis, a plain load balancer, N nodes.

* `RedisServer`: a `redis-server` of the test's own on a free loopback port, to kill and
  restart without disturbing the shared Redis at 127.0.0.1:6379 (other tests use it).
* `RoundRobinProxy`: a TCP proxy that hands each new connection to the next backend in
  turn, like a plain L4 load balancer without stickiness or health checks; a backend that
  refuses the connection is skipped.
* `Cluster`: N `koprade serve` processes in cluster mode (one Redis, one PostgreSQL
  database, one secret and organizer key, node ids node1..nodeN) behind such a proxy; kill,
  pause, resume and restart a node; always cleaned up on leaving its `async with`.

The fixtures `private_redis`, `fresh_postgres_url` and `cluster` (tests/conftest.py) build
these for a test; `fresh_postgres_database` is in tests/support/postgres.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.support.servers import ApiMixin, ServerProcess

REDIS_SERVER = Path("/usr/bin/redis-server")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (another program may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A private `redis-server` on 127.0.0.1:<port>: nothing saved, nothing shared.

    `start()` waits (bounded) until it answers PING; `kill()` is SIGKILL; `restart()` starts
    it again on the same port, empty (it keeps nothing on disk).
    """

    def __init__(self, port: int | None = None, *, binary: Path = REDIS_SERVER) -> None:
        self.binary = binary
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10) -> RedisServer:
        """Start it and wait for PING; a port taken meanwhile is replaced (unless fixed)."""
        for attempt in range(3):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if self._fixed_port or attempt == 2:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> RedisServer:
        assert not self.running, "this Redis is already running"
        self._close_log()
        self._log = tempfile.TemporaryFile()
        command = [
            str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", tempfile.gettempdir(), "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None:
                log = self.log()
                if "Address already in use" in log:
                    raise PortTaken(self.port)
                raise RuntimeError(f"redis-server on port {self.port} exited:\n{log}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer PING within {timeout} s")
            time.sleep(0.02)
        return self

    def ping(self, timeout: float = 1.0) -> bool:
        """Whether it answers PING now (a raw RESP round trip, no client state)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash: clients see their connections reset."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM and wait (SIGKILL after `timeout`)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a hung Redis)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def restart(self, timeout: float = 10) -> RedisServer:
        """Kill it if it runs, then start it again on the same port (empty)."""
        self.kill()
        self._fixed_port = True
        return self.start(timeout)

    def log(self) -> str:
        """What the server printed since its last start."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.kill()  # SIGKILL also ends a paused (SIGSTOP) process
        self._close_log()


class PortTaken(RuntimeError):
    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} is already in use")


class RoundRobinProxy:
    """A TCP proxy on 127.0.0.1:<free port> that spreads new connections over backends.

    Each new client connection goes to the next backend in turn (round robin, no
    stickiness: a client's next connection may land anywhere). A backend that refuses the
    connection (or does not accept it within CONNECT_TIMEOUT) is skipped for the next one;
    when all refuse, the client's connection is closed. Bytes are copied both ways as they
    come; when either side closes, both are closed. `counts[i]` is how many connections
    backend i was given. There are no health checks: a paused (SIGSTOP) backend's kernel
    still accepts connections, so it gets its turn, as behind a real L4 balancer.
    """

    CONNECT_TIMEOUT = 2.0

    def __init__(self, backends: Sequence[tuple[str, int]], host: str = "127.0.0.1") -> None:
        self.backends = list(backends)
        self.host = host
        self.port = 0
        self.counts = [0] * len(self.backends)
        self._next = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> RoundRobinProxy:
        self._server = await asyncio.start_server(self._client, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and close every proxied connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            upstream = await self._connect()
            if upstream is None:
                return
            up_reader, up_writer = upstream
            try:
                copies = [
                    asyncio.ensure_future(_copy(reader, up_writer)),
                    asyncio.ensure_future(_copy(up_reader, writer)),
                ]
                try:
                    await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for copy in copies:
                        copy.cancel()
                    await asyncio.gather(*copies, return_exceptions=True)
            finally:
                _close(up_writer)
        finally:
            _close(writer)
            self._tasks.discard(task)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next backend in turn that accepts, skipping those that refuse."""
        for _ in range(len(self.backends)):
            index = self._next % len(self.backends)
            self._next += 1
            host, port = self.backends[index]
            try:
                connection = await asyncio.wait_for(
                    asyncio.open_connection(host, port), self.CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                continue
            self.counts[index] += 1
            return connection
        return None

    async def __aenter__(self) -> RoundRobinProxy:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()


class Cluster(ApiMixin):
    """N `koprade serve` processes in cluster mode behind a `RoundRobinProxy`.

    Node i (0-based) is `nodes[i]`, a `ServerProcess` with node id `node{i+1}`, its own
    port and (unless `shared_data_dir`) its own data directory under `base_dir`. `url` is
    the proxy's: requests through it reach the nodes in turn, as through a load balancer;
    `node_urls[i]` reaches node i directly. Use it as `async with Cluster(...) as cluster`:
    the nodes and the proxy are stopped on the way out, also when the test failed.
    """

    create_with_key = True  # cluster mode needs a configured organizer key
    SECRET = "cluster-test-secret-0123456789abcdef"
    ORGANIZER_KEY = "cluster-test-organizer-key"

    def __init__(
        self,
        size: int = 3,
        *,
        redis_url: str,
        database_url: str,
        base_dir: Path,
        shared_data_dir: bool = False,
        secret: str = SECRET,
        organizer_key: str = ORGANIZER_KEY,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        start_timeout: float = 60,
    ) -> None:
        assert size >= 1
        self.redis_url = redis_url
        self.database_url = database_url
        self.base_dir = base_dir
        self.shared_data_dir = shared_data_dir
        self.secret = secret
        self._organizer_key = organizer_key
        self.extra_args = list(extra_args)
        self.env = env
        self.start_timeout = start_timeout
        self.node_ids = [f"node{i + 1}" for i in range(size)]
        self.nodes = [self._node(i, self.node_ids[i]) for i in range(size)]
        self.ports: list[int] = [0] * size
        self.paused: set[int] = set()
        self.proxy: RoundRobinProxy | None = None
        self.url = ""

    @property
    def organizer_key(self) -> str:
        return self._organizer_key

    @property
    def node_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def data_dir(self, index: int) -> Path:
        return self.base_dir / ("data" if self.shared_data_dir else self.node_ids[index])

    def _node(self, index: int, node_id: str) -> ServerProcess:
        return ServerProcess(
            self.data_dir(index),
            self.database_url,
            "--redis-url", self.redis_url,
            "--secret", self.secret,
            "--organizer-key", self._organizer_key,
            "--node-id", node_id,
            *self.extra_args,
            env=self.env,
        )  # fmt: skip

    async def start(self) -> Cluster:
        """Start every node at the same time (on a new database they race to create the
        schema), then the proxy; on a failure stop what started and raise."""
        try:
            await asyncio.gather(*(self._start_node(i, port=0) for i in range(len(self.nodes))))
            self.proxy = await RoundRobinProxy([("127.0.0.1", port) for port in self.ports]).start()
            self.url = self.proxy.url
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start_node(self, index: int, port: int) -> None:
        node = self.nodes[index]
        await asyncio.to_thread(node.start, port, self.start_timeout)
        self.ports[index] = node.port

    def pid(self, index: int) -> int:
        process = self.nodes[index].process
        assert process is not None
        return process.pid

    def kill(self, index: int) -> None:
        """SIGKILL node `index`: no shutdown, leases left to expire, sockets reset."""
        self.nodes[index].kill()
        self.paused.discard(index)

    def pause(self, index: int) -> None:
        """SIGSTOP node `index`: it keeps its sockets and leases but does nothing."""
        os.kill(self.pid(index), signal.SIGSTOP)
        self.paused.add(index)

    def resume(self, index: int) -> None:
        """SIGCONT node `index`."""
        os.kill(self.pid(index), signal.SIGCONT)
        self.paused.discard(index)

    async def terminate(self, index: int, timeout: float = 20) -> bool:
        """SIGTERM node `index` and wait; True if it reported a complete, graceful stop."""
        if index in self.paused:
            self.resume(index)
        return await asyncio.to_thread(self.nodes[index].terminate, timeout)

    async def restart(self, index: int, node_id: str | None = None) -> ServerProcess:
        """Kill node `index` if it runs and start it again on the same port (so the proxy
        reaches it again), with the same node id unless `node_id` is given. Replaces
        `nodes[index]`; the old object keeps the old process's output."""
        self.kill(index)
        if node_id is not None:
            self.node_ids[index] = node_id
        self.nodes[index] = self._node(index, self.node_ids[index])
        await self._start_node(index, port=self.ports[index])
        return self.nodes[index]

    async def stop(self) -> None:
        """Stop every node (SIGTERM, SIGKILL after 20 s) and the proxy; never raises for a
        node that is already gone."""
        await asyncio.gather(
            *(asyncio.to_thread(self._stop_node, i) for i in range(len(self.nodes))),
            return_exceptions=True,
        )
        if self.proxy is not None:
            await self.proxy.stop()
            self.proxy = None

    def _stop_node(self, index: int) -> None:
        node = self.nodes[index]
        if node.process is None or node.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.process.pid, signal.SIGCONT)  # a stopped process ignores SIGTERM
        self.paused.discard(index)
        try:
            node.terminate(20)
        except subprocess.TimeoutExpired:
            node.kill()

    async def __aenter__(self) -> Cluster:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
