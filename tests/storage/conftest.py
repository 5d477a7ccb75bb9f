"""Fixtures running every storage test against real SQLite and real PostgreSQL.

PostgreSQL tests get a fresh schema each, so they can run in parallel against one
database and never see each other's rows. Outside CI an unreachable PostgreSQL is a
skip (laptops without it can still run the suite); in CI it is a failure, because a
skipped backend would silently stop being tested.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

try:
    import server  # noqa: F401
except ModuleNotFoundError:  # pragma: no cover - depends on how pytest is invoked
    # tests/ is not a package and the project is not installed in the venv, so the repo
    # root is not on sys.path under plain `pytest`; make `server` importable anyway.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.storage.store import Store

POSTGRES_URL = os.environ.get(
    "KOPRADE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@dataclass
class Database:
    """Where a test's store lives, so tests can open several stores on the same data."""

    kind: str
    url: str
    engine_options: dict[str, Any] = field(default_factory=dict)
    schema: str | None = None

    def make_store(self) -> Store:
        return Store(self.url, engine_options=self.engine_options)

    async def execute(self, sql: str) -> None:
        """Run admin SQL (e.g. sabotage for failure tests) on a separate connection."""
        engine = create_async_engine(self.url, poolclass=NullPool, **self.engine_options)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()


def _postgres_unavailable(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, empty database of each supported kind."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'koprade.sqlite3'}")
        return

    schema = f"koprade_t_{uuid.uuid4().hex}"
    admin = create_async_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        await admin.dispose()
        host = admin.url.host or "?"
        port = admin.url.port or 5432
        _postgres_unavailable(f"PostgreSQL at {host}:{port} unreachable: {exc}")
    try:
        yield Database(
            "postgres",
            POSTGRES_URL,
            {"connect_args": {"server_settings": {"search_path": schema}}},
            schema,
        )
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    """An opened store on a fresh database; closed after the test."""
    s = database.make_store()
    await s.open()
    try:
        yield s
    finally:
        await s.close()
