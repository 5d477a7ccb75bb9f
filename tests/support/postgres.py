"""The local PostgreSQL for tests: its admin URL, and brand-new databases to run in.

The tests use the server at 127.0.0.1:5432 (user postgres, trust auth; KOPRADE_TEST_POSTGRES
overrides the admin URL). Outside CI they skip with a clear message when it is unreachable;
with CI=true they fail instead, because CI must test PostgreSQL for real.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "KOPRADE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def postgres_unavailable(reason: str) -> NoReturn:
    """Skip the test (fail it in CI): PostgreSQL cannot be used here."""
    message = f"PostgreSQL at {POSTGRES_ADMIN_URL} unreachable: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
    pytest.skip(message)


async def admin(statement: str) -> None:
    """Run one statement as the admin user, on a connection of its own."""
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def database_url(name: str) -> str:
    """The SQLAlchemy URL (asyncpg) of database `name` on the admin URL's server."""
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


async def create_database(prefix: str = "koprade_test_") -> str:
    """CREATE DATABASE with a unique name; returns the name (skips or fails if unreachable)."""
    name = prefix + secrets.token_hex(4)
    try:
        await admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # unreachable, refused, auth: all mean "cannot test here"
        postgres_unavailable(f"{exc.__class__.__name__}: {exc}")
    return name


async def drop_database(name: str) -> None:
    """DROP DATABASE ... WITH (FORCE): also ends the connections still open to it."""
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def fresh_postgres_database(prefix: str = "koprade_cluster_") -> AsyncIterator[str]:
    """A brand-new, empty database for one test; yields its `postgresql+asyncpg://` URL.

    Nothing has created Koprade's schema in it yet, so processes started on it race to
    create it, as a new deployment's do. It is dropped afterwards, whatever happened.
    """
    name = await create_database(prefix)
    try:
        yield database_url(name)
    finally:
        await drop_database(name)
