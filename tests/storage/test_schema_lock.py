"""Several processes opening one brand-new PostgreSQL database at the same instant.

Without the advisory lock around schema creation they race on PostgreSQL's catalog
(`duplicate key value violates unique constraint "pg_type_typname_nsp_index"`) or on the
version row, and all but one crash. With it, one creates the schema and the others wait,
then find it finished.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from server.storage.schema import SCHEMA_VERSION

from .conftest import POSTGRES_URL, _postgres_unavailable

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 3
ROUNDS = 3

# Each process imports everything, then sleeps until the shared start time and opens the
# store, so the three opens begin within a few milliseconds of each other.
OPEN_AT = """
import asyncio, sys, time
from server.storage.store import Store

async def main(url: str, start: float) -> None:
    store = Store(url)
    await asyncio.sleep(max(0.0, start - time.time()))
    await store.open()
    await store.close()

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""


@pytest.fixture
async def admin() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(POSTGRES_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        await engine.dispose()
        _postgres_unavailable(f"PostgreSQL unreachable: {exc}")
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_processes_opening_a_new_database_at_once_all_succeed(admin: AsyncEngine) -> None:
    engine = admin
    for round_ in range(ROUNDS):
        name = f"koprade_t_open_{uuid.uuid4().hex}"
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(POSTGRES_URL).set(database=name)
            url_text = url.render_as_string(hide_password=False)
            start = time.time() + 2.0  # enough for every process to import the server
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            procs = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-c",
                    OPEN_AT,
                    url_text,
                    repr(start),
                    cwd=REPO,
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                for _ in range(PROCESSES)
            ]
            failures = []
            for proc in procs:
                try:
                    async with asyncio.timeout(60):
                        _, raw = await proc.communicate()
                except TimeoutError:
                    proc.kill()
                    _, raw = await proc.communicate()
                if proc.returncode != 0:
                    err = raw.decode(errors="replace")
                    errors = [line for line in err.splitlines() if "Error" in line]
                    failures.append((errors or err.splitlines() or ["(no output)"])[-1][:300])
            assert not failures, f"round {round_ + 1}: {len(failures)} of 3 failed: {failures}"

            check = create_async_engine(url, poolclass=NullPool)
            try:
                async with check.connect() as conn:
                    versions = (
                        await conn.execute(text("SELECT id, version FROM koprade_schema_version"))
                    ).all()
            finally:
                await check.dispose()
            assert [tuple(v) for v in versions] == [(1, SCHEMA_VERSION)]
        finally:
            async with engine.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
