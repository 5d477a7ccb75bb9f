"""Shared fixtures: real servers, real databases.

PostgreSQL: the tests use the local server at 127.0.0.1:5432 (user postgres, trust auth),
each run in a database of its own. Outside CI they skip with a clear message when it is
unreachable; with CI=true they fail instead, because CI must test PostgreSQL for real.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from server.config import Settings
from tests.support.servers import InProcessServer

POSTGRES_ADMIN_URL = os.environ.get(
    "KOPRADE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL at {POSTGRES_ADMIN_URL} unreachable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
    pytest.skip(message)


async def _admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; yields its SQLAlchemy URL."""
    name = "koprade_test_" + secrets.token_hex(4)
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable, refused, auth: all mean "cannot test here"
        _postgres_unavailable(f"{exc.__class__.__name__}: {exc}")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{base}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
