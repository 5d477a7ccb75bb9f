"""A storage failure while a connection starts never leaves it in its room (issue 10, part 3).

The WebSocket shell joins the room and then reads the participant's votes from the
database. Before the fix that read happened outside the cleanup: when it failed, the
connection stayed in `room.connections` for ever, its presence was never removed and the
room never unloaded. The failure here is real: the SQLite table the read needs is renamed
away by a second connection to the same file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pycrdt import Map

from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, wait_until


def rename_table(database: Path, old: str, new: str) -> None:
    connection = sqlite3.connect(database)
    try:
        connection.execute(f"ALTER TABLE {old} RENAME TO {new}")
        connection.commit()
    finally:
        connection.close()


async def test_a_failed_votes_read_leaves_the_room_clean(server: InProcessServer) -> None:
    info = await server.create_room("Storage trouble")
    anna = await server.join(info.code, "Anna")
    database = server.settings.data_dir / "koprade.sqlite3"
    rooms = server.services.rooms
    rename_table(database, "koprade_votes", "votes_away")
    try:
        client = YClient(server.ws_url, info.room, anna["token"])
        await client.connect(wait_synced=False)
        code, reason = await client.wait_closed()
        assert (code, reason) == (1013, "storage unavailable: try again later")
        # Nobody is left behind in the room, so it unloads after its idle time (0.2 s).
        await wait_until(lambda: rooms.connection_count() == 0, message="no connection left")
        await wait_until(lambda: info.room not in rooms.rooms, message="the room unloads")
    finally:
        rename_table(database, "votes_away", "koprade_votes")
    # Once the database works again, so does connecting.
    again = await YClient(server.ws_url, info.room, anna["token"]).connect()
    again.cards["c1"] = again.card("back")
    await wait_until(
        lambda: "c1" in rooms.rooms[info.room].doc.get("cards", type=Map), message="card stored"
    )
    await again.close()


async def test_a_failed_read_before_the_join_closes_with_1013(server: InProcessServer) -> None:
    """Who was removed, and the room's own load, are read before the join: a storage
    failure there is no server bug either (not 1011) and leaves nothing behind."""
    info = await server.create_room("Storage trouble before the join")
    database = server.settings.data_dir / "koprade.sqlite3"
    rooms = server.services.rooms
    await wait_until(lambda: info.room not in rooms.rooms, message="the room unloads")
    rename_table(database, "koprade_participants", "participants_away")
    try:
        client = YClient(server.ws_url, info.room, info.token)
        await client.connect(wait_synced=False)
        assert await client.wait_closed() == (1013, "storage unavailable: try again later")
        assert rooms.connection_count() == 0
    finally:
        rename_table(database, "participants_away", "koprade_participants")
    again = await YClient(server.ws_url, info.room, info.token).connect()
    await again.close()
