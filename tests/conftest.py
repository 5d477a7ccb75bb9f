"""Shared fixtures: real servers, real databases.

PostgreSQL: the tests use the local server at 127.0.0.1:5432 (user postgres, trust auth),
each run in a database of its own. Outside CI they skip with a clear message when it is
unreachable; with CI=true they fail instead, because CI must test PostgreSQL for real.

Cluster mode (tests/support/cluster.py): `private_redis` is a redis-server of the test's
own, `fresh_postgres_url` a brand-new database, `cluster` three nodes on both behind a
round-robin proxy. Without /usr/bin/redis-server they skip (CI=true: they fail).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.config import Settings
from tests.support import postgres
from tests.support.cluster import REDIS_SERVER, Cluster, RedisServer
from tests.support.postgres import IN_CI, POSTGRES_ADMIN_URL, fresh_postgres_database
from tests.support.servers import InProcessServer

__all__ = ["IN_CI", "POSTGRES_ADMIN_URL"]  # some tests import them from here

# The names this file always had, for tests that use them.
_admin = postgres.admin
_postgres_unavailable = postgres.postgres_unavailable


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; yields its SQLAlchemy URL."""
    name = asyncio.run(postgres.create_database())
    yield postgres.database_url(name)
    asyncio.run(postgres.drop_database(name))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """Run a test against the embedded SQLite default and against PostgreSQL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        secret="test-secret-0123456789abcdef",
        room_idle_seconds=0.2,
        log_level="warning",
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[InProcessServer]:
    running = await InProcessServer(settings).start()
    try:
        yield running
    finally:
        await running.stop()


def require_redis_server() -> None:
    """Skip the test when redis-server is not installed; in CI, fail it."""
    if REDIS_SERVER.exists():
        return
    message = f"{REDIS_SERVER} is not installed (Debian's package redis-server)"
    if IN_CI:
        pytest.fail(message + " (CI=true: cluster tests must run)")
    pytest.skip(message)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own on a free port, to kill and restart at will."""
    require_redis_server()
    with RedisServer() as redis:
        yield redis


@pytest.fixture
async def fresh_postgres_url() -> AsyncIterator[str]:
    """A brand-new PostgreSQL database for this test (dropped after it)."""
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def cluster(
    private_redis: RedisServer, fresh_postgres_url: str, tmp_path: Path
) -> AsyncIterator[Cluster]:
    """Three cluster-mode nodes (node1..node3) on a private Redis and a fresh database,
    behind a round-robin proxy (`cluster.url`); stopped after the test."""
    async with Cluster(
        3, redis_url=private_redis.url, database_url=fresh_postgres_url, base_dir=tmp_path
    ) as running:
        yield running
