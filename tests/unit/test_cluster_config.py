"""Cluster mode's startup checks and settings (server/cluster/config.py, server/workers.py)."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from server.cli import build_parser, settings_from
from server.cluster.config import (
    NODE_ID_PATTERN,
    ConfigError,
    check_cluster_settings,
    check_redis,
    default_node_id,
    redact_url,
    with_node_id,
)
from server.config import Settings
from server.workers import settings_environment, worker_environment

CLUSTER = Settings(
    redis_url="redis://127.0.0.1:6379/0",
    database_url="postgresql+asyncpg://koprade@db.example/koprade",
    secret="a-shared-secret-0123456789",
    organizer_key="the-labs-key",
)


def refusal(settings: Settings) -> str:
    with pytest.raises(ConfigError) as caught:
        check_cluster_settings(settings, ping_redis=False)
    message = str(caught.value)
    assert "\n" not in message  # one line for `koprade: error: ...`
    return message


def test_the_single_process_default_passes_unchanged() -> None:
    assert not Settings().cluster
    check_cluster_settings(Settings())  # no Redis is contacted outside cluster mode
    assert with_node_id(Settings()).node_id is None


def test_a_complete_cluster_configuration_passes() -> None:
    assert CLUSTER.cluster
    check_cluster_settings(CLUSTER, ping_redis=False)
    check_cluster_settings(replace(CLUSTER, workers=4, node_id="lab-1.a_b"), ping_redis=False)


def test_workers_need_cluster_mode() -> None:
    assert "needs cluster mode" in refusal(Settings(workers=2))
    assert "--redis-url" in refusal(Settings(workers=2))
    assert "at least 1" in refusal(replace(CLUSTER, workers=0))


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        (None, "needs a PostgreSQL --database-url"),
        ("sqlite+aiosqlite:///shared.sqlite3", "cannot use SQLite"),
        ("postgresql://koprade@db/koprade", "postgresql+asyncpg://"),
        ("mysql+aiomysql://koprade@db/koprade", "postgresql+asyncpg://"),
        ("not a url", "not a database URL"),
    ],
)
def test_cluster_mode_needs_postgresql(database_url: str | None, expected: str) -> None:
    message = refusal(replace(CLUSTER, database_url=database_url))
    assert expected in message
    if database_url is None or "sqlite" in database_url:
        assert "every process must see the same rows" in message


def test_cluster_mode_needs_an_explicit_secret_and_organizer_key() -> None:
    message = refusal(replace(CLUSTER, secret=None))
    assert "--secret" in message and "KOPRADE_SECRET" in message
    assert "token issued by one process would fail on another" in message
    assert "at least 16 bytes" in refusal(replace(CLUSTER, secret="short"))
    message = refusal(replace(CLUSTER, organizer_key=None))
    assert "--organizer-key" in message and "KOPRADE_ORGANIZER_KEY" in message


@pytest.mark.parametrize("node_id", ["", "-lead", "a b", "a/b", "x" * 101, "ü"])
def test_a_node_id_names_a_redis_key_and_a_lease_row(node_id: str) -> None:
    assert "not a valid node id" in refusal(replace(CLUSTER, node_id=node_id))


def test_the_default_node_id_is_host_pid_and_random() -> None:
    first, second = default_node_id(), default_node_id()
    assert first != second
    assert NODE_ID_PATTERN.fullmatch(first)
    assert re.fullmatch(rf".+-{os.getpid()}-[0-9a-f]{{4}}", first)
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:10]
    assert first.startswith(host.strip(".-_")[:10])
    assert with_node_id(CLUSTER).node_id is not None
    assert with_node_id(replace(CLUSTER, node_id="given")).node_id == "given"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
        ("rediss://koprade:hunter2@redis.example/1", "rediss://koprade:***@redis.example/1"),
        ("redis://[::1]:6379/0?password=hunter2&db=2", "redis://[::1]:6379/0?password=***&db=2"),
        ("redis://u:hunter2@[::1]:6379", "redis://u:***@[::1]:6379"),
        ("unix:///run/redis.sock?password=hunter2", "unix:///run/redis.sock?password=***"),
    ],
)
def test_redis_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_an_unreachable_redis_is_named_without_its_password() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigError) as caught:
        check_redis(f"redis://koprade:hunter2@127.0.0.1:{port}/0", timeout=1)
    message = str(caught.value)
    assert f"cannot reach Redis at redis://koprade:***@127.0.0.1:{port}/0" in message
    assert "hunter2" not in message
    with pytest.raises(ConfigError, match="not a Redis URL"):
        check_redis("http://127.0.0.1:1/", timeout=1)


def test_workers_get_every_setting_through_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a `--workers` supervisor hands its workers reads back as the same settings."""
    settings = replace(
        CLUSTER,
        host="0.0.0.0",
        port=8123,
        workers=3,
        data_dir=tmp_path / "data",
        public_url="https://koprade.example.lv",
        max_message_size=1234,
        commit_interval_ms=50,
        compact_after=77,
        room_idle_seconds=0.25,
        fanout_interval_ms=2.5,
        send_queue_bytes=999,
        send_queue_messages=12,
        ws_ping_interval_seconds=0,
        ws_ping_timeout_seconds=1.5,
        retention_days=30,
        node_id="lab",
        log_level="warning",
        log_format="json",
    )
    for name in os.environ:
        if name.startswith("KOPRADE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KOPRADE_PUBLIC_URL", "https://stale.example")
    env = worker_environment(settings, node_id="lab-2-abcd")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = build_parser().parse_args(["serve"])
    assert settings_from(args) == replace(settings, workers=1, node_id="lab-2-abcd")

    # A setting that is None is unset in the worker, even if the supervisor's env had it.
    env = worker_environment(replace(settings, public_url=None), node_id=None)
    assert "KOPRADE_PUBLIC_URL" not in env and "KOPRADE_NODE_ID" not in env
    assert set(settings_environment(settings)) == {
        f"KOPRADE_{name.upper()}" for name in Settings.__dataclass_fields__
    }
