"""The join flow over HTTP against the real server."""

from __future__ import annotations

from dataclasses import replace

import httpx
from pycrdt import Map

from server.config import Settings
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


async def test_create_join_summary_and_export(server: InProcessServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        created = await http.post(
            "/api/rooms", json={"title": "  Senioru  mobilitāte ", "name": "Ilze"}
        )
        assert created.status_code == 201
        room = created.json()
        assert room["title"] == "Senioru mobilitāte"
        assert len(room["code"]) == 6
        assert room["join_url"] == f"{server.url}/join/{room['code']}"
        assert room["facilitator_url"].startswith(f"{server.url}/room/{room['room']}#token=")

        joined = await http.post(
            "/api/join",
            json={"code": room["code"].lower()[:3] + "-" + room["code"][3:], "name": "Anna"},
        )
        assert joined.status_code == 200
        participant = joined.json()
        assert participant["room"] == room["room"]
        assert participant["role"] == "participant"

        client = await YClient(server.ws_url, room["room"], participant["token"]).connect()
        client.cards["c1"] = client.card("Benches at bus stops", x=5, y=6)
        await wait_until(
            lambda: len(server.services.rooms.rooms[room["room"]].doc.get("cards", type=Map)) == 1,
            message="card on the server",
        )
        summary = await http.get(
            f"/api/rooms/{room['room']}",
            headers={"authorization": f"Bearer {participant['token']}"},
        )
        assert summary.status_code == 200
        assert summary.json()["counts"] == {
            "cards": 1,
            "clusters": 0,
            "participants": 2,
            "connections": 1,
        }
        forbidden = await http.get(
            f"/api/rooms/{room['room']}/export", params={"token": participant["token"]}
        )
        assert (forbidden.status_code, forbidden.json()["error"]) == (403, "facilitator_only")
        exported = await http.get(
            f"/api/rooms/{room['room']}/export",
            headers={"authorization": f"Bearer {room['facilitator_token']}"},
        )
        assert exported.status_code == 200
        body = exported.json()
        assert body["format"] == "koprade-board" and body["version"] == 2
        assert body["room"]["title"] == "Senioru mobilitāte"
        assert body["cards"] == [
            {"id": "c1", "text": "Benches at bus stops", "x": 5, "y": 6, "color": "#ffd966",
             "author": participant["participant"]}
        ]  # fmt: skip
        await client.close()


async def test_organizer_key_guards_room_creation(settings: Settings) -> None:
    server = await InProcessServer(replace(settings, organizer_key="lab-key-123")).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            missing = await http.post("/api/rooms", json={"title": "x"})
            wrong = await http.post(
                "/api/rooms", json={"title": "x"}, headers={"x-organizer-key": "nope"}
            )
            right = await http.post(
                "/api/rooms", json={"title": "x"}, headers={"x-organizer-key": "lab-key-123"}
            )
            in_body = await http.post(
                "/api/rooms", json={"title": "x", "organizer_key": "lab-key-123"}
            )
        assert (missing.status_code, missing.json()["error"]) == (401, "organizer_key_required")
        assert (wrong.status_code, wrong.json()["error"]) == (403, "organizer_key_invalid")
        assert right.status_code == 201 and in_body.status_code == 201
    finally:
        await server.stop()


async def test_health_and_security_headers(server: InProcessServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        health = await http.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert "default-src 'self'" in health.headers["content-security-policy"]
    assert health.headers["x-content-type-options"] == "nosniff"
