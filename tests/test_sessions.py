"""Sessions against the real server: snapshots, templates, deletion, data export, retention.

Rooms are driven like in test_facilitation.py: real pycrdt clients over WebSocket, commands
and endpoints over HTTP; retention is checked with `koprade purge` on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Map, Text

from server.config import Settings
from server.crdt.board import board_to_json
from server.sessions.templates import builtin_templates, localized
from tests.support.cli import koprade
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, card, wait_until


@dataclass
class Session:
    server: InProcessServer
    room: str
    code: str
    token: str
    facilitator: YClient
    anna: YClient
    anna_id: str
    anna_token: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {token or self.token}"}

    async def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url) as http:
            return await http.get(path, headers=self.auth(token), params=params)

    async def post(
        self, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url) as http:
            return await http.post(path, json=body, headers=self.auth(token))

    async def delete(self, path: str, token: str | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url) as http:
            return await http.delete(path, headers=self.auth(token))

    async def ok(self, command: str, **args: Any) -> dict[str, Any]:
        return await self.server.ok(self.room, self.token, command, **args)

    def live(self) -> Doc:
        return self.server.services.rooms.rooms[self.room].doc

    def board(self) -> dict[str, Any]:
        """The live board's cards and clusters as the export writes them."""
        exported = board_to_json(self.live())
        return {"cards": exported["cards"], "clusters": exported["clusters"]}

    async def snapshots(self) -> list[dict[str, Any]]:
        response = await self.get(f"/api/rooms/{self.room}/snapshots")
        assert response.status_code == 200, response.text
        return response.json()["snapshots"]


def without_created(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards without `created` (the test clients' cards have none; copies get one)."""
    return [{k: v for k, v in c.items() if k != "created"} for c in cards]


def board_of(document: dict[str, Any]) -> dict[str, Any]:
    return {"cards": document["cards"], "clusters": document["clusters"]}


@pytest.fixture
async def session(server: InProcessServer) -> Session:
    info = await server.create_room("Senioru mobilitāte", name="Ilze")
    anna = await server.join(info.code, "Anna")
    facilitator = await YClient(server.ws_url, info.room, info.token).connect()
    anna_client = await YClient(server.ws_url, info.room, anna["token"]).connect()
    return Session(
        server,
        info.room,
        info.code,
        info.token,
        facilitator,
        anna_client,
        anna["participant"],
        anna["token"],
    )


async def fill_board(s: Session) -> None:
    """Two clusters, three cards of Anna's (two clustered) and one of the facilitator's."""
    s.facilitator.clusters["k1"] = Map(
        {"title": Text("Transports"), "x": 0, "y": 0, "w": 480, "h": 400}
    )
    s.facilitator.clusters["k2"] = Map(
        {"title": Text("Drošība"), "x": 520, "y": 0, "w": 480, "h": 400}
    )
    s.anna.cards["a1"] = s.anna.card("Soliņi pieturās", 24, 72, cluster="k1")
    s.anna.cards["a2"] = s.anna.card("Zemās grīdas autobusi", 24, 200, cluster="k1")
    s.anna.cards["a3"] = s.anna.card("Gaišākas ielas", 544, 72)
    s.facilitator.cards["f1"] = s.facilitator.card("Jautāt senioriem", 900, 900)
    await wait_until(
        lambda: (
            len(s.live().get("cards", type=Map)) == 4
            and len(s.live().get("clusters", type=Map)) == 2
        ),
        message="the board on the server",
    )


# -- snapshots -----------------------------------------------------------------------------


async def test_snapshot_round_trip(session: Session) -> None:
    s = session
    await fill_board(s)
    before = s.board()

    taken = await s.post(f"/api/rooms/{s.room}/snapshots", {"name": "after clustering"})
    assert taken.status_code == 201, taken.text
    entry = taken.json()
    assert entry["name"] == "after clustering" and entry["kind"] == "manual"
    assert entry["authorName"] == "Ilze" and entry["phase"] == "explore"
    assert entry["bytes"] > 0 and entry["created"].endswith("Z")
    assert [x["id"] for x in await s.snapshots()] == [entry["id"]]

    viewed = await s.get(f"/api/rooms/{s.room}/snapshots/{entry['id']}")
    assert viewed.status_code == 200
    assert viewed.json()["format"] == "koprade-board"
    assert viewed.json()["snapshot"] == entry
    assert board_of(viewed.json()) == before
    as_yjs = await s.get(f"/api/rooms/{s.room}/snapshots/{entry['id']}", format="yjs")
    assert as_yjs.headers["content-type"] == "application/octet-stream"
    replica = Doc()
    replica.apply_update(as_yjs.content)
    assert board_of(board_to_json(replica)) == before

    # Change everything a board can: text, position, cluster, colour, deletions, new items.
    text = s.anna.cards["a1"]["text"]
    text += " ar nojumi"
    s.anna.cards["a2"]["x"] = 700
    del s.anna.cards["a2"]["cluster"]
    s.anna.cards["a3"]["color"] = "#c5eaa8"
    del s.anna.cards["a3"]
    s.anna.cards["a4"] = s.anna.card("Jauna ideja")
    s.facilitator.clusters["k1"]["title"] += " un pieejamība"
    del s.facilitator.clusters["k2"]
    s.facilitator.clusters["k3"] = card("Jauns rāmis")
    await wait_until(
        lambda: (
            "a4" in s.live().get("cards", type=Map) and "k3" in s.live().get("clusters", type=Map)
        ),
        message="the changes on the server",
    )
    changed = s.board()
    assert changed != before

    restored = await s.post(f"/api/rooms/{s.room}/snapshots/{entry['id']}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["restored"]["id"] == entry["id"]
    backup = restored.json()["backup"]
    assert backup["kind"] == "restore" and backup["name"] == "Before restoring: after clustering"

    assert s.board() == before
    for client in (s.facilitator, s.anna):
        await wait_until(
            lambda c=client: board_of(board_to_json(c.doc)) == before,
            message="the restored board at every client",
        )
    # History is kept: the board as it was before the restore is a snapshot of its own.
    listed = await s.snapshots()
    assert [x["id"] for x in listed] == [backup["id"], entry["id"]]
    kept = await s.get(f"/api/rooms/{s.room}/snapshots/{backup['id']}")
    assert board_of(kept.json()) == changed

    # The restored board works like any other: Anna keeps editing her restored card.
    s.anna.cards["a3"]["x"] = 600
    await wait_until(lambda: s.live().get("cards", type=Map)["a3"]["x"] == 600, message="edit")

    # Deleting a snapshot.
    assert (await s.delete(f"/api/rooms/{s.room}/snapshots/{backup['id']}")).status_code == 204
    assert [x["id"] for x in await s.snapshots()] == [entry["id"]]


async def test_exports_of_a_snapshot(session: Session, settings: Settings) -> None:
    """Every export format works from a snapshot too (HTTP and CLI), not only the live board."""
    s = session
    await fill_board(s)
    taken = (await s.post(f"/api/rooms/{s.room}/snapshots", {"name": "early"})).json()
    s.anna.cards["late"] = s.anna.card("Pēc momentuzņēmuma")
    await wait_until(lambda: "late" in s.live().get("cards", type=Map), message="the late card")

    live = await s.get(f"/api/rooms/{s.room}/export", format="md")
    old = await s.get(f"/api/rooms/{s.room}/export", format="md", snapshot=taken["id"])
    assert old.status_code == 200
    assert "Pēc momentuzņēmuma" in live.text and "Pēc momentuzņēmuma" not in old.text
    assert "Soliņi pieturās" in old.text
    pdf = await s.get(f"/api/rooms/{s.room}/export", format="pdf", snapshot=taken["id"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    missing = await s.get(f"/api/rooms/{s.room}/export", format="md", snapshot=999999)
    assert missing.status_code == 404 and missing.json()["error"] == "snapshot_not_found"
    wrong = await s.get(f"/api/rooms/{s.room}/export", format="md", snapshot="x")
    assert wrong.status_code == 422 and wrong.json()["field"] == "snapshot"

    await wait_until(lambda: s.server.services.rooms.writer.pending_count() == 0)
    data_dir = str(settings.data_dir)
    args = ("export", s.room, "--format", "csv", "--data-dir", data_dir)
    done = await asyncio.to_thread(koprade, *args, "--snapshot", str(taken["id"]))
    assert done.returncode == 0, done.stderr
    assert "Soliņi pieturās" in done.stdout and "Pēc momentuzņēmuma" not in done.stdout
    absent = await asyncio.to_thread(koprade, *args, "--snapshot", "999999")
    assert absent.returncode == 1 and "no snapshot 999999" in absent.stderr


async def test_restore_keeps_settings_and_brings_back_results(session: Session) -> None:
    s = session
    await fill_board(s)
    await s.ok("voting", hidden=False, anonymous=True)
    await s.ok("set_phase", phase="vote")
    await s.server.ok(s.room, s.anna_token, "vote", card="a1")
    await wait_until(lambda: s.live().get("votes", type=Map).get("a1") == {"count": 1.0})
    snapshot = (await s.post(f"/api/rooms/{s.room}/snapshots", {"name": "voted"})).json()
    await s.ok("reset_votes")
    await s.ok("set_phase", phase="discuss")
    await s.ok("settings", locked=True)
    assert s.live().get("votes", type=Map).to_py() in ({}, None)

    response = await s.post(f"/api/rooms/{s.room}/snapshots/{snapshot['id']}/restore")
    assert response.status_code == 200
    assert s.live().get("votes", type=Map).to_py() == {"a1": {"count": 1.0}}
    meta = s.live().get("meta", type=Map).to_py()
    assert meta["phase"] == "discuss" and meta["locked"] is True
    assert meta["people"][s.anna_id] == "Anna"


async def test_automatic_snapshots_on_phase_change_and_close(session: Session) -> None:
    s = session
    s.anna.cards["a1"] = s.anna.card("Pirmā ideja")
    await wait_until(lambda: "a1" in s.live().get("cards", type=Map), message="a1")
    await s.ok("set_phase", phase="ideate")
    await s.ok("set_phase", phase="ideate")  # no change, no snapshot
    s.anna.cards["a2"] = s.anna.card("Otrā ideja")
    await wait_until(lambda: "a2" in s.live().get("cards", type=Map), message="a2")
    await s.ok("set_phase", phase="closed")

    closed, ideate = await s.snapshots()
    assert (ideate["name"], ideate["kind"], ideate["phase"]) == (
        "Before phase: ideate",
        "phase",
        "explore",
    )
    assert (closed["name"], closed["kind"], closed["phase"]) == (
        "Session closed",
        "closed",
        "closed",
    )
    assert ideate["authorName"] == closed["authorName"] == "Ilze"
    before_ideate = (await s.get(f"/api/rooms/{s.room}/snapshots/{ideate['id']}")).json()
    assert [c["id"] for c in before_ideate["cards"]] == ["a1"]
    assert before_ideate["meta"]["phase"] == "explore"
    at_close = (await s.get(f"/api/rooms/{s.room}/snapshots/{closed['id']}")).json()
    assert [c["id"] for c in at_close["cards"]] == ["a1", "a2"]
    assert at_close["meta"]["phase"] == "closed"


async def test_duplicate_a_snapshot_into_a_new_room(session: Session) -> None:
    s = session
    await fill_board(s)
    await s.ok("set_phase", phase="closed")
    closed = (await s.snapshots())[0]
    response = await s.post(
        f"/api/rooms/{s.room}/snapshots/{closed['id']}/duplicate", {"title": "Otrā sesija"}
    )
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["room"] != s.room and new["code"] != s.code
    assert new["title"] == "Otrā sesija"
    assert new["join_url"].endswith(f"/join/{new['code']}")

    async with httpx.AsyncClient(base_url=s.server.url) as http:
        summary = await http.get(
            f"/api/rooms/{new['room']}", params={"token": new["facilitator_token"]}
        )
    assert summary.json()["role"] == "facilitator" and summary.json()["name"] == "Ilze"
    assert summary.json()["counts"]["cards"] == 4

    # Joinable with the new code, and the same board — but a fresh session.
    joined = await s.server.join(new["code"], "Pēteris")
    client = await YClient(s.server.ws_url, new["room"], joined["token"]).connect()
    await wait_until(lambda: len(client.cards) == 4, message="the copied board")
    view = (await s.get(f"/api/rooms/{s.room}/snapshots/{closed['id']}")).json()
    copied = board_to_json(client.doc)
    assert without_created(copied["cards"]) == without_created(view["cards"])
    assert copied["clusters"] == view["clusters"]
    meta = s.server.services.rooms.rooms[new["room"]].doc.get("meta", type=Map).to_py()
    assert meta["phase"] == "explore" and meta["title"] == "Otrā sesija"
    assert set(meta["people"].values()) == {"Ilze", "Pēteris"}

    # Without a title the copy keeps the room's.
    untitled = await s.post(f"/api/rooms/{s.room}/snapshots/{closed['id']}/duplicate")
    assert untitled.status_code == 201 and untitled.json()["title"] == "Senioru mobilitāte"


async def test_snapshot_errors_and_permissions(session: Session) -> None:
    s = session
    base = f"/api/rooms/{s.room}/snapshots"
    refused = await s.get(base, token=s.anna_token)
    assert (refused.status_code, refused.json()["error"]) == (403, "facilitator_only")
    refused = await s.post(base, {"name": "x"}, token=s.anna_token)
    assert refused.status_code == 403
    missing = await s.get(f"{base}/999999")
    assert (missing.status_code, missing.json()["error"]) == (404, "snapshot_not_found")
    huge = await s.get(f"{base}/{10**30}")
    assert huge.status_code == 404
    assert (await s.post(f"{base}/999999/restore")).status_code == 404
    assert (await s.post(f"{base}/999999/duplicate", {})).status_code == 404
    assert (await s.delete(f"{base}/999999")).status_code == 404
    not_a_number = await s.get(f"{base}/abc")
    assert not_a_number.status_code == 404
    empty = await s.post(base, {"name": "   "})
    assert (empty.status_code, empty.json()["field"]) == (422, "name")
    bad_format = await s.get(f"{base}/1", format="pdf")
    assert bad_format.status_code == 422

    # A snapshot is only reachable through its own room.
    other = await s.server.create_room("Cita istaba")
    theirs = await httpx.AsyncClient(base_url=s.server.url).post(
        f"/api/rooms/{other.room}/snapshots",
        json={"name": "theirs"},
        headers={"authorization": f"Bearer {other.token}"},
    )
    assert theirs.status_code == 201
    assert (await s.get(f"{base}/{theirs.json()['id']}")).status_code == 404
    wrong_room = await s.get(f"/api/rooms/{other.room}/snapshots")
    assert (wrong_room.status_code, wrong_room.json()["error"]) == (403, "wrong_room")


async def test_snapshots_of_anonymous_rooms_carry_no_names(session: Session) -> None:
    s = session
    await fill_board(s)
    early = (await s.post(f"/api/rooms/{s.room}/snapshots", {"name": "named"})).json()
    await s.ok("settings", anonymous=True)
    await s.ok("set_phase", phase="cluster")
    later = (await s.post(f"/api/rooms/{s.room}/snapshots", {"name": "anonymous"})).json()
    store = s.server.services.sessions.saved
    for entry in (later, *[x for x in await s.snapshots() if x["kind"] == "phase"]):
        _, data = await store.get_snapshot(s.room, entry["id"])
        assert b"Anna" not in data and b"Ilze" not in data
    # A snapshot from before the room went anonymous is shown without names as well.
    for entry in (early, later):
        for fmt in ("json", "yjs"):
            viewed = await s.get(f"/api/rooms/{s.room}/snapshots/{entry['id']}", format=fmt)
            assert b"Anna" not in viewed.content, (entry["name"], fmt)


# -- templates ------------------------------------------------------------------------------


def _inside(card: dict[str, Any], cluster: dict[str, Any]) -> bool:
    return (
        cluster["x"] <= card["x"]
        and card["x"] + 200 <= cluster["x"] + cluster["w"]
        and cluster["y"] <= card["y"]
        and card["y"] + 110 <= cluster["y"] + cluster["h"]
    )


async def test_every_builtin_template_starts_a_valid_board(server: InProcessServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        listed = (await http.get("/api/templates")).json()["templates"]
    assert [t["id"] for t in listed] == [
        "affinity-map",
        "how-might-we",
        "empathy-map",
        "stakeholder-map",
        "impact-effort",
        "sprint-retrospective",
    ]
    for entry in listed:
        assert entry["builtin"] is True
        assert (
            entry["name"]["lv"]
            and entry["name"]["en"]
            and entry["name"]["lv"] != entry["name"]["en"]
        )
        assert entry["description"]["lv"] and entry["description"]["en"]
        assert entry["clusters"] >= 3 and entry["cards"] >= 1

    for entry in listed:
        for lang in ("lv", "en"):
            expected = localized(builtin_templates()[entry["id"]], lang)
            info = await server.create_room(
                f"{entry['id']} {lang}", template=entry["id"], lang=lang
            )
            client = await YClient(server.ws_url, info.room, info.token).connect()
            board = board_to_json(client.doc)
            assert {c["id"]: c["title"] for c in board["clusters"]} == {
                c["id"]: c["title"] for c in expected["clusters"]
            }
            assert {c["id"]: c["text"] for c in board["cards"]} == {
                c["id"]: c["text"] for c in expected["cards"]
            }
            clusters = {c["id"]: c for c in board["clusters"]}
            for c in board["cards"]:
                assert c["author"] == "" and isinstance(c["created"], int | float)
                if "cluster" in c:
                    assert _inside(c, clusters[c["cluster"]]), (entry["id"], c["id"])
            # Frames do not overlap one another.
            frames = list(clusters.values())
            for i, a in enumerate(frames):
                for b in frames[i + 1 :]:
                    apart = (
                        a["x"] + a["w"] <= b["x"]
                        or b["x"] + b["w"] <= a["x"]
                        or a["y"] + a["h"] <= b["y"]
                        or b["y"] + b["h"] <= a["y"]
                    )
                    assert apart, (entry["id"], a["id"], b["id"])
            meta = client.doc.get("meta", type=Map).to_py()
            phases = entry["phases"] or list(meta["phases"])
            assert meta["phases"] == phases and meta["phase"] == phases[0]
            await client.close()


async def test_save_a_board_as_template_and_start_from_it(session: Session) -> None:
    s = session
    await fill_board(s)
    saved = await s.post(
        f"/api/rooms/{s.room}/templates",
        {"name": "Mobilitātes karte", "description": "Mūsu metode"},
    )
    assert saved.status_code == 201, saved.text
    entry = saved.json()
    assert entry["builtin"] is False and entry["id"].startswith("t_")
    assert entry["name"] == {"lv": "Mobilitātes karte", "en": "Mobilitātes karte"}
    assert (entry["cards"], entry["clusters"], entry["sourceRoom"]) == (4, 2, s.room)

    # Saved templates are the lab's own workshop text: listed only with the organizer key.
    async with httpx.AsyncClient(base_url=s.server.url, headers=s.server.organizer_headers) as http:
        listed = (await http.get("/api/templates")).json()["templates"]
        assert [t["id"] for t in listed][-1] == entry["id"]
        preview = await http.get(f"/api/templates/{entry['id']}")
    assert preview.status_code == 200
    assert preview.json()["template"]["id"] == entry["id"]
    # The template keeps the method, not who was there: no authors, no names, no votes.
    assert all(c.get("author", "") == "" for c in preview.json()["cards"])
    assert b"Anna" not in preview.content and s.anna_id.encode() not in preview.content

    info = await s.server.create_room(
        "No veidnes", template=entry["id"], organizer_key=s.server.organizer_key
    )
    client = await YClient(s.server.ws_url, info.room, info.token).connect()
    board = board_to_json(client.doc)
    original = s.board()
    assert {c["id"]: (c["text"], c["x"], c["y"], c.get("cluster")) for c in board["cards"]} == {
        c["id"]: (c["text"], c["x"], c["y"], c.get("cluster")) for c in original["cards"]
    }
    assert board["clusters"] == original["clusters"]
    assert {c["author"] for c in board["cards"]} == {""}

    # Only the room it was saved from can delete it.
    other = await s.server.create_room("Cita")
    async with httpx.AsyncClient(base_url=s.server.url) as http:
        refused = await http.delete(
            f"/api/rooms/{other.room}/templates/{entry['id']}",
            headers={"authorization": f"Bearer {other.token}"},
        )
    assert (refused.status_code, refused.json()["error"]) == (404, "template_not_found")
    assert (await s.delete(f"/api/rooms/{s.room}/templates/{entry['id']}")).status_code == 204
    async with httpx.AsyncClient(base_url=s.server.url, headers=s.server.organizer_headers) as http:
        gone = await http.post("/api/rooms", json={"title": "x", "template": entry["id"]})
    assert (gone.status_code, gone.json()["error"]) == (404, "template_not_found")


async def test_template_errors(server: InProcessServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        unknown = await http.post("/api/rooms", json={"title": "x", "template": "nope"})
        assert (unknown.status_code, unknown.json()["error"]) == (404, "template_not_found")
        not_a_string = await http.post("/api/rooms", json={"title": "x", "template": 5})
        assert (not_a_string.status_code, not_a_string.json()["field"]) == (422, "template")
        bad_lang = await http.post(
            "/api/rooms", json={"title": "x", "template": "empathy-map", "lang": "de"}
        )
        assert (bad_lang.status_code, bad_lang.json()["field"]) == (422, "lang")
        assert (await http.get("/api/templates/nope")).status_code == 404
        english = await http.get("/api/templates/empathy-map", params={"lang": "en"})
        assert "Says" in [c["title"] for c in english.json()["clusters"]]


async def test_saved_templates_are_the_organizers(settings: Settings) -> None:
    server = await InProcessServer(replace(settings, organizer_key="lab-key")).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            created = await http.post(
                "/api/rooms", json={"title": "x"}, headers={"x-organizer-key": "lab-key"}
            )
            room, token = created.json()["room"], created.json()["facilitator_token"]
            saved = await http.post(
                f"/api/rooms/{room}/templates",
                json={"name": "Mūsu"},
                headers={"authorization": f"Bearer {token}"},
            )
            assert saved.status_code == 201
            anyone = (await http.get("/api/templates")).json()["templates"]
            organizer = (
                await http.get("/api/templates", headers={"x-organizer-key": "lab-key"})
            ).json()["templates"]
            assert saved.json()["id"] not in [t["id"] for t in anyone]
            assert len(anyone) == 6
            assert saved.json()["id"] in [t["id"] for t in organizer]
            hidden = await http.get(f"/api/templates/{saved.json()['id']}")
            assert hidden.status_code == 404
    finally:
        await server.stop()


# -- deletion and data export -----------------------------------------------------------------


async def test_deleting_a_room_closes_it_and_removes_everything(session: Session) -> None:
    s = session
    await fill_board(s)
    await s.post(f"/api/rooms/{s.room}/snapshots", {"name": "kept until deletion"})
    await s.ok("private", on=True)
    private = await YClient(s.server.ws_url, s.room, s.anna_token, private=True).connect()
    private.cards["secret"] = private.card("Slepena ideja")
    private_id = f"{s.room}/{s.anna_id}"
    await wait_until(
        lambda: (
            private_id in s.server.services.rooms.rooms
            and "secret" in s.server.services.rooms.rooms[private_id].doc.get("cards", type=Map)
        ),
        message="the private card on the server",
    )
    await s.ok("private", on=False)
    await s.ok("set_phase", phase="vote")
    await s.server.ok(s.room, s.anna_token, "vote", card="a1")

    refused = await s.delete(f"/api/rooms/{s.room}", token=s.anna_token)
    assert (refused.status_code, refused.json()["error"]) == (403, "facilitator_only")

    response = await s.delete(f"/api/rooms/{s.room}")
    assert response.status_code == 204 and response.content == b""
    for client in (s.facilitator, s.anna, private):
        assert await client.wait_closed() == (4404, "room deleted")
    assert s.room not in s.server.services.rooms.rooms
    assert private_id not in s.server.services.rooms.rooms

    store = s.server.services.store
    await s.server.services.activity.flush()
    async with store.engine.connect() as conn:
        from sqlalchemy import select

        from server.storage import schema

        for table in (
            schema.rooms,
            schema.participants,
            schema.room_updates,
            schema.room_snapshots,
            schema.votes,
            schema.snapshots,
            schema.activity,
        ):
            column = table.c.id if table is schema.rooms else table.c.room_id
            rows = (await conn.execute(select(column).where(column.like(f"{s.room}%")))).all()
            assert rows == [], table.name

    gone = await s.get(f"/api/rooms/{s.room}")
    assert (gone.status_code, gone.json()["error"]) == (404, "room_not_found")
    again = YClient(s.server.ws_url, s.room, s.token)
    await again.connect(wait_synced=False)
    assert await again.wait_closed() == (4404, "room not found")
    async with httpx.AsyncClient(base_url=s.server.url) as http:
        rejoin = await http.post("/api/join", json={"code": s.code, "name": "Anna"})
    assert rejoin.status_code == 404


async def test_data_export_holds_everything_stored(session: Session) -> None:
    s = session
    await fill_board(s)
    await s.ok("private", on=True)
    private = await YClient(s.server.ws_url, s.room, s.anna_token, private=True).connect()
    private.cards["secret"] = private.card("Slepena ideja")
    await wait_until(
        lambda: (
            "secret"
            in s.server.services.rooms.rooms[f"{s.room}/{s.anna_id}"].doc.get("cards", type=Map)
        ),
        message="the private card",
    )
    await s.ok("set_phase", phase="vote")
    await s.server.ok(s.room, s.anna_token, "vote", card="a1")
    await s.post(f"/api/rooms/{s.room}/snapshots", {"name": "mans"})
    await s.post(f"/api/rooms/{s.room}/templates", {"name": "veidne"})

    refused = await s.get(f"/api/rooms/{s.room}/data", token=s.anna_token)
    assert refused.status_code == 403
    response = await s.get(f"/api/rooms/{s.room}/data")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    data = response.json()
    assert data["format"] == "koprade-room-data"
    assert data["room"]["id"] == s.room and data["room"]["code"] == s.code
    assert data["room"]["lastActivity"] >= data["room"]["created"]
    assert [(p["name"], p["role"]) for p in data["participants"]] == [
        ("Ilze", "facilitator"),
        ("Anna", "participant"),
    ]
    assert all(p["joined"] and p["removed"] is None for p in data["participants"])
    assert [(v["participant"], v["card"], v["count"]) for v in data["votes"]] == [
        (s.anna_id, "a1", 1)
    ]
    assert [x["name"] for x in data["snapshots"]] == ["mans", "Before phase: vote"]
    assert {c["id"] for c in data["board"]["cards"]} == {"a1", "a2", "a3", "f1"}
    assert data["board"]["cards"][0]["author"] == s.anna_id  # everything, as stored
    assert [c["text"] for c in data["privateBoards"][s.anna_id]] == ["Slepena ideja"]
    figures = {a["participant"]: a for a in data["activity"]}
    assert figures[s.anna_id]["edits"] >= 3 and figures[s.anna_id]["lastSeen"]
    assert len(data["templates"]) == 1
    json.dumps(data)  # plain JSON all the way down

    # Anonymous mode hides authors on the board, not from the record of what is stored.
    await s.ok("settings", anonymous=True)
    hidden = (await s.get(f"/api/rooms/{s.room}/data")).json()
    # (Authors are pseudonyms on an anonymous board; the export resolves them.)
    assert {c["participant"] for c in hidden["board"]["cards"]} >= {s.anna_id}


# -- retention ------------------------------------------------------------------------------


OLD = "2020-01-02 03:04:05.000000"


def make_old(database: Path, room: str) -> None:
    """Every timestamp stored about the room (and its private boards) back to 2020."""
    with sqlite3.connect(database) as db:
        db.execute("UPDATE koprade_rooms SET created = ? WHERE id = ?", (OLD, room))
        for table, column in (
            ("koprade_participants", "joined"),
            ("koprade_room_updates", "created"),
            ("koprade_room_snapshots", "updated"),
            ("koprade_votes", "updated"),
            ("koprade_snapshots", "created"),
            ("koprade_activity", "last_seen"),
        ):
            db.execute(
                f"UPDATE {table} SET {column} = ? WHERE room_id = ? OR room_id LIKE ?",
                (OLD, room, f"{room}/%"),
            )


async def test_purge_deletes_exactly_the_closed_and_old_rooms(settings: Settings) -> None:
    server = await InProcessServer(settings).start()
    rooms: dict[str, str] = {}
    try:
        for label, close in (
            ("closed-old", True),
            ("closed-recent", True),
            ("open-old", False),
            ("closed-old-but-private-board-recent", True),
        ):
            info = await server.create_room(label)
            rooms[label] = info.room
            client = await YClient(server.ws_url, info.room, info.token).connect()
            client.cards["c1"] = client.card(label)
            await wait_until(
                lambda r=info.room: (
                    "c1" in server.services.rooms.rooms[r].doc.get("cards", type=Map)
                ),
                message="the card on the server",
            )
            if label.endswith("private-board-recent"):
                private = await YClient(
                    server.ws_url, info.room, info.token, private=True
                ).connect()
                private.cards["p1"] = private.card("vēl strādā")
                board_id = f"{info.room}/{info.data['participant']}"
                await wait_until(
                    lambda b=board_id: (
                        b in server.services.rooms.rooms
                        and "p1" in server.services.rooms.rooms[b].doc.get("cards", type=Map)
                    ),
                    message="the private card on the server",
                )
                await private.close()
            if close:
                await server.ok(info.room, info.token, "set_phase", phase="closed")
            await client.close()
    finally:
        await server.stop()

    database = settings.data_dir / "koprade.sqlite3"
    for label in ("closed-old", "open-old", "closed-old-but-private-board-recent"):
        make_old(database, rooms[label])
    with sqlite3.connect(database) as db:  # ...but the private board was written just now
        db.execute(
            "UPDATE koprade_room_updates SET created = ? WHERE room_id LIKE ?",
            ("2099-01-01 00:00:00.000000", f"{rooms['closed-old-but-private-board-recent']}/%"),
        )

    data_dir = str(settings.data_dir)
    off = koprade("purge", "--data-dir", data_dir)
    assert off.returncode == 1 and "no retention period" in off.stderr

    dry = koprade("purge", "--dry-run", "--retention-days", "30", "--data-dir", data_dir)
    assert dry.returncode == 0, dry.stderr
    assert f"would delete {rooms['closed-old']} " in dry.stdout
    assert "1 closed rooms to delete" in dry.stdout
    assert "1 snapshots" in dry.stdout  # the automatic "Session closed" snapshot
    listed = koprade("rooms", "list", "--json", "--data-dir", data_dir)
    assert len(listed.stdout.splitlines()) == 4

    real = koprade("purge", "--data-dir", data_dir, env={"KOPRADE_RETENTION_DAYS": "30"})
    assert real.returncode == 0, real.stderr
    assert f"deleted {rooms['closed-old']} " in real.stdout
    assert "1 closed rooms deleted (no activity for 30 days)" in real.stdout
    remaining = {
        json.loads(line)["room"]
        for line in koprade("rooms", "list", "--json", "--data-dir", data_dir).stdout.splitlines()
    }
    assert remaining == {rooms[k] for k in rooms if k != "closed-old"}
    with sqlite3.connect(database) as db:
        for table in ("koprade_room_updates", "koprade_snapshots", "koprade_participants"):
            left = db.execute(
                f"SELECT count(*) FROM {table} WHERE room_id LIKE ?", (f"{rooms['closed-old']}%",)
            ).fetchone()[0]
            assert left == 0, table
        kept = db.execute(
            "SELECT count(*) FROM koprade_snapshots WHERE room_id = ?", (rooms["closed-recent"],)
        ).fetchone()[0]
        assert kept == 1

    again = koprade("purge", "--retention-days", "30", "--data-dir", data_dir)
    assert "0 closed rooms deleted" in again.stdout


async def test_the_server_purges_but_not_rooms_in_use(settings: Settings) -> None:
    server = await InProcessServer(replace(settings, retention_days=30)).start()
    try:
        idle = await server.create_room("idle")
        busy = await server.create_room("busy")
        for info in (idle, busy):
            await server.ok(info.room, info.token, "set_phase", phase="closed")
        watcher = await YClient(server.ws_url, busy.room, busy.token).connect()
        await wait_until(lambda: idle.room not in server.services.rooms.rooms, message="unload")
        await server.services.rooms.writer.flush()
        database = settings.data_dir / "koprade.sqlite3"
        make_old(database, idle.room)
        make_old(database, busy.room)
        purged = await server.services.sessions.purge()
        assert [c.room.id for c in purged] == [idle.room]
        assert await server.services.store.get_room(idle.room) is None
        assert await server.services.store.get_room(busy.room) is not None
        assert watcher.connected
    finally:
        await server.stop()
