"""In-process cluster nodes: real uvicorn apps on one PostgreSQL database and one Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from server.config import Settings
from tests.support.servers import InProcessServer

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def nodes(
    postgres_database: str, settings: Settings, tmp_path: Path
) -> AsyncIterator[list[InProcessServer]]:
    base = replace(settings, database_url=postgres_database, redis_url=REDIS_URL)
    run = secrets.token_hex(4)  # node ids unique across concurrent test runs on one Redis
    servers = [
        await InProcessServer(
            replace(base, data_dir=tmp_path / f"node{i}", node_id=f"test-node{i}-{run}")
        ).start()
        for i in (1, 2, 3)
    ]
    try:
        yield servers
    finally:
        for server in servers:
            await server.stop()
