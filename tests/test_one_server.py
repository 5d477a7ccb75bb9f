"""One server per data directory and per shared database; a busy port (issue 10, part 4).

Real `koprade serve` processes: a second one is refused with the holder named and a non-zero
exit before anything says it listens, a kill -9 never leaves a lock that blocks a restart,
and read commands keep working beside a running server.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.serving import EXPIRY_SECONDS, HEARTBEAT_SECONDS, process_start
from server.storage.serving import ServingRecord, ServingStore
from server.storage.store import Store
from tests.support.cli import koprade
from tests.support.servers import ServerProcess

#: A refused server exits at once; one that is not refused would serve until this runs out.
REFUSAL_TIMEOUT = 30


def serve_expecting_refusal(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return koprade("serve", "--host", "127.0.0.1", *args, timeout=REFUSAL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the second server was not refused; it ran for {REFUSAL_TIMEOUT} s: {exc}")


def assert_refused_before_listening(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "listening on" not in output.lower()
    assert "koprade.app 'ready'" not in output  # the app's log line once storage is open
    assert "Traceback" not in output


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path).start()
    try:
        assert first.process is not None
        second = serve_expecting_refusal("--port", "0", "--data-dir", str(tmp_path))
        assert_refused_before_listening(second)
        assert f"PID {first.process.pid}" in second.stderr
        assert str(tmp_path) in second.stderr
        # CLI read commands open the data directory beside the running server.
        listing = koprade("rooms", "list", "--data-dir", str(tmp_path))
        assert listing.returncode == 0, listing.stderr
    finally:
        first.kill()


def test_kill_9_leaves_no_stale_lock(tmp_path: Path) -> None:
    for _ in range(3):
        server = ServerProcess(tmp_path).start()
        server.kill()  # SIGKILL: no cleanup of any kind runs
    last = ServerProcess(tmp_path).start()
    assert last.terminate()


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve_expecting_refusal("--port", str(port), "--data-dir", str(tmp_path))
    assert_refused_before_listening(result)
    assert f"port {port}" in result.stderr and "--port" in result.stderr


# -- a shared database (PostgreSQL) -----------------------------------------------------------


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    return postgres_database


async def _serving_row(url: str) -> ServingRecord | None:
    store = Store(url)
    await store.open()
    try:
        rows = ServingStore(store)
        await rows.ensure_table()
        return await rows.holder()
    finally:
        await store.close()


async def _clear_serving_row(url: str) -> None:
    store = Store(url)
    await store.open()
    try:
        rows = ServingStore(store)
        await rows.ensure_table()
        holder = await rows.holder()
        if holder is not None:
            await rows.release(holder.instance)
    finally:
        await store.close()


async def _put_serving_row(url: str, record: ServingRecord) -> None:
    """Make `record` the holder, as if another server had claimed the database."""
    await _clear_serving_row(url)
    store = Store(url)
    await store.open()
    try:
        assert await ServingStore(store).insert(record)
    finally:
        await store.close()


async def test_a_second_server_on_a_shared_database_is_refused(
    tmp_path: Path, postgres_url: str
) -> None:
    first = ServerProcess(tmp_path / "a", postgres_url).start()
    try:
        assert first.process is not None
        info = await first.create_room("Kopīga datubāze")
        second = await asyncio.to_thread(
            serve_expecting_refusal,
            "--port", "0", "--data-dir", str(tmp_path / "b"), "--database-url", postgres_url,
        )  # fmt: skip
        assert_refused_before_listening(second)
        assert f"PID {first.process.pid} on host {socket.gethostname()}" in second.stderr
        row = await _serving_row(postgres_url)
        assert row is not None and row.pid == first.process.pid

        # Read commands are no servers: they work beside the running one.
        for command in (
            ("rooms", "list"),
            ("stats", "--json"),
            ("export", info.room, "--format", "json"),
        ):
            result = await asyncio.to_thread(
                koprade, *command, "--data-dir", str(tmp_path / "c"), "--database-url", postgres_url
            )
            assert result.returncode == 0, result.stderr

        # kill -9: the row stays, but its PID is dead on this host, so a restart takes over.
        first.kill()
        restarted = ServerProcess(tmp_path / "b", postgres_url).start()
        assert restarted.process is not None
        row = await _serving_row(postgres_url)
        assert row is not None and row.pid == restarted.process.pid
        assert restarted.terminate()
        assert await _serving_row(postgres_url) is None  # a clean stop frees the database
    finally:
        first.kill()


async def test_another_hosts_server_is_refused_until_its_heartbeat_expires(
    tmp_path: Path, postgres_url: str
) -> None:
    now = datetime.now(UTC)
    alive = ServingRecord("lab-server-2", 4242, "other-instance", now, now)
    await _put_serving_row(postgres_url, alive)
    try:
        refused = await asyncio.to_thread(
            serve_expecting_refusal,
            "--port", "0", "--data-dir", str(tmp_path), "--database-url", postgres_url,
        )  # fmt: skip
        assert_refused_before_listening(refused)
        assert "PID 4242 on host lab-server-2" in refused.stderr

        stale = now - timedelta(seconds=EXPIRY_SECONDS + 5)
        await _put_serving_row(
            postgres_url, ServingRecord("lab-server-2", 4242, "other-instance", stale, stale)
        )
        server = ServerProcess(tmp_path, postgres_url).start()
        try:
            row = await _serving_row(postgres_url)
            assert row is not None and row.host == socket.gethostname()
            assert any("took over the database" in line for line in server.output)
        finally:
            assert server.terminate()
    finally:
        await _clear_serving_row(postgres_url)  # leave no foreign row behind


async def test_a_server_whose_row_was_taken_over_stops(tmp_path: Path, postgres_url: str) -> None:
    """A server cut off from the database for longer than the expiry may have been replaced:
    once it sees another instance in the row, it stops instead of serving beside it."""
    server = ServerProcess(tmp_path, postgres_url).start()
    try:
        assert server.process is not None
        now = datetime.now(UTC)
        await _put_serving_row(
            postgres_url, ServingRecord("lab-server-2", 4242, "the-new-one", now, now)
        )
        await asyncio.to_thread(server.process.wait, HEARTBEAT_SECONDS * 4)
        assert server._pump is not None
        server._pump.join(10)  # the last lines are read once the pipe closes
        assert any("another server took over this database" in line for line in server.output)
    finally:
        server.kill()
        await _clear_serving_row(postgres_url)


async def test_a_reused_pid_on_this_host_does_not_block_a_restart(
    tmp_path: Path, postgres_url: str
) -> None:
    """After a kill -9 the kernel may hand the dead server's PID to another process: the row
    names the process by PID and start, so that one is not mistaken for the server."""
    now = datetime.now(UTC)
    alive_pid = os.getpid()  # a process that runs: this test
    host = socket.gethostname()
    real = ServingRecord(host, alive_pid, "this-test", now, now, process_start(alive_pid))
    await _put_serving_row(postgres_url, real)
    try:
        refused = await asyncio.to_thread(
            serve_expecting_refusal,
            "--port", "0", "--data-dir", str(tmp_path), "--database-url", postgres_url,
        )  # fmt: skip
        assert_refused_before_listening(refused)
        assert f"PID {alive_pid} on host {host}" in refused.stderr

        reused = ServingRecord(host, alive_pid, "crashed-server", now, now, "old-boot:12345")
        await _put_serving_row(postgres_url, reused)
        server = ServerProcess(tmp_path, postgres_url).start()
        assert server.terminate()
    finally:
        await _clear_serving_row(postgres_url)
