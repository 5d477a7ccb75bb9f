"""/healthz and the metrics tell when the group commit keeps failing (issue 10, part 3).

Before the fix /healthz answered "ok" as long as a `SELECT 1` worked, while every commit
of document updates failed. The failure here is real: a second SQLite connection holds
the database's write lock (as another process would), so the writer's commits fail with
"database is locked" after the busy timeout while reads still work.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.support.servers import InProcessServer
from tests.support.sqlite import write_lock
from tests.support.yclient import YClient, wait_until
from tests.test_metrics import scrape

FAILURES = ("koprade_commit_consecutive_failures", ())


async def healthz(server: InProcessServer) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.get("/healthz")


async def poll_healthz(server: InProcessServer, status: int, timeout: float) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (response := await healthz(server)).status_code != status:
        assert loop.time() < deadline, f"healthz still {response.status_code}: {response.text}"
        await asyncio.sleep(0.05)
    return response


async def test_healthz_and_metrics_report_failing_commits(server: InProcessServer) -> None:
    info = await server.create_room("Health")
    client = await YClient(server.ws_url, info.room, info.token).connect()
    assert (await healthz(server)).json() == {"status": "ok"}
    assert (await scrape(server))[FAILURES] == 0

    with write_lock(server.settings.data_dir / "koprade.sqlite3"):
        client.cards["c1"] = client.card("cannot be stored yet")
        # The first failure comes after SQLite's 5 s busy timeout: poll, bounded.
        last = await poll_healthz(server, 503, timeout=20)
        body = last.json()
        assert body["status"] == "unavailable"
        assert "storing updates failed" in body["message"]
        assert "database is locked" in body["message"]
        assert (await scrape(server))[FAILURES] >= 1
        assert server.services.rooms.writer.pending_count() >= 1

    # The lock is gone: the retry stores the card and health comes back.
    await wait_until(
        lambda: server.services.rooms.writer.pending_count() == 0, 30, "the retried commit"
    )
    assert (await poll_healthz(server, 200, timeout=10)).json() == {"status": "ok"}
    assert (await scrape(server))[FAILURES] == 0
    await client.close()
