"""`koprade serve` refuses cluster settings that cannot work: status 2, one line, no traceback.

Real `koprade serve` processes; none of them gets as far as listening. The rules themselves
are unit-tested in tests/unit/test_cluster_config.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.cli import koprade

pytestmark = pytest.mark.cluster

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SECRET = "a-shared-secret-0123456789"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def refused(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = koprade(
        "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path), *args,
        env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "listening" not in result.stdout.lower()
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("koprade: error: "), result.stderr
    assert not (tmp_path / "secret.key").exists() and not (tmp_path / "koprade.lock").exists()
    return lines[0]


def test_workers_without_cluster_mode(tmp_path: Path) -> None:
    message = refused(tmp_path, "--workers", "3")
    assert "--workers 3 needs cluster mode" in message


def test_cluster_mode_on_sqlite(tmp_path: Path) -> None:
    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    message = refused(tmp_path, env={"KOPRADE_REDIS_URL": redis_url})
    assert "PostgreSQL" in message and "every process must see the same rows" in message


def test_cluster_mode_without_a_shared_secret(tmp_path: Path) -> None:
    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    message = refused(tmp_path, "--redis-url", redis_url, "--database-url", POSTGRES)
    assert "--secret" in message and "would fail on another" in message


def test_cluster_mode_with_an_unreachable_redis(tmp_path: Path) -> None:
    port = closed_port()
    message = refused(
        tmp_path,
        "--redis-url", f"redis://koprade:hunter2@127.0.0.1:{port}/0",
        "--database-url", POSTGRES,
        "--organizer-key", "the-labs-key",
        env={"KOPRADE_SECRET": SECRET},
    )  # fmt: skip
    assert f"cannot reach Redis at redis://koprade:***@127.0.0.1:{port}/0" in message
    assert "hunter2" not in message
