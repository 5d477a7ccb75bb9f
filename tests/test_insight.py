"""Participation insight for facilitators and the lab (server/insight.py)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import httpx
import pytest
from pycrdt import Map

from server.config import Settings
from server.insight import equality
from tests.support.cli import koprade
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


def test_equality_measure() -> None:
    assert equality([]) == {"topQuarterShare": None, "gini": None, "quarterSize": 0}
    assert equality([0, 0]) == {"topQuarterShare": None, "gini": None, "quarterSize": 0}
    even = equality([3, 3, 3, 3])
    assert even == {"topQuarterShare": 0.25, "gini": 0.0, "quarterSize": 1}
    one_voice = equality([12, 0, 0, 0, 0, 0, 0, 0])
    assert one_voice["topQuarterShare"] == 1.0 and one_voice["quarterSize"] == 2
    assert one_voice["gini"] == pytest.approx(0.875)


async def insight_of(server: InProcessServer, room: str, token: str) -> dict:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get(
            f"/api/rooms/{room}/insight", headers={"authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return response.json()


async def test_room_insight_counts_contributions(server: InProcessServer) -> None:
    info = await server.create_room("Insight", name="Ilze")
    people = [await server.join(info.code, name) for name in ("Anna", "Bob", "Carla", "Dace")]
    await server.join(info.code, "Projector", role="observer")
    clients = [await YClient(server.ws_url, info.room, p["token"]).connect() for p in people]
    anna, bob = clients[0], clients[1]
    for index in range(6):
        anna.cards[f"a{index}"] = anna.card(f"Anna's idea {index}")
    bob.cards["b0"] = bob.card("Bob's idea")
    await wait_until(
        lambda: len(server.services.rooms.rooms[info.room].doc.get("cards", type=Map)) == 7,
        message="all cards at the server",
    )

    figures = await insight_of(server, info.room, info.token)
    rows = {row["name"]: row for row in figures["participants"]}
    assert "Projector" not in rows, "observers are not contributors"
    assert rows["Anna"]["cards"] == 6 and rows["Anna"]["edits"] == 6
    assert rows["Bob"]["cards"] == 1 and rows["Carla"]["cards"] == 0
    assert rows["Anna"]["connected"] is True
    assert figures["participants"][0]["name"] == "Anna", "most active first"
    assert figures["totals"] == {
        "participants": 4,
        "cards": 7,
        "edits": 7,
        "votes": 0,
        "silent": 2,
    }
    assert figures["equality"]["topQuarterShare"] == pytest.approx(6 / 7, abs=0.001)

    async with httpx.AsyncClient(base_url=server.url) as http:
        refused = await http.get(
            f"/api/rooms/{info.room}/insight",
            headers={"authorization": f"Bearer {people[0]['token']}"},
        )
    assert refused.status_code == 403 and refused.json()["error"] == "facilitator_only"

    await server.ok(info.room, info.token, "settings", anonymous=True)
    hidden = await insight_of(server, info.room, info.token)
    assert all("name" not in row and "participant" not in row for row in hidden["participants"])
    assert [row["cards"] for row in hidden["participants"]][:2] == [6, 1]
    for client in clients:
        await client.close()


async def test_time_connected_is_stored_and_lab_stats(settings: Settings) -> None:
    server = await InProcessServer(settings).start()
    try:
        info = await server.create_room("Stats")
        anna = await server.join(info.code, "Anna")
        client = await YClient(server.ws_url, info.room, anna["token"]).connect()
        client.cards["a"] = client.card("idea")
        await wait_until(
            lambda: "a" in server.services.rooms.rooms[info.room].doc.get("cards", type=Map).keys()
        )
        await client.close()
        await wait_until(lambda: not server.services.rooms.connection_count(info.room))
        async with httpx.AsyncClient(base_url=server.url) as http:
            stats = (await http.get("/api/stats", headers=server.organizer_headers)).json()
        assert stats["rooms"] == 1 and stats["cards"] == 1 and stats["edits"] == 1
        assert stats["byRoom"][0]["title"] == "Stats"
    finally:
        await server.stop()

    # The CLI reads the same figures from the database after the server stopped.
    data_dir = str(settings.data_dir)
    done = await asyncio.to_thread(koprade, "stats", "--json", "--data-dir", data_dir)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["rooms"] == 1 and figures["participants"] == 1 and figures["edits"] == 1
    table = (await asyncio.to_thread(koprade, "stats", "--data-dir", data_dir)).stdout
    assert "1 rooms, 1 participants, 1 cards" in table
    assert "Stats" in table


async def test_lab_stats_need_the_organizer_key_when_set(settings: Settings) -> None:
    server = await InProcessServer(replace(settings, organizer_key="lab-key")).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/api/stats")).status_code == 401
            allowed = await http.get("/api/stats", headers={"x-organizer-key": "lab-key"})
        assert allowed.status_code == 200 and allowed.json()["rooms"] == 0
    finally:
        await server.stop()
