"""`koprade serve --workers N`: N serving processes on one port, under a small supervisor.

One Koprade process runs on one core. With `--workers N` (cluster mode only: the processes
share their rooms through Redis and PostgreSQL, docs/cluster.md) this process becomes a
supervisor that

* binds the listening socket once and hands it to N worker processes (`koprade serve
  --workers 1`, each with its own node id), which all accept connections from it;
* prints one line per worker with its PID and node id, then one `Koprade listening on URL`
  line once every worker is ready;
* restarts a worker that exits while nobody asked it to, after a pause that doubles with
  each quick failure (BACKOFF_FIRST up to BACKOFF_MAX; a worker that ran STABLE_AFTER
  seconds starts from BACKOFF_FIRST again), logging why;
* on SIGTERM or SIGINT sends SIGTERM to every worker, waits for their graceful shutdown
  (at most STOP_TIMEOUT, then SIGKILL) and exits.

One shared socket, not SO_REUSEPORT: the supervisor binds it as a single server does
(`listening_socket`), so a busy port is refused with the same one line before any worker
starts, `--port 0` works (the port is known once, before the workers start), and
connections waiting in the socket's queue survive a worker that dies, because the other
workers accept from the same queue. With SO_REUSEPORT each worker would have its own queue:
the kernel resets the connections queued at a worker that dies, and any other process of
the same user could bind into the group and take a share of the connections. uvicorn serves
an inherited socket as it is (`sockets=`), which is also how its own `--workers` works. The
kernel wakes the workers that wait in `accept`, so an idle worker tends to take the next
connection: load spreads by what each worker is doing, not round robin.

The workers get the supervisor's settings as `KOPRADE_*` environment variables (not as
arguments, which every user of the machine can read in the process list), run in their own
process group (a Ctrl-C in the terminal reaches only the supervisor, which stops them in
order) and stop by themselves if the supervisor dies (Linux: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

from server.config import Settings
from server.logs import configure_logging
from server.serve import StartupRefused, listening_socket

log = logging.getLogger("koprade.workers")

#: How long all workers together may take to start (open storage, reach Redis).
STARTUP_TIMEOUT = 120.0
#: How long the workers may take to stop gracefully before they are killed.
STOP_TIMEOUT = 30.0
#: The pause before restarting a worker that exited, doubling up to BACKOFF_MAX.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
#: A worker that ran this long is restarted after BACKOFF_FIRST again.
STABLE_AFTER = 30.0
#: How often the supervisor looks at its workers.
POLL_SECONDS = 0.1

_LISTENING = re.compile(r"Koprade listening on \S+(?: \(node (?P<node>\S+)\))?")
_PR_SET_PDEATHSIG = 1


def settings_environment(settings: Settings) -> dict[str, str | None]:
    """Every setting as its `KOPRADE_*` variable (None: unset), as the command line reads it."""
    return {
        f"KOPRADE_{item.name.upper()}": None if value is None else str(value)
        for item in dataclasses.fields(settings)
        for value in (getattr(settings, item.name),)
    }


def worker_environment(settings: Settings, node_id: str | None) -> dict[str, str]:
    """The environment of a worker: this one, with the settings of one worker process."""
    variables = settings_environment(dataclasses.replace(settings, workers=1, node_id=node_id))
    env = {name: value for name, value in os.environ.items() if name not in variables}
    env.update({name: value for name, value in variables.items() if value is not None})
    env["PYTHONUNBUFFERED"] = "1"  # its announcement must reach the supervisor at once
    return env


@dataclass
class Worker:
    """One worker slot (1..N) and the process that currently fills it."""

    slot: int
    process: subprocess.Popen[str] | None = None
    node: str | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    announced: bool = False
    started: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float = 0.0
    reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Runs N workers on one listening socket until SIGTERM or SIGINT."""

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        self.settings = settings
        self.sock = sock
        self.workers = [Worker(slot) for slot in range(1, settings.workers + 1)]
        self.stopping = threading.Event()
        self._print_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    def run(self) -> int:
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            for worker in self.workers:
                self._spawn(worker)
            if not self._wait_until_ready():
                return 0 if self.stopping.is_set() else 1
            for worker in self.workers:
                self._announce(worker)
            self._print(f"Koprade listening on {self.url} ({len(self.workers)} workers)")
            self._watch()
            return 0
        finally:
            self._stop_all()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping.is_set():
            log.info("%s: stopping the workers", signal.Signals(signum).name)
        self.stopping.set()

    def _node_id(self, worker: Worker) -> str | None:
        """A given --node-id is a prefix: `<prefix>-<slot>-<4 hex>`, new on every start
        (a restarted worker is a new node; its predecessor's leases expire). Without one,
        each worker generates its own `<host>-<pid>-<4 hex>`."""
        if self.settings.node_id is None:
            return None
        return f"{self.settings.node_id}-{worker.slot}-{os.urandom(2).hex()}"

    def _spawn(self, worker: Worker) -> None:
        """Start the worker's process (from the main thread only: PR_SET_PDEATHSIG fires
        when the thread that started a child ends)."""
        fd = self.sock.fileno()
        command = [
            sys.executable, "-m", "server", "serve", "--workers", "1",
            "--listen-fd", str(fd), "--worker-of", str(os.getpid()),
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            env=worker_environment(self.settings, self._node_id(worker)),
            pass_fds=(fd,),
            process_group=0,
        )
        worker.process = process
        worker.node = None
        worker.ready = threading.Event()
        worker.announced = False
        worker.started = time.monotonic()
        worker.reader = threading.Thread(
            target=self._read, args=(worker, process), name=f"worker-{worker.slot}", daemon=True
        )
        worker.reader.start()

    def _read(self, worker: Worker, process: subprocess.Popen[str]) -> None:
        """Pass the worker's output on; its `listening` line says it is ready."""
        assert process.stdout is not None
        for line in process.stdout:
            found = _LISTENING.match(line)
            if found and not worker.ready.is_set():
                worker.node = found.group("node")
                worker.ready.set()
            else:
                self._print(line.rstrip("\n"))

    def _print(self, line: str) -> None:
        with self._print_lock:
            print(line, flush=True)

    def _announce(self, worker: Worker) -> None:
        node = f", node {worker.node}" if worker.node else ""
        again = f" (restart {worker.restarts})" if worker.restarts else ""
        self._print(
            f"Koprade worker {worker.slot} of {len(self.workers)}: PID {worker.pid}{node}{again}"
        )
        worker.announced = True

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.stopping.is_set():
            if all(worker.ready.is_set() for worker in self.workers):
                return True
            for worker in self.workers:
                assert worker.process is not None
                status = worker.process.poll()
                if status is not None and not worker.ready.is_set():
                    print(
                        f"koprade: worker {worker.slot} (PID {worker.pid}) exited while "
                        f"starting ({_describe(status)}); stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    return False
            if time.monotonic() > deadline:
                print(
                    f"koprade: the workers did not all start within {STARTUP_TIMEOUT:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                return False
            self.stopping.wait(POLL_SECONDS)
        return False

    def _watch(self) -> None:
        """Restart workers that exit, until asked to stop."""
        while not self.stopping.is_set():
            now = time.monotonic()
            for worker in self.workers:
                if worker.process is not None:
                    status = worker.process.poll()
                    if status is None:
                        if worker.ready.is_set() and not worker.announced:
                            self._announce(worker)
                        continue
                    self._exited(worker, status, now)
                elif now >= worker.restart_at:
                    worker.restarts += 1
                    self._spawn(worker)
            self.stopping.wait(POLL_SECONDS)

    def _exited(self, worker: Worker, status: int, now: float) -> None:
        ran = now - worker.started
        if ran >= STABLE_AFTER or worker.backoff == 0:
            worker.backoff = BACKOFF_FIRST
        else:
            worker.backoff = min(BACKOFF_MAX, worker.backoff * 2)
        worker.restart_at = now + worker.backoff
        log.warning(
            "worker %d (PID %s, node %s) exited (%s) after %.1f s; restarting it in %.1f s",
            worker.slot,
            worker.pid,
            worker.node or "-",
            _describe(status),
            ran,
            worker.backoff,
        )
        worker.process = None

    def _stop_all(self) -> None:
        """SIGTERM to every worker, wait (bounded), SIGKILL what is left."""
        running = [worker for worker in self.workers if worker.running]
        for worker in running:
            assert worker.process is not None
            _signal(worker.process, signal.SIGTERM)
            _signal(worker.process, signal.SIGCONT)  # a stopped process handles it only then
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in running:
            assert worker.process is not None
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error(
                    "worker %d (PID %s) did not stop within %.0f s: killing it",
                    worker.slot,
                    worker.pid,
                    STOP_TIMEOUT,
                )
                worker.process.kill()
                worker.process.wait(10)
        for worker in self.workers:
            if worker.reader is not None:
                worker.reader.join(5)  # the last lines are read once the pipe closes


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _signal(process: subprocess.Popen[str], sig: signal.Signals) -> None:
    try:
        process.send_signal(sig)
    except ProcessLookupError:  # it has just exited
        pass


def _describe(status: int) -> str:
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exit status {status}"


def supervise(settings: Settings) -> int:
    """Run `settings.workers` worker processes on one port until SIGTERM or SIGINT.

    The settings were checked (`check_cluster_settings`). Exit status 1 when the port is
    busy or a worker fails to start, 0 after a requested stop.
    """
    configure_logging(settings.log_level, settings.log_format)
    try:
        sock = listening_socket(settings.host, settings.port)
    except StartupRefused as exc:
        print(f"koprade: {exc}", file=sys.stderr, flush=True)
        return 1
    with sock:
        return Supervisor(settings, sock).run()


def stop_with_supervisor(supervisor_pid: int) -> None:
    """In a worker: receive SIGTERM when the supervisor dies, however it dies (Linux).

    If it is already gone (it died before this ran), stop now. Elsewhere a worker
    outlives a supervisor that was killed with SIGKILL; stop those by hand.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        log.debug("no PR_SET_PDEATHSIG here: this worker outlives a killed supervisor")
    if os.getppid() != supervisor_pid:
        log.error("the supervisor (PID %d) is gone: not starting", supervisor_pid)
        os.kill(os.getpid(), signal.SIGTERM)
