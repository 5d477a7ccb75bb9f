"""`/healthz` in cluster mode: which node answers, and whether its Redis does.

A real private redis-server is killed, paused and restarted under a running server: the
server answers 503 `redis_unavailable` while Redis does not answer, and 200 again once it
does, without a restart of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio

from server.config import Settings
from tests.support.cluster import RedisServer
from tests.support.servers import InProcessServer

pytestmark = pytest.mark.cluster


async def healthz(server: InProcessServer, query: str = "") -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        return await http.get("/healthz" + query)


async def poll_healthz(server: InProcessServer, status: int, timeout: float) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (response := await healthz(server)).status_code != status:
        assert loop.time() < deadline, f"healthz still {response.status_code}: {response.text}"
        await asyncio.sleep(0.05)
    return response


@pytest.fixture
async def node(
    settings: Settings, private_redis: RedisServer, fresh_postgres_url: str
) -> AsyncIterator[InProcessServer]:
    cluster_settings = Settings(
        data_dir=settings.data_dir,
        database_url=fresh_postgres_url,
        secret="cluster-test-secret-0123456789abcdef",
        organizer_key="cluster-test-organizer-key",
        redis_url=private_redis.url,
        node_id="node7",
        log_level="warning",
    )
    running = await InProcessServer(cluster_settings).start()
    try:
        yield running
    finally:
        await running.stop()


async def test_healthz_names_the_node_and_checks_redis(
    node: InProcessServer, private_redis: RedisServer
) -> None:
    assert node.services.redis is not None  # one client for the process, on Services
    response = await healthz(node)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "node": "node7"}

    private_redis.kill()
    down = await poll_healthz(node, 503, timeout=10)
    body = down.json()
    assert body["status"] == "unavailable" and body["error"] == "redis_unavailable"
    assert body["node"] == "node7" and "Redis" in body["message"]

    private_redis.restart()  # same port: the client reconnects by itself
    assert (await poll_healthz(node, 200, timeout=15)).json()["node"] == "node7"


async def test_a_redis_that_hangs_is_reported_within_the_timeout(
    node: InProcessServer, private_redis: RedisServer
) -> None:
    assert (await healthz(node)).status_code == 200
    private_redis.pause()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await healthz(node)
        assert loop.time() - started < 5
        assert response.status_code == 503
        assert "did not answer within 1 s" in response.json()["message"]
    finally:
        private_redis.resume()
    await poll_healthz(node, 200, timeout=15)


async def test_deep_healthz_checks_that_redis_takes_writes(
    node: InProcessServer, private_redis: RedisServer
) -> None:
    response = await healthz(node, "?deep")
    assert response.status_code == 200, response.text
    client = redis.asyncio.Redis.from_url(private_redis.url)
    try:
        assert await client.exists("koprade:health:node7")
        assert 0 < await client.ttl("koprade:health:node7") <= 60
        # A Redis that refuses writes (here: full, with no eviction) still answers PING.
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", "1")
        assert (await healthz(node)).status_code == 200
        deep = await healthz(node, "?deep")
        assert deep.status_code == 503
        assert deep.json()["error"] == "redis_unavailable"
        assert "OutOfMemoryError" in deep.json()["message"]
    finally:
        await client.config_set("maxmemory", "0")
        await client.aclose()
