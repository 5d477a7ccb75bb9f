"""The multi-process test harness itself (tests/support/cluster.py).

The proxy is a fair round robin that skips refusing backends and copies bytes both ways;
the private Redis dies and comes back on its port; three cluster-mode nodes start at the
same instant on a brand-new database (they race to create the schema) and all serve.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import redis.asyncio

from tests.support.cluster import Cluster, RedisServer, RoundRobinProxy

pytestmark = pytest.mark.cluster

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def backends(count: int) -> AsyncIterator[list[asyncio.Server]]:
    """`count` TCP servers on free ports; each answers "<index>:" + what it got, then closes."""

    def answer(index: int) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read(100)
            writer.write(f"{index}:".encode() + data)
            await writer.drain()
            writer.close()

        return handle

    servers = [await asyncio.start_server(answer(i), "127.0.0.1", 0) for i in range(count)]
    try:
        yield servers
    finally:
        for server in servers:
            server.close()


def address(server: asyncio.Server) -> tuple[str, int]:
    host, port = server.sockets[0].getsockname()[:2]
    return host, port


async def ask(proxy: RoundRobinProxy, text: str = "hello") -> str:
    """One new connection through the proxy: send, read until the backend closes."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", proxy.port), 5)
    writer.write(text.encode())
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)  # until EOF: the proxy closed us too
    writer.close()
    return answer.decode()


async def test_the_proxy_hands_connections_round_robin() -> None:
    async with backends(3) as servers, RoundRobinProxy([address(s) for s in servers]) as proxy:
        answers = [await ask(proxy, f"n{i}") for i in range(9)]
    assert [answer.split(":")[0] for answer in answers] == ["0", "1", "2"] * 3
    assert answers[4] == "1:n4"  # the bytes went there and back
    assert proxy.counts == [3, 3, 3]


async def test_the_proxy_skips_a_backend_that_refuses() -> None:
    async with backends(3) as servers, RoundRobinProxy([address(s) for s in servers]) as proxy:
        servers[1].close()
        await servers[1].wait_closed()
        answers = Counter([(await ask(proxy)).split(":")[0] for _ in range(8)])
    assert answers == {"0": 4, "2": 4}
    assert proxy.counts[1] == 0


async def test_the_proxy_copies_large_streams_both_ways() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        async with RoundRobinProxy([address(server)]) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            payload = os.urandom(3 * 1024 * 1024)

            async def send() -> None:
                writer.write(payload)
                await writer.drain()

            sending = asyncio.ensure_future(send())
            received = await asyncio.wait_for(reader.readexactly(len(payload)), 20)
            await sending
            assert received == payload
            writer.close()
    finally:
        server.close()


async def test_the_proxy_closes_the_client_when_the_backend_goes() -> None:
    async with backends(1) as servers, RoundRobinProxy([address(servers[0])]) as proxy:
        assert await ask(proxy, "x") == "0:x"  # `ask` reads to EOF: the close came through
        servers[0].close()
        await servers[0].wait_closed()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # nobody to hand it to
        writer.close()


async def test_the_private_redis_dies_and_comes_back_on_its_port(
    private_redis: RedisServer,
) -> None:
    port = private_redis.port
    client = redis.asyncio.Redis.from_url(private_redis.url, socket_connect_timeout=2)
    try:
        assert await client.set("k", "v")
        private_redis.kill()
        assert not private_redis.ping()
        with pytest.raises(redis.ConnectionError):
            await client.get("k")
        private_redis.restart()
        assert private_redis.port == port and private_redis.ping()
        assert await client.get("k") is None  # it keeps nothing: a new, empty Redis
        private_redis.pause()
        assert not private_redis.ping(timeout=0.3)
        private_redis.resume()
        assert private_redis.ping()
    finally:
        await client.aclose()


async def healthz(url: str) -> httpx.Response:
    """GET /healthz on a new connection (a new client: nothing is kept alive)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return await http.get("/healthz")


async def test_three_nodes_start_at_once_on_a_new_database(cluster: Cluster) -> None:
    # `cluster` started the three at the same time on an empty database: all had to
    # create or find the schema (PostgreSQL's advisory lock makes them take turns).
    for index, url in enumerate(cluster.node_urls):
        response = await healthz(url)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ok", "node": f"node{index + 1}"}
    through_proxy = [(await healthz(cluster.url)).json()["node"] for _ in range(6)]
    assert sorted(through_proxy) == ["node1", "node1", "node2", "node2", "node3", "node3"]
    # One database, one secret and one organizer key: a room made through one node is
    # there for all of them.
    info = await cluster.create_room("Across nodes")
    for url in cluster.node_urls:
        async with httpx.AsyncClient(base_url=url) as http:
            joined = await http.post("/api/join", json={"code": info.code, "name": "Ilze"})
        assert joined.status_code == 200, joined.text


async def test_nodes_can_be_killed_paused_and_restarted(cluster: Cluster) -> None:
    cluster.kill(1)
    seen = {(await healthz(cluster.url)).json()["node"] for _ in range(6)}
    assert seen == {"node1", "node3"}  # the proxy skips the dead node's refused port

    restarted = await cluster.restart(1)
    assert restarted is cluster.nodes[1] and restarted.port == cluster.ports[1]
    assert (await healthz(cluster.node_urls[1])).json()["node"] == "node2"

    cluster.pause(2)
    with pytest.raises(httpx.TimeoutException):
        async with httpx.AsyncClient(base_url=cluster.node_urls[2], timeout=0.5) as http:
            await http.get("/healthz")
    cluster.resume(2)
    assert (await healthz(cluster.node_urls[2])).status_code == 200

    assert await cluster.terminate(0)  # a graceful stop reports that all is stored
