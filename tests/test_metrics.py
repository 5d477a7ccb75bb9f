"""Prometheus metrics at /metrics, from a real server doing real work."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pycrdt import Map

from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


async def scrape(server: InProcessServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_metrics_follow_rooms_connections_messages_and_errors(
    server: InProcessServer,
) -> None:
    info = await server.create_room("Metrics")
    anna = await server.join(info.code, "Anna")
    writer = await YClient(server.ws_url, info.room, anna["token"]).connect()
    watcher = await YClient(server.ws_url, info.room, info.token).connect()
    writer.cards["c1"] = writer.card("counted")
    await wait_until(lambda: "c1" in watcher.cards, message="the card at the watcher")

    figures = await scrape(server)
    assert figures[("koprade_rooms_loaded", ())] == 1
    assert figures[("koprade_connections", ())] == 2
    assert figures[("koprade_messages_received_total", (("type", "SyncUpdate"),))] >= 1
    assert figures[("koprade_messages_received_total", (("type", "SyncStep1"),))] >= 2
    assert figures[("koprade_frames_sent_total", ())] >= 1, "the relay to the watcher"
    assert figures[("koprade_fanout_delay_seconds_count", ())] >= 1
    await wait_until(
        lambda: server.services.rooms.writer.pending_count() == 0, message="the commit"
    )
    figures = await scrape(server)
    assert figures[("koprade_commit_seconds_count", ())] >= 1

    writer.doc.get("meta", type=Map)["phase"] = "closed"  # refused: server-only
    await writer.wait_closed()
    bad = await YClient(server.ws_url, info.room, info.token).connect()
    await bad.send_raw(b"\x07")
    await bad.wait_closed()
    figures = await scrape(server)
    assert figures[("koprade_errors_total", (("kind", "rejected_server-only"),))] == 1
    assert figures[("koprade_errors_total", (("kind", "bad_message"),))] == 1
    await wait_until(lambda: server.services.rooms.connection_count() == 1)
    assert (await scrape(server))[("koprade_connections", ())] == 1
    await watcher.close()
