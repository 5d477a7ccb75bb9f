"""Bad input gets a clear error, is logged, and never harms the room or other clients."""

from __future__ import annotations

import logging
import secrets
import socket

import httpx
import pytest
import websockets
from pycrdt import Doc, Map, create_update_message, write_var_uint

from server.config import Settings
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, card, wait_until


async def healthy_pair(server: InProcessServer) -> tuple[str, str, YClient, YClient]:
    info = await server.create_room("Robust")
    writer = await YClient(server.ws_url, info.room, info.token).connect()
    watcher = await YClient(
        server.ws_url, info.room, (await server.join(info.code, "Watcher"))["token"]
    ).connect()
    writer.cards["before"] = writer.card("before the bad input")
    await wait_until(lambda: "before" in watcher.cards, message="baseline sync")
    return info.room, info.token, writer, watcher


async def assert_still_syncing(writer: YClient, watcher: YClient, marker: str) -> None:
    writer.cards[marker] = writer.card(marker)
    await wait_until(lambda: marker in watcher.cards, message=f"{marker!r} after the bad input")
    assert str(watcher.cards["before"]["text"]) == "before the bad input"


async def send_and_expect_close(
    server: InProcessServer, room: str, token: str, frame: bytes | str
) -> tuple[int | None, str | None]:
    bad = await YClient(server.ws_url, room, token).connect()
    await bad.send_raw(frame)
    return await bad.wait_closed()


def _valid_update(text: str) -> bytes:
    doc: Doc = Doc()
    doc.get("cards", type=Map)["x"] = card(text)
    return doc.get_update()


BAD_FRAMES = {
    "text frame": ("hello", "malformed message: text frames are not part of the protocol"),
    "empty frame": (b"", "malformed message: empty frame"),
    "unknown message type": (b"\x07\x00", "malformed message: unknown message type 7"),
    "unknown sync type": (b"\x00\x09\x00", "malformed message: unknown sync message type 9"),
    "truncated sync frame": (
        b"\x00\x02\x20abc",
        "malformed message: truncated message (declared 32 bytes, 3 left)",
    ),
    "overlong varuint": (b"\xff" * 12, "malformed message: varuint too long"),
    "trailing bytes": (b"\x00\x00\x01\x00\xaa", "malformed message: 1 unexpected trailing bytes"),
    "undecodable update": (
        create_update_message(b"\x05\x99garbage"),
        "malformed message: update declares 5 clients, 8 bytes left",
    ),
    "awareness not JSON": (
        b"\x01" + bytes([6]) + b"\x01\x07\x01\x02{x",
        "malformed message: awareness state is not valid JSON",
    ),
    "awareness not an object": (
        b"\x01" + bytes([6]) + b"\x01\x07\x01\x02[]",
        "malformed message: awareness state must be a JSON object or null",
    ),
    "awareness truncated": (b"\x01\x03\x01\x07", "malformed message: truncated message"),
    "awareness flood": (
        b"\x01" + write_var_uint(3) + write_var_uint(20_000),
        "malformed message: awareness update with 20000 entries (at most 10000)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
async def test_bad_frames_close_only_the_sender(
    server: InProcessServer, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    frame, expected_reason = BAD_FRAMES[case]
    room, token, writer, watcher = await healthy_pair(server)
    frames_before = len(watcher.frames)
    with caplog.at_level(logging.WARNING, logger="koprade.connection"):
        code, reason = await send_and_expect_close(server, room, token, frame)
    assert code == 4400
    assert reason is not None and reason.startswith(expected_reason), reason
    assert any("rejected" in r.getMessage() for r in caplog.records), "the rejection is logged"
    await assert_still_syncing(writer, watcher, f"after {case}")
    # Nothing of the bad frame reached the watcher: it only got the two relays since.
    assert all(b"garbage" not in f and b"{x" not in f for f in watcher.frames[frames_before:])
    await writer.close()
    await watcher.close()


async def test_message_too_big_is_refused_with_1009(tmp_path, settings: Settings) -> None:
    from dataclasses import replace

    server = await InProcessServer(replace(settings, max_message_size=64 * 1024)).start()
    try:
        room, token, writer, watcher = await healthy_pair(server)
        huge = create_update_message(_valid_update("x" * 100_000))
        code, _reason = await send_and_expect_close(server, room, token, huge)
        assert code == 1009
        await assert_still_syncing(writer, watcher, "after the big message")
        assert "x" not in watcher.cards  # the oversized card never arrived
        await writer.close()
        await watcher.close()
    finally:
        await server.stop()


async def test_invalid_and_foreign_tokens_are_refused(server: InProcessServer) -> None:
    room, token, writer, watcher = await healthy_pair(server)
    other = await server.create_room("Other")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    cases = [
        (None, 4401, "invalid token: missing token"),
        ("not-a-token", 4401, "invalid token: malformed token"),
        (forged, 4401, "invalid token: bad token signature"),
        (other.token, 4403, "token is for another room"),
    ]
    for bad_token, expected_code, expected_reason in cases:
        client = YClient(server.ws_url, room, bad_token)
        await client.connect(wait_synced=False)
        code, reason = await client.wait_closed()
        assert (code, reason) == (expected_code, expected_reason)
        assert not client.synced.is_set(), "a refused client must not receive the board"
    await assert_still_syncing(writer, watcher, "after bad tokens")
    await writer.close()
    await watcher.close()


async def test_unknown_room_is_refused(server: InProcessServer) -> None:
    ghost = "zzzzzzzzzzzz"
    token = server.services.signer.issue(ghost, "p_x", "Ghost", "participant")
    client = YClient(server.ws_url, ghost, token)
    await client.connect(wait_synced=False)
    assert await client.wait_closed() == (4404, "room not found")
    assert ghost not in server.services.rooms.rooms


async def test_slow_client_is_disconnected_and_room_keeps_going(
    tmp_path, settings: Settings
) -> None:
    from dataclasses import replace

    server = await InProcessServer(
        replace(settings, send_queue_messages=20, send_queue_bytes=512 * 1024)
    ).start()
    try:
        room, token, writer, watcher = await healthy_pair(server)
        # A client that never reads, with a tiny receive buffer: its TCP window fills,
        # then the server's socket buffer, then its queue on the server.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        stalled = await websockets.connect(
            f"{server.ws_url}/ws/rooms/{room}?token={token}", max_size=None, sock=sock
        )
        stalled.transport.pause_reading()
        blob = "y" * 60_000
        connections = server.services.rooms.rooms[room].connections
        for index in range(200):
            writer.cards[f"bulk-{index}"] = writer.card(blob)
            await wait_until(lambda i=index: f"bulk-{i}" in watcher.cards, message="bulk relay")
            if any(connection.closing for connection in connections):
                break
        # Bounded wait: the server gives a stalled client at most a few seconds for its
        # close frame, then lets it go; the room never waits for it.
        await wait_until(lambda: len(connections) == 2, timeout=10, message="slow client dropped")
        await assert_still_syncing(writer, watcher, "after the slow client")
        stalled.transport.abort()
        await writer.close()
        await watcher.close()
    finally:
        await server.stop()


# -- HTTP ----------------------------------------------------------------------------------


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "error"),
    [
        ("/api/rooms", b"{not json", JSON, 400, "invalid_json"),
        ("/api/rooms", b"[1, 2]", JSON, 400, "invalid_json"),
        ("/api/rooms", b"title=x", {"content-type": "text/plain"}, 415, "unsupported_media_type"),
        ("/api/rooms", b"{}", JSON, 422, "invalid_field"),
        ("/api/rooms", b'{"title": 5}', JSON, 422, "invalid_field"),
        (
            "/api/rooms",
            b'{"title": "   "}',
            JSON,
            422,
            "invalid_field",
        ),
        (
            "/api/rooms",
            ('{"title": "' + "t" * 201 + '"}').encode(),
            JSON,
            422,
            "invalid_field",
        ),
        (
            "/api/rooms",
            b'{"title": "' + b"t" * 70_000 + b'"}',
            JSON,
            413,
            "body_too_large",
        ),
        (
            "/api/join",
            b'{"code": "AAAAAA"}',
            JSON,
            422,
            "invalid_field",
        ),
        (
            "/api/join",
            ('{"code": "AAAAAA", "name": "' + "n" * 61 + '"}').encode(),
            JSON,
            422,
            "invalid_field",
        ),
        (
            "/api/join",
            b'{"code": "ZZZZZZ", "name": "Anna"}',
            JSON,
            404,
            "room_not_found",
        ),
    ],
)
async def test_http_bad_input_gets_json_errors(
    server: InProcessServer, path: str, body: bytes, headers: dict, status: int, error: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"] == error
    assert payload["message"]


async def test_room_summary_requires_a_token_of_that_room(server: InProcessServer) -> None:
    info = await server.create_room("Summary")
    other = await server.create_room("Other")
    async with httpx.AsyncClient(base_url=server.url) as http:
        missing = await http.get(f"/api/rooms/{info.room}")
        foreign = await http.get(
            f"/api/rooms/{info.room}", headers={"authorization": f"Bearer {other.token}"}
        )
        unknown = await http.get(
            "/api/rooms/" + "q" * 12,
            params={"token": server.services.signer.issue("q" * 12, "p", "n", "participant")},
        )
        wrong_method = await http.delete("/api/rooms")
        nowhere = await http.get("/api/nothing-here-" + secrets.token_hex(2))
    assert (missing.status_code, missing.json()["error"]) == (401, "invalid_token")
    assert (foreign.status_code, foreign.json()["error"]) == (403, "wrong_room")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "room_not_found")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    assert (nowhere.status_code, nowhere.json()["error"]) == (404, "not_found")


# -- issue 10: input that used to end in a 500 or a 1011 ------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def _post(
    server: InProcessServer, path: str, body: bytes, token: str | None = None
) -> httpx.Response:
    headers = dict(JSON)
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.post(path, content=body, headers=headers)


def assert_json_error(response: httpx.Response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"] == error, payload
    assert payload["message"]
    return payload


async def test_deeply_nested_json_is_a_400_everywhere(server: InProcessServer) -> None:
    info = await server.create_room("Deep")
    deep = _nested(5000).encode()
    deep_field = ('{"title": ' + _nested(5000) + "}").encode()
    for path, token in [
        ("/api/rooms", None),
        ("/api/join", None),
        ("/api/rooms/import", None),
        (f"/api/rooms/{info.room}/commands", info.token),
        (f"/api/rooms/{info.room}/invites", info.token),
        (f"/api/rooms/{info.room}/snapshots", info.token),
    ]:
        for body in (deep, deep_field):
            payload = assert_json_error(await _post(server, path, body, token), 400, "invalid_json")
            assert "deep" in payload["message"], payload


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309"])
async def test_non_finite_numbers_are_a_422(server: InProcessServer, number: str) -> None:
    info = await server.create_room("Numbers")
    commands = f"/api/rooms/{info.room}/commands"
    timer = f'{{"command": "timer", "action": "start", "seconds": {number}}}'
    payload = assert_json_error(
        await _post(server, commands, timer.encode(), info.token), 422, "invalid_field"
    )
    assert payload["field"] == "seconds"
    voting = f'{{"command": "voting", "perParticipant": {number}}}'
    payload = assert_json_error(
        await _post(server, commands, voting.encode(), info.token), 422, "invalid_field"
    )
    assert payload["field"] == "perParticipant"


@pytest.mark.parametrize("invite", ["5", "true", "{}", "[]", "1.5"])
async def test_a_non_string_invite_is_a_422(server: InProcessServer, invite: str) -> None:
    info = await server.create_room("Invites")
    body = f'{{"code": "{info.code}", "name": "Eve", "invite": {invite}}}'
    payload = assert_json_error(
        await _post(server, "/api/join", body.encode()), 422, "invalid_field"
    )
    assert payload["field"] == "invite"


@pytest.mark.parametrize("phases", ['[["explore"]]', '[{"a": 1}]', '["explore", ["vote"]]'])
async def test_nested_phases_are_a_422(server: InProcessServer, phases: str) -> None:
    info = await server.create_room("Phases")
    body = f'{{"command": "set_phases", "phases": {phases}}}'
    payload = assert_json_error(
        await _post(server, f"/api/rooms/{info.room}/commands", body.encode(), info.token),
        422,
        "invalid_field",
    )
    assert payload["field"] == "phases"
    export = (
        '{"format": "koprade-board", "version": 2, "room": {"title": "t"}, '
        f'"meta": {{"phases": {phases}}}}}'
    )
    payload = assert_json_error(
        await _post(server, "/api/rooms/import", export.encode()), 422, "invalid_field"
    )
    assert payload["field"] == "meta.phases"


@pytest.mark.parametrize(
    "snapshot", ["²", "\u0661", "\u0663\u0664", "-1", "1.0", "99999999999999999999999"]
)
async def test_odd_snapshot_ids_are_a_422(server: InProcessServer, snapshot: str) -> None:
    info = await server.create_room("Snapshots")
    headers = {"authorization": f"Bearer {info.token}"}
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get(
            f"/api/rooms/{info.room}/export", params={"snapshot": snapshot}, headers=headers
        )
    payload = assert_json_error(response, 422, "invalid_field")
    assert payload["field"] == "snapshot"


async def test_deeply_nested_awareness_state_closes_with_4400(
    server: InProcessServer, caplog: pytest.LogCaptureFixture
) -> None:
    room, token, writer, watcher = await healthy_pair(server)
    state = ('{"user": ' + _nested(2000) + "}").encode()
    update = b"\x01\x07\x01" + write_var_uint(len(state)) + state
    frame = b"\x01" + write_var_uint(len(update)) + update
    with caplog.at_level(logging.WARNING):
        code, reason = await send_and_expect_close(server, room, token, frame)
    assert (code, reason) == (4400, "malformed message: awareness state is nested too deeply")
    assert not any(r.exc_info for r in caplog.records), "no traceback for bad input"
    await assert_still_syncing(writer, watcher, "after the deep awareness state")
    await writer.close()
    await watcher.close()


async def test_a_locked_database_is_a_json_503(settings: Settings) -> None:
    """A real SQLite file held by another writer: the API says so instead of a plain 500."""
    import sqlite3

    server = await InProcessServer(settings).start()
    blocker = sqlite3.connect(settings.data_dir / "koprade.sqlite3", isolation_level=None)
    try:
        assert (await server.create_room("Before the lock")).room
        blocker.execute("BEGIN EXCLUSIVE")
        # One request: each waits out SQLite's busy timeout (5 s) before the lock error.
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            created = await http.post("/api/rooms", json={"title": "During the lock"})
        payload = assert_json_error(created, 503, "storage_unavailable")
        assert "database" in payload["message"]
        assert created.headers["retry-after"]
        blocker.execute("ROLLBACK")
        assert (await server.create_room("After the lock")).room
    finally:
        blocker.close()
        await server.stop()


async def test_a_client_that_stops_answering_pings_is_closed_with_4408(
    settings: Settings,
) -> None:
    from dataclasses import replace

    server = await InProcessServer(
        replace(settings, ws_ping_interval_seconds=0.2, ws_ping_timeout_seconds=0.3)
    ).start()
    try:
        room, token, writer, watcher = await healthy_pair(server)
        connections = server.services.rooms.rooms[room].connections
        stalled = await websockets.connect(
            f"{server.ws_url}/ws/rooms/{room}?token={token}", ping_interval=None
        )
        await wait_until(lambda: len(connections) == 3, message="the silent client joined")
        stalled.transport.pause_reading()  # it no longer reads, so it never answers a ping
        await wait_until(lambda: len(connections) == 2, timeout=10, message="silent client dropped")
        stalled.transport.resume_reading()
        await stalled.wait_closed()
        assert stalled.close_code == 4408
        assert stalled.close_reason == "too slow: keepalive ping timeout"
        await assert_still_syncing(writer, watcher, "after the silent client")
        await writer.close()
        await watcher.close()
    finally:
        await server.stop()


async def test_a_vanished_postgresql_database_is_a_json_503(
    settings: Settings, postgres_database: str
) -> None:
    """A real PostgreSQL database dropped under a running server: 503 with JSON, not 500."""
    import asyncpg

    from tests.conftest import POSTGRES_ADMIN_URL

    name = "koprade_vanishing_" + secrets.token_hex(4)
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = postgres_database.rsplit("/", 1)[0] + "/" + name
        from dataclasses import replace

        server = await InProcessServer(replace(settings, database_url=url)).start()
        try:
            info = await server.create_room("Before the drop")
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                created = await http.post("/api/rooms", json={"title": "After the drop"})
                joined = await http.post("/api/join", json={"code": info.code, "name": "Anna"})
                summary = await http.get(
                    f"/api/rooms/{info.room}", headers={"authorization": f"Bearer {info.token}"}
                )
            for response in (created, joined, summary):
                assert_json_error(response, 503, "storage_unavailable")
        finally:
            await server.stop()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_an_unexpected_fault_is_a_json_500_with_a_traceback_in_the_log(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A saved template whose stored board is not JSON (damaged outside the server) is no
    client's fault and no storage outage: a JSON 500, and the traceback in the log."""
    import sqlite3
    from dataclasses import replace

    server = await InProcessServer(replace(settings, organizer_key="lab-key")).start()
    key = {"x-organizer-key": "lab-key"}
    try:
        info = await server.create_room("Damaged", organizer_key="lab-key")
        async with httpx.AsyncClient(base_url=server.url) as http:
            saved = await http.post(
                f"/api/rooms/{info.room}/templates",
                json={"name": "Ours"},
                headers={"authorization": f"Bearer {info.token}"},
            )
            assert saved.status_code == 201, saved.text
            database = sqlite3.connect(settings.data_dir / "koprade.sqlite3")
            with database:
                database.execute("UPDATE koprade_templates SET board = '{damaged'")
            database.close()
            with caplog.at_level(logging.ERROR):
                response = await http.get(f"/api/templates/{saved.json()['id']}", headers=key)
        assert_json_error(response, 500, "internal_error")
        assert any(record.exc_info for record in caplog.records), "the traceback is logged"
    finally:
        await server.stop()
