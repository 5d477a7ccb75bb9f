"""Lab-wide data behind the organizer key, and no guessing of join codes (issue 10, part 5).

Real servers on 127.0.0.1: the organizer key generated into the data directory, the failed-
join limit per address, closed and deleted rooms' codes, a facilitator's new join code.
"""

from __future__ import annotations

import asyncio
import stat
from dataclasses import replace
from pathlib import Path

import httpx

from server.config import Settings
from server.join_limiter import BURST, JoinLimiter
from tests.support.servers import InProcessServer, ServerProcess
from tests.support.yclient import wait_until


async def _save_template(server: InProcessServer) -> str:
    info = await server.create_room("Kopīgā metode")
    async with httpx.AsyncClient(base_url=server.url) as http:
        saved = await http.post(
            f"/api/rooms/{info.room}/templates",
            json={"name": "Mūsu darbnīca"},
            headers={"authorization": f"Bearer {info.token}"},
        )
    assert saved.status_code == 201, saved.text
    return str(saved.json()["id"])


async def test_lab_data_needs_the_generated_key_by_default(settings: Settings) -> None:
    assert settings.organizer_key is None  # the default: nobody configured a key
    server = await InProcessServer(settings).start()
    try:
        saved = await _save_template(server)
        key = server.organizer_key
        async with httpx.AsyncClient(base_url=server.url) as http:
            anonymous_stats = await http.get("/api/stats")
            wrong_stats = await http.get("/api/stats", headers={"x-organizer-key": "guess"})
            stats = await http.get("/api/stats", headers={"x-organizer-key": key})
            open_list = (await http.get("/api/templates")).json()["templates"]
            keyed_list = (
                await http.get("/api/templates", headers={"x-organizer-key": key})
            ).json()["templates"]
            open_view = await http.get(f"/api/templates/{saved}")
            keyed_view = await http.get(f"/api/templates/{saved}", headers={"x-organizer-key": key})
            bundled = await http.get("/api/templates/empathy-map")
            from_saved = await http.post("/api/rooms", json={"title": "x", "template": saved})
            from_saved_keyed = await http.post(
                "/api/rooms",
                json={"title": "x", "template": saved},
                headers={"x-organizer-key": key},
            )
            from_bundled = await http.post(
                "/api/rooms", json={"title": "x", "template": "empathy-map"}
            )
            status = (await http.get("/api/organizer")).json()
            keyed_status = (
                await http.get("/api/organizer", headers={"x-organizer-key": key})
            ).json()
    finally:
        await server.stop()

    assert (anonymous_stats.status_code, anonymous_stats.json()["error"]) == (
        401,
        "organizer_key_required",
    )
    assert anonymous_stats.json()["message"]
    assert (wrong_stats.status_code, wrong_stats.json()["error"]) == (403, "organizer_key_invalid")
    assert stats.status_code == 200 and stats.json()["rooms"] == 1
    assert saved not in [t["id"] for t in open_list]
    assert all(t["builtin"] for t in open_list) and open_list
    assert saved in [t["id"] for t in keyed_list]
    assert (open_view.status_code, open_view.json()["error"]) == (404, "template_not_found")
    assert keyed_view.status_code == 200
    assert bundled.status_code == 200
    assert (from_saved.status_code, from_saved.json()["error"]) == (404, "template_not_found")
    assert from_saved_keyed.status_code == 201
    assert from_bundled.status_code == 201  # creating rooms stays open on loopback
    assert status == {"keyRequiredToCreate": False, "keyAccepted": False}
    assert keyed_status == {"keyRequiredToCreate": False, "keyAccepted": True}

    # The key was generated into the data directory, readable by the owner only, and kept.
    key_file = settings.data_dir / "organizer.key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = await InProcessServer(settings).start()
    try:
        assert again.organizer_key == key
    finally:
        await again.stop()


async def test_room_creation_needs_the_key_beyond_loopback(settings: Settings) -> None:
    server = await InProcessServer(settings, app_host="0.0.0.0").start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            refused = await http.post("/api/rooms", json={"title": "Atvērts tīklam"})
            imported = await http.post(
                "/api/rooms/import",
                json={"version": 2, "room": {"title": "x"}, "cards": [], "clusters": []},
            )
            accepted = await http.post(
                "/api/rooms",
                json={"title": "Atvērts tīklam"},
                headers=server.organizer_headers,
            )
            status = (await http.get("/api/organizer")).json()
    finally:
        await server.stop()
    assert (refused.status_code, refused.json()["error"]) == (401, "organizer_key_required")
    assert (imported.status_code, imported.json()["error"]) == (401, "organizer_key_required")
    assert accepted.status_code == 201
    assert status == {"keyRequiredToCreate": True, "keyAccepted": False}


async def test_the_generated_key_is_printed_as_a_link_and_kept(tmp_path: Path) -> None:
    first = ServerProcess(tmp_path).start()
    try:
        await wait_until(lambda: any("#key=" in line for line in first.output), message="link")
        key = (tmp_path / "organizer.key").read_text().strip()
        assert (
            f"Organizer link (lab data and templates; keep it private): {first.url}/#key={key}\n"
            in first.output
        )
        async with httpx.AsyncClient(base_url=first.url) as http:
            assert (await http.get("/api/stats")).status_code == 401
            assert (
                await http.get("/api/stats", headers=first.organizer_headers)
            ).status_code == 200
    finally:
        first.terminate()
    second = ServerProcess(tmp_path).start()
    try:
        await wait_until(lambda: any("#key=" in line for line in second.output), message="link")
        assert any(line.rstrip().endswith(f"#key={key}") for line in second.output)
    finally:
        second.terminate()
    # A configured key is used as it is and not printed.
    configured = ServerProcess(tmp_path, None, "--organizer-key", "the-labs-own-key").start()
    try:
        async with httpx.AsyncClient(base_url=configured.url) as http:
            stats = await http.get("/api/stats", headers={"x-organizer-key": "the-labs-own-key"})
            assert stats.status_code == 200
            assert (
                await http.get("/api/stats", headers={"x-organizer-key": key})
            ).status_code == 403
    finally:
        configured.terminate()
    assert not any("the-labs-own-key" in line for line in configured.output)


# -- join codes ---------------------------------------------------------------------------------


async def _join(
    http: httpx.AsyncClient, code: str, name: str = "Anna", **extra: object
) -> httpx.Response:
    return await http.post("/api/join", json={"code": code, "name": name, **extra})


async def test_failed_joins_are_limited_per_address(server: InProcessServer) -> None:
    info = await server.create_room("Skenēšana")
    wrong = "ZZZZZZ" if info.code != "ZZZZZZ" else "YYYYYY"
    async with httpx.AsyncClient(base_url=server.url) as http:
        misses = [await _join(http, wrong) for _ in range(BURST)]
        limited = await _join(http, wrong)
        # While the address is over its budget a right code waits too: otherwise the 429s
        # and 200s would still tell a scanner which codes exist.
        right_while_limited = await _join(http, info.code)
    assert {r.status_code for r in misses} == {404}
    assert limited.status_code == 429
    body = limited.json()
    assert body["error"] == "too_many_failed_joins" and body["message"]
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 10 and body["retry_after"] == retry_after
    assert right_while_limited.status_code == 429

    # The budget refills with time (here: the limiter's clock moved on by Retry-After).
    limiter = server.services.join_limiter
    clock = limiter._clock
    limiter._clock = lambda: clock() + retry_after
    async with httpx.AsyncClient(base_url=server.url) as http:
        admitted = await _join(http, info.code)
    assert admitted.status_code == 200


async def test_bad_invites_count_as_failed_attempts(server: InProcessServer) -> None:
    info = await server.create_room("Ielūgumi")
    async with httpx.AsyncClient(base_url=server.url) as http:
        bad = [await _join(http, info.code, invite="not-an-invite") for _ in range(BURST)]
        limited = await _join(http, info.code, invite="not-an-invite")
    assert {r.status_code for r in bad} == {401}
    assert limited.status_code == 429


async def test_successful_joins_are_never_limited(server: InProcessServer) -> None:
    """200 benchmark clients at once, and a workshop behind one NAT with its typos."""
    info = await server.create_room("Benchmark")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        crowd = await asyncio.gather(*(_join(http, info.code, f"p{i}") for i in range(200)))
        assert [r.status_code for r in crowd] == [200] * 200

        workshop = await server.create_room("Skolas darbnīca")
        typo = workshop.code[:-1] + ("2" if workshop.code[-1] != "2" else "3")
        results = []
        for i in range(60):  # 60 people, every fourth first mistypes the code
            if i % 4 == 0:
                results.append(await _join(http, typo, f"s{i}"))
            results.append(await _join(http, workshop.code, f"s{i}"))
    statuses = [r.status_code for r in results]
    assert 429 not in statuses
    assert statuses.count(200) == 60


def test_the_limiter_is_bounded_in_memory() -> None:
    now = [0.0]
    limiter = JoinLimiter(burst=3, refill_seconds=10, max_addresses=100, clock=lambda: now[0])
    for i in range(5000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100
    # One IPv6 host's /64 is one address.
    for i in range(3):
        limiter.failed(f"2001:db8::{i + 1}")
    assert limiter.retry_after("2001:db8::ffff") == 10
    assert limiter.retry_after("2001:db8:0:1::1") is None
    # Refilled buckets are forgotten.
    now[0] += 30
    assert limiter.retry_after("2001:db8::1") is None
    assert len(limiter) == 99


async def test_closed_rooms_stop_admitting_until_reopened(settings: Settings) -> None:
    server = await InProcessServer(settings).start()
    try:
        info = await server.create_room("Noslēgta")
        await server.ok(info.room, info.token, "set_phase", phase="closed")
        async with httpx.AsyncClient(base_url=server.url) as http:
            participant = await _join(http, info.code)
            observer = await _join(http, info.code, role="observer")
            invite = (
                await http.post(
                    f"/api/rooms/{info.room}/invites",
                    json={},
                    headers={"authorization": f"Bearer {info.token}"},
                )
            ).json()["invite"]
            co_facilitator = await _join(http, info.code, "Līga", invite=invite)
            # Also when the room is not loaded: the phase comes from the stored board.
            await wait_until(lambda: info.room not in server.services.rooms.rooms, message="unload")
            unloaded = await _join(http, info.code)
            await server.ok(info.room, info.token, "set_phase", phase="discuss")
            reopened = await _join(http, info.code)
    finally:
        await server.stop()
    for refused in (participant, observer, unloaded):
        assert refused.status_code == 410
        assert refused.json()["error"] == "room_closed" and refused.json()["message"]
    assert co_facilitator.status_code == 200 and co_facilitator.json()["role"] == "facilitator"
    assert reopened.status_code == 200


async def test_deleted_rooms_codes_admit_nobody(server: InProcessServer) -> None:
    info = await server.create_room("Dzēsta")
    async with httpx.AsyncClient(base_url=server.url) as http:
        deleted = await http.delete(
            f"/api/rooms/{info.room}", headers={"authorization": f"Bearer {info.token}"}
        )
        assert deleted.status_code == 204
        refused = await _join(http, info.code)
    assert (refused.status_code, refused.json()["error"]) == (404, "room_not_found")


async def test_a_facilitator_changes_the_join_code(settings: Settings) -> None:
    server = await InProcessServer(replace(settings, public_url="https://koprade.example")).start()
    try:
        info = await server.create_room("Jauns kods")
        anna = await server.join(info.code, "Anna")
        async with httpx.AsyncClient(base_url=server.url) as http:
            by_participant = await http.post(
                f"/api/rooms/{info.room}/code", headers={"authorization": f"Bearer {anna['token']}"}
            )
            changed = await http.post(
                f"/api/rooms/{info.room}/code", headers={"authorization": f"Bearer {info.token}"}
            )
            new_code = changed.json()["code"]
            old = await _join(http, info.code)
            new = await _join(http, new_code.lower())
            summary = await http.get(
                f"/api/rooms/{info.room}", headers={"authorization": f"Bearer {info.token}"}
            )
    finally:
        await server.stop()
    assert (by_participant.status_code, by_participant.json()["error"]) == (403, "facilitator_only")
    assert changed.status_code == 200
    assert new_code != info.code and len(new_code) == 6
    assert changed.json()["join_url"] == f"https://koprade.example/join/{new_code}"
    assert (old.status_code, old.json()["error"]) == (404, "room_not_found")
    assert new.status_code == 200 and new.json()["room"] == info.room
    assert summary.json()["code"] == new_code
