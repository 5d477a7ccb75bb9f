"""`koprade serve --workers N`: N processes on one port, restarted when they die.

A real supervisor with two workers on a private Redis and a brand-new PostgreSQL database:
both workers answer on the one port, a worker killed with SIGKILL is replaced, and SIGTERM
to the supervisor stops every worker gracefully.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from server.workers import BACKOFF_FIRST
from tests.support.cli import koprade
from tests.support.cluster import Cluster, RedisServer
from tests.support.servers import ServerProcess
from tests.support.yclient import wait_until

pytestmark = pytest.mark.cluster

WORKER_LINE = re.compile(
    r"Koprade worker (?P<slot>\d+) of (?P<of>\d+): PID (?P<pid>\d+), node (?P<node>\S+)"
)


def workers(server: ServerProcess) -> dict[int, tuple[int, str]]:
    """The latest PID and node id announced for each worker slot."""
    found: dict[int, tuple[int, str]] = {}
    for line in list(server.output):
        if match := WORKER_LINE.search(line):
            found[int(match["slot"])] = (int(match["pid"]), match["node"])
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def serving_table(database_url: str) -> str | None:
    """The serving-row table (server/serving.py), if anything created it."""
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        found: str | None = await connection.fetchval("SELECT to_regclass('koprade_serving')")
        return found
    finally:
        await connection.close()


async def nodes_answering(url: str, want: set[str], tries: int = 200) -> set[str]:
    """Which nodes answer /healthz over new connections, until all of `want` did (bounded)."""
    seen: set[str] = set()
    for _ in range(tries):
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:  # a new connection
            response = await http.get("/healthz")
        assert response.status_code == 200, response.text
        seen.add(response.json()["node"])
        if want <= seen:
            break
    return seen


async def test_workers_share_one_port_and_are_restarted(
    private_redis: RedisServer, fresh_postgres_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(
        tmp_path,
        fresh_postgres_url,
        "--workers", "2",
        "--redis-url", private_redis.url,
        "--secret", Cluster.SECRET,
        "--organizer-key", Cluster.ORGANIZER_KEY,
    )  # fmt: skip
    started: list[int] = []
    try:
        server.start(timeout=90)
        assert server.process is not None
        announced = workers(server)
        assert sorted(announced) == [1, 2]
        started = [pid for pid, _ in announced.values()]
        assert server.process.pid not in started and all(alive(pid) for pid in started)
        listening = [line for line in server.output if "Koprade listening on" in line]
        assert len(listening) == 1 and "(2 workers)" in listening[0]

        # Both workers serve the one port: new connections reach each within bounded tries.
        nodes = {node for _, node in announced.values()}
        assert len(nodes) == 2
        assert await nodes_answering(server.url, nodes) == nodes

        # kill -9 one worker: the supervisor starts another in its slot.
        old_pid, old_node = announced[2]
        os.kill(old_pid, signal.SIGKILL)
        await wait_until(
            lambda: workers(server)[2][0] != old_pid, 60 + BACKOFF_FIRST, "worker 2's restart"
        )
        new_pid, new_node = workers(server)[2]
        started.append(new_pid)
        assert alive(new_pid) and new_node != old_node
        assert any("(restart 1)" in line for line in server.output)
        assert any("worker 2" in line and "SIGKILL" in line for line in server.output)
        replaced = {announced[1][1], new_node}
        assert await nodes_answering(server.url, replaced) == replaced

        # Shared data directory, no lock, no generated files, no serving row.
        assert not (tmp_path / "secret.key").exists()
        assert not (tmp_path / "organizer.key").exists()
        assert not (tmp_path / "koprade.lock").exists()
        assert await serving_table(fresh_postgres_url) is None

        # SIGTERM to the supervisor stops every worker, gracefully.
        assert server.terminate(timeout=60)
        stored = [line for line in server.output if "all accepted updates are stored" in line]
        assert len(stored) == 2
        await wait_until(lambda: not any(alive(pid) for pid in started), 10, "workers gone")
    finally:
        server.kill()
        for pid in started:  # only if the supervisor did not stop them
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_workers_stop_when_the_supervisor_is_killed(
    private_redis: RedisServer, fresh_postgres_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(
        tmp_path,
        fresh_postgres_url,
        "--workers", "2",
        "--redis-url", private_redis.url,
        "--secret", Cluster.SECRET,
        "--organizer-key", Cluster.ORGANIZER_KEY,
    )  # fmt: skip
    pids: list[int] = []
    try:
        server.start(timeout=90)
        pids = [pid for pid, _ in workers(server).values()]
        assert len(pids) == 2
        server.kill()  # SIGKILL: the supervisor cannot stop them itself
        await wait_until(lambda: not any(alive(pid) for pid in pids), 30, "orphans gone")
    finally:
        server.kill()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_a_busy_port_refuses_the_supervisor(
    private_redis: RedisServer, fresh_postgres_url: str, tmp_path: Path
) -> None:
    blocker = ServerProcess(tmp_path / "single").start()
    try:
        result = await asyncio.to_thread(
            koprade,
            "serve", "--host", "127.0.0.1", "--port", str(blocker.port),
            "--data-dir", str(tmp_path / "cluster"),
            "--database-url", fresh_postgres_url,
            "--workers", "2",
            "--redis-url", private_redis.url,
            "--secret", Cluster.SECRET,
            "--organizer-key", Cluster.ORGANIZER_KEY,
            timeout=60,
        )  # fmt: skip
        assert result.returncode == 1
        assert f"port {blocker.port} on 127.0.0.1 is already in use" in result.stderr
        assert "Koprade worker" not in result.stdout and "Traceback" not in result.stderr
    finally:
        blocker.kill()
