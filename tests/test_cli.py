"""The `koprade` command line: serve (with env configuration), rooms list, export."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.cli import koprade
from tests.support.servers import ServerProcess
from tests.support.yclient import YClient, wait_until


async def test_rooms_list_and_export(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        info = await server.create_room("Jauniešu iesaiste")
        client = await YClient(server.ws_url, info.room, info.token).connect()
        client.cards["c1"] = client.card("Skolēnu padome", x=1, y=2)
        watcher = await YClient(server.ws_url, info.room, info.token).connect()
        await wait_until(lambda: "c1" in watcher.cards, message="relay")
        await client.close()
        await watcher.close()
        assert server.terminate()
    finally:
        server.kill()

    listing = koprade("rooms", "list", "--data-dir", str(tmp_path))
    assert listing.returncode == 0, listing.stderr
    assert info.room in listing.stdout and info.code in listing.stdout
    assert "Jauniešu iesaiste" in listing.stdout

    as_json = koprade("rooms", "list", "--json", env={"KOPRADE_DATA_DIR": str(tmp_path)})
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [row["room"] for row in rows] == [info.room]
    assert rows[0]["participants"] == 1

    exported = koprade("export", info.room, "--format", "json", "--data-dir", str(tmp_path))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["room"]["title"] == "Jauniešu iesaiste"
    assert document["cards"][0]["text"] == "Skolēnu padome"

    missing = koprade("export", "nosuchroom12", "--data-dir", str(tmp_path))
    assert missing.returncode == 1 and "no room" in missing.stderr


async def test_serve_reads_options_from_the_environment(tmp_path: Path) -> None:
    env_server = ServerProcess(tmp_path, env={"KOPRADE_ORGANIZER_KEY": "from-env"}).start()
    try:
        async with httpx.AsyncClient(base_url=env_server.url) as http:
            refused = await http.post("/api/rooms", json={"title": "x"})
            accepted = await http.post(
                "/api/rooms", json={"title": "x"}, headers={"x-organizer-key": "from-env"}
            )
        assert refused.status_code == 401
        assert accepted.status_code == 201
    finally:
        env_server.terminate()


def test_help_lists_every_serve_option() -> None:
    result = koprade("serve", "--help")
    for option in (
        "--data-dir", "--database-url", "--organizer-key", "--secret", "--public-url",
        "--max-message-size", "--commit-interval-ms", "--compact-after",
        "--room-idle-seconds", "--fanout-interval-ms", "--send-queue-bytes",
        "--send-queue-messages", "--log-format", "--workers", "--redis-url", "--node-id",
    ):  # fmt: skip
        assert option in result.stdout
    # Set by a --workers supervisor for its workers, not by people.
    assert "--listen-fd" not in result.stdout and "--worker-of" not in result.stdout
