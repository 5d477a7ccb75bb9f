"""Exports in every format and import, against the real server (docs/protocol.md, 1 and 4).

A workshop is run for real: participants write cards over WebSocket, the facilitator
drives phases and votes with commands; then every format is fetched over HTTP and opened
the way a person's tools would open it (csv module, XML parser, Pillow, poppler's
pdftoppm and pdftotext), and the JSON goes back in through the import endpoint.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from pycrdt import Map

from server.config import Settings
from server.reports import render
from tests.support.cli import koprade_bytes
from tests.support.servers import ROOT, InProcessServer, ServerProcess
from tests.support.yclient import YClient, wait_until

TITLE = "Mobilitāte senioriem — Rīga"
LATVIAN = "āčēģīķļņšūž ĀČĒĢĪĶĻŅŠŪŽ"
T0 = 1_795_000_000_000  # 2026-11-18T11:06:40Z, ms since epoch
SVG = "{http://www.w3.org/2000/svg}"
ARTIFACTS = ROOT / "test-artifacts" / "exports"

# Outside CI the PDF checks skip without poppler; in CI (CI=true) they run and fail loudly.
needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("pdftotext"))
    and os.environ.get("CI", "").lower() != "true",
    reason="poppler-utils (pdftoppm, pdftotext) missing: bash scripts/test.sh installs it",
)


@dataclass
class Workshop:
    server: InProcessServer
    room: str
    code: str
    token: str  # the facilitator's
    anna: dict[str, Any]
    bob: dict[str, Any]
    clients: list[YClient]

    async def ok(self, command: str, **args: Any) -> dict[str, Any]:
        return await self.server.ok(self.room, self.token, command, **args)

    async def vote(self, who: dict[str, Any], card: str, times: int = 1) -> None:
        for _ in range(times):
            await self.server.ok(self.room, who["token"], "vote", card=card)

    async def export(self, fmt: str, **params: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.url, timeout=60) as http:
            response = await http.get(
                f"/api/rooms/{self.room}/export",
                params={"format": fmt, **params},
                headers={"authorization": f"Bearer {self.token}"},
            )
        assert response.status_code == 200, response.text
        return response

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


CARDS = {
    # id: (author, text, x, y, color, cluster)
    "c1": ("anna", "Bezmaksas sabiedriskais transports senioriem", 60, 120, "#ffe27a", "k1"),
    "c2": ("bob", "Soliņi ik pēc 200 m", 300, 120, "#ffe27a", "k1"),
    "c3": ("anna", "Zemās grīdas autobusi visos maršrutos", 60, 300, "#ffe27a", "k1"),
    "c4": ("bob", 'Apkaimju brīvprātīgo auto <b>&amp;</b> "kopā"', 640, 140, "#c5eaa8", None),
    "c5": ("anna", f"Skaidrāki pieturu saraksti\n{LATVIAN}", 880, 140, "#b9dcf7", None),
    "c6": ("bob", "Kopbraukšanas lietotne ar tālruņa atbalstu", 640, 340, "#ffc4d6", "k2"),
}
CLUSTERS = {
    "k1": ("Pieejams transports", 30, 50, 500, 420),
    "k2": ("Digitālie pakalpojumi", 600, 300, 300, 230),
}


async def run_workshop(
    server: InProcessServer, *, anonymous: bool = False, named_votes: bool = True
) -> Workshop:
    """A room with two clusters, six cards by Anna and Bob, and a vote (not closed yet)."""
    info = await server.create_room(TITLE, name="Ilze")
    anna = await server.join(info.code, "Anna Bērziņa")
    bob = await server.join(info.code, "Jānis Ozols")
    people = {"anna": anna, "bob": bob}
    clients = {
        key: await YClient(server.ws_url, info.room, person["token"]).connect()
        for key, person in people.items()
    }
    workshop = Workshop(server, info.room, info.code, info.token, anna, bob, [*clients.values()])
    if anonymous:
        await workshop.ok("settings", anonymous=True)
        for client in clients.values():
            await wait_until(lambda c=client: c.last_message("hello")["anonymous"] is True)
    if named_votes:
        await workshop.ok("voting", anonymous=False)
    for cluster_id, (title, x, y, w, h) in CLUSTERS.items():
        from pycrdt import Text

        clients["anna"].clusters[cluster_id] = Map(
            {"title": Text(title), "x": x, "y": y, "w": w, "h": h}
        )
    for index, (card_id, (who, text, x, y, color, cluster)) in enumerate(CARDS.items()):
        fields: dict[str, Any] = {"color": color, "created": T0 + index * 60_000}
        if cluster:
            fields["cluster"] = cluster
        clients[who].cards[card_id] = clients[who].card(text, x, y, **fields)
    board = server.services.rooms.rooms[info.room].doc
    await wait_until(
        lambda: (
            len(board.get("cards", type=Map)) == len(CARDS)
            and len(board.get("clusters", type=Map)) == len(CLUSTERS)
        ),
        message="the board on the server",
    )
    await workshop.ok("set_phase", phase="vote")
    await workshop.vote(anna, "c1", 3)
    await workshop.vote(bob, "c1", 2)
    await workshop.vote(bob, "c5", 2)
    await workshop.vote(anna, "c2", 1)
    return workshop


def save_artifact(name: str, content: bytes) -> Path:
    """Kept under test-artifacts/exports for a person to look at (ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(content)
    return path


def assert_filename(response: httpx.Response, extension: str) -> None:
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(
        rf'attachment; filename="mobilitate-senioriem-riga-\d{{4}}-\d{{2}}-\d{{2}}\.{extension}"',
        disposition,
    ), disposition


def svg_card_texts(svg: bytes) -> dict[str, str]:
    """The text of every card note in an SVG export, lines joined by spaces."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    texts = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "card":
            continue
        spans = [span.text or "" for span in group.iter(f"{SVG}tspan")]
        texts[" ".join(spans)] = group
    return {" ".join(key.split()): "" for key in texts}


def png_is_a_picture(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    assert image.format == "PNG"
    assert 400 <= image.width <= 4000 and 200 <= image.height <= 4000, image.size
    colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is None or len(colors) > 50, "a board, not a blank"
    return image


def pdf_text_and_pages(pdf: bytes, tmp_path: Path) -> tuple[str, list[Image.Image]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, timeout=60
    ).stdout.decode("utf-8")
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(path), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    pages = [Image.open(page) for page in sorted(tmp_path.glob("page-*.png"))]
    return text, pages


def words(text: str) -> str:
    return " ".join(text.split())


# -- the JSON contract and import ---------------------------------------------------------------


async def test_json_round_trip_through_import(server: InProcessServer) -> None:
    workshop = await run_workshop(server)
    await workshop.ok("close_vote")
    await workshop.ok("set_phase", phase="discuss")
    first = (await workshop.export("json")).json()
    assert first["version"] == 2 and first["room"]["participants"] == 3
    assert first["votes"]["c1"] == {
        "count": 5,
        "voters": {workshop.anna["participant"]: 3, workshop.bob["participant"]: 2},
    }
    assert first["meta"]["people"][workshop.anna["participant"]] == "Anna Bērziņa"

    async with httpx.AsyncClient(base_url=server.url) as http:
        imported = await http.post("/api/rooms/import", json=first, params={"name": "Līga"})
    assert imported.status_code == 201, imported.text
    created = imported.json()
    assert created["room"] != workshop.room and created["code"] != workshop.code
    assert created["title"] == TITLE
    assert created["imported"] == {"version": 2, "cards": 6, "clusters": 2, "votes": 3}
    assert created["facilitator_url"].endswith(
        f"/room/{created['room']}#token=" + created["facilitator_token"]
    )

    # The importer opens the new room as its facilitator, then exports it again.
    opener = await YClient(server.ws_url, created["room"], created["facilitator_token"]).connect()
    assert opener.last_message("hello")["role"] == "facilitator"
    copy = Workshop(
        server,
        created["room"],
        created["code"],
        created["facilitator_token"],
        workshop.anna,
        workshop.bob,
        [opener],
    )
    second = (await copy.export("json")).json()
    for key in ("cards", "clusters", "votes"):
        assert second[key] == first[key], key
    assert opener.cards.to_py()["c5"]["text"] == f"Skaidrāki pieturu saraksti\n{LATVIAN}"
    people = second["meta"].pop("people")
    assert people == {**first["meta"].pop("people"), created["participant"]: "Līga"}
    assert second["meta"] == first["meta"]  # phases, phase, voting (closed), title, switches
    assert second["room"]["title"] == first["room"]["title"]
    assert {k for k in first if first[k] != second[k]} == {"room", "exported"}
    await opener.close()
    await workshop.close()


async def test_version_1_exports_and_templates_import(server: InProcessServer) -> None:
    version_1 = {
        "format": "koprade-board",
        "version": 1,
        "room": {
            "id": "k3v9x2m7q4tb",
            "title": "Vecā darbnīca",
            "code": "K7M2QX",
            "created": "2026-01-05T10:00:00.000Z",
        },
        "exported": "2026-01-05T12:00:00.000Z",
        "cards": [
            {
                "id": "a",
                "text": "Ideja",
                "x": 1.5,
                "y": -20,
                "color": "#ffd966",
                "author": "p_old",
                "cluster": "gone",
                "created": T0,
            }
        ],
        "clusters": [],
        "meta": {},
        "votes": {},
    }
    template = {
        "format": "koprade-board",
        "version": 2,
        "cards": [],
        "clusters": [{"id": "k", "title": "Problēmas", "x": 0, "y": 0, "w": 400, "h": 300}],
    }
    async with httpx.AsyncClient(base_url=server.url) as http:
        old = await http.post("/api/rooms/import", json=version_1)
        untitled = await http.post("/api/rooms/import", json=template)
        titled = await http.post("/api/rooms/import", json=template, params={"title": "No veidnes"})
    assert old.status_code == 201, old.text
    assert old.json()["title"] == "Vecā darbnīca"
    assert (untitled.status_code, untitled.json()["field"]) == (422, "room.title")
    assert titled.status_code == 201 and titled.json()["title"] == "No veidnes"
    copy = Workshop(server, old.json()["room"], "", old.json()["facilitator_token"], {}, {}, [])
    exported = (await copy.export("json")).json()
    # Lossless, a dangling cluster reference included.
    assert exported["cards"] == version_1["cards"]


async def test_import_refuses_what_is_not_an_export(settings: Settings) -> None:
    server = await InProcessServer(replace(settings, organizer_key="lab-key")).start()
    key = {"x-organizer-key": "lab-key"}
    good: dict[str, Any] = {
        "format": "koprade-board",
        "version": 2,
        "room": {"title": "T"},
        "cards": [],
        "clusters": [],
        "meta": {},
        "votes": {},
    }

    def variant(**changes: Any) -> dict[str, Any]:
        return {**good, **changes}

    card = {"id": "c", "text": "t", "x": 0, "y": 0}
    cases: list[tuple[Any, int, str, str | None]] = [
        (variant(format="miro"), 422, "invalid_field", "format"),
        (variant(version=3), 422, "invalid_field", "version"),
        (variant(version="2"), 422, "invalid_field", "version"),
        (variant(version=True), 422, "invalid_field", "version"),
        (variant(room={"title": 5}), 422, "invalid_field", "room.title"),
        (variant(cards={}), 422, "invalid_field", "cards"),
        (variant(cards=["c"]), 422, "invalid_field", "cards[0]"),
        (variant(cards=[{**card, "x": "12"}]), 422, "invalid_field", "cards[0].x"),
        (
            json.dumps(variant(cards=[{**card, "y": 12345}])).replace("12345", "1e400").encode(),
            422,
            "invalid_field",
            "cards[0].y",
        ),
        (variant(cards=[{**card, "text": None}]), 422, "invalid_field", "cards[0].text"),
        (variant(cards=[card, card]), 422, "invalid_field", "cards[1].id"),
        (variant(cards=[{**card, "id": ""}]), 422, "invalid_field", "cards[0].id"),
        (
            variant(clusters=[{"id": "k", "title": "t", "w": -5}]),
            422,
            "invalid_field",
            "clusters[0].w",
        ),
        (variant(meta={"phase": "party"}), 422, "invalid_field", "meta.phase"),
        (variant(meta={"locked": "yes"}), 422, "invalid_field", "meta.locked"),
        (
            variant(meta={"voting": {"perParticipant": 0}}),
            422,
            "invalid_field",
            "meta.voting.perParticipant",
        ),
        (variant(votes={"c": {"count": -1}}), 422, "invalid_field", "votes.c.count"),
        (variant(votes={"c": 3}), 422, "invalid_field", "votes.c"),
        ([good], 400, "invalid_json", None),
    ]
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for body, status, error, field in cases:
                if isinstance(body, bytes):
                    response = await http.post(
                        "/api/rooms/import",
                        content=body,
                        headers={**key, "content-type": "application/json"},
                    )
                else:
                    response = await http.post("/api/rooms/import", json=body, headers=key)
                assert response.status_code == status, (body, response.text)
                assert response.json()["error"] == error, response.text
                assert response.json().get("field") == field, response.text
                assert response.json()["message"]
            broken = await http.post(
                "/api/rooms/import",
                content=b'{"format": "koprade-board",',
                headers={**key, "content-type": "application/json"},
            )
            assert (broken.status_code, broken.json()["error"]) == (400, "invalid_json")
            no_key = await http.post("/api/rooms/import", json=good)
            wrong_key = await http.post(
                "/api/rooms/import", json=good, headers={"x-organizer-key": "nope"}
            )
            assert (no_key.status_code, no_key.json()["error"]) == (401, "organizer_key_required")
            assert (wrong_key.status_code, wrong_key.json()["error"]) == (
                403,
                "organizer_key_invalid",
            )
            # Larger than the 64 KiB of other endpoints is fine here, up to 5 MiB.
            many = [
                {"id": f"c{i}", "text": "Ideja " + "ā" * 300, "x": i % 40 * 220, "y": i // 40 * 130}
                for i in range(400)
            ]
            big = variant(cards=many)
            assert len(json.dumps(big).encode()) > 200 * 1024
            accepted = await http.post("/api/rooms/import", json=big, headers=key)
            assert accepted.status_code == 201, accepted.text
            assert accepted.json()["imported"]["cards"] == 400
            huge = variant(cards=[{**card, "id": "x", "text": "x" * 6_000_000}])
            too_big = await http.post("/api/rooms/import", json=huge, headers=key)
            assert (too_big.status_code, too_big.json()["error"]) == (413, "body_too_large")
            # The usual limit still holds for everything else.
            room = await http.post("/api/rooms", json={"title": "x" * 70_000}, headers=key)
            assert room.status_code == 413
    finally:
        await server.stop()


async def test_export_formats_and_rights(server: InProcessServer) -> None:
    info = await server.create_room(TITLE)
    anna = await server.join(info.code, "Anna")
    async with httpx.AsyncClient(base_url=server.url) as http:
        path = f"/api/rooms/{info.room}/export"
        auth = {"authorization": f"Bearer {info.token}"}
        unknown = await http.get(path, params={"format": "docx"}, headers=auth)
        assert (unknown.status_code, unknown.json()["field"]) == (422, "format")
        assert unknown.json()["error"] == "invalid_field"
        bad_lang = await http.get(path, params={"format": "md", "lang": "de"}, headers=auth)
        assert (bad_lang.status_code, bad_lang.json()["field"]) == (422, "lang")
        participant = await http.get(
            path, params={"format": "pdf"}, headers={"authorization": f"Bearer {anna['token']}"}
        )
        assert (participant.status_code, participant.json()["error"]) == (403, "facilitator_only")
        empty = await http.get(path, params={"format": "png"}, headers=auth)
        assert empty.status_code == 200
        png_is_a_picture(empty.content)  # an empty board still draws (title, "empty")


# -- every format, opened ----------------------------------------------------------------------


@needs_poppler
async def test_every_format_shows_the_board(server: InProcessServer, tmp_path: Path) -> None:
    workshop = await run_workshop(server)
    await workshop.ok("close_vote")
    card_texts = {card_id: spec[1] for card_id, spec in CARDS.items()}
    expected = {
        "json": "application/json",
        "md": "text/markdown; charset=utf-8",
        "csv": "text/csv; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png",
        "pdf": "application/pdf",
    }
    responses = {fmt: await workshop.export(fmt) for fmt in expected}
    for fmt, media_type in expected.items():
        assert responses[fmt].headers["content-type"] == media_type, fmt
        assert_filename(responses[fmt], fmt)

    # CSV: a byte order mark, then one row per card that the csv module reads back.
    raw = responses["csv"].content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [row["id"] for row in rows] == ["c1", "c2", "c4", "c5", "c3", "c6"]  # reading order
    by_id = {row["id"]: row for row in rows}
    assert {card_id: row["text"] for card_id, row in by_id.items()} == card_texts
    assert by_id["c1"]["cluster"] == "Pieejams transports" and by_id["c4"]["cluster"] == ""
    assert by_id["c1"]["author"] == "Anna Bērziņa" and by_id["c2"]["author"] == "Jānis Ozols"
    assert [by_id[c]["votes"] for c in ("c1", "c5", "c2", "c3")] == ["5", "2", "1", "0"]
    assert by_id["c1"]["created"] == "2026-11-18T11:06:40.000Z"
    assert (by_id["c6"]["x"], by_id["c6"]["y"], by_id["c6"]["color"]) == ("640", "340", "#ffc4d6")

    # Markdown: facts, ranked results (most first, with text), clusters with their cards.
    md = responses["md"].content.decode("utf-8")
    assert md.startswith(f"# {TITLE}\n")
    assert "- **Participants:** 3" in md and "- **Phase:** Vote" in md
    results = md.split("## Vote results")[1].split("## Clusters")[0]
    assert results.index("**5 votes** — Bezmaksas") < results.index("**2 votes** — Skaidrāki")
    assert results.index("**2 votes**") < results.index("**1 vote** — Soliņi")
    assert "Anna Bērziņa 3, Jānis Ozols 2" in results
    clusters = md.split("## Clusters")[1]
    assert clusters.index("### Digitālie pakalpojumi") < clusters.index("### Pieejams transports")
    k1 = clusters.split("### Pieejams transports")[1].split("##")[0]
    assert "- Soliņi ik pēc 200 m — *Jānis Ozols*" in k1
    unclustered = md.split("## Unclustered cards")[1]
    assert 'Apkaimju brīvprātīgo auto \\<b\\>&amp;\\</b\\> "kopā"' in unclustered
    assert LATVIAN in unclustered and "2026-11-18 11:10 UTC" in unclustered

    # SVG: well-formed XML (escaped), every card's text, frames with titles, vote badges.
    svg = responses["svg"].content
    root = ET.fromstring(svg)
    assert root.get("viewBox") and root.find(f"{SVG}title").text.startswith(TITLE)
    assert set(svg_card_texts(svg)) == {words(text) for text in card_texts.values()}
    all_text = " ".join(t for t in root.itertext())
    assert "Pieejams transports" in all_text and "Digitālie pakalpojumi" in all_text
    assert "Anna Bērziņa" in all_text
    badges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "votes"]
    assert sorted(b.find(f"{SVG}text").text for b in badges) == ["1", "2", "5"]
    assert b"@font-face" in svg  # the font travels with the picture
    left, top, width, height = map(float, root.get("viewBox").split())
    assert left < 30 and top < 50 and left + width > 880 + 200 and top + height > 340 + 110

    # PNG: a real picture of the board.
    png = png_is_a_picture(responses["png"].content)
    save_artifact("board.png", responses["png"].content)
    assert png.width > png.height  # the board is wider than tall

    # PDF: text in order (title page, results, clusters) and pages that render.
    pdf = responses["pdf"].content
    assert pdf.startswith(b"%PDF-")
    save_artifact("report.pdf", pdf)
    text, pages = pdf_text_and_pages(pdf, tmp_path)
    flat = words(text)
    assert TITLE in flat and "Participants 3" in flat
    assert flat.index("Vote results") < flat.index("Bezmaksas sabiedriskais transports senioriem")
    assert LATVIAN in flat and "Digitālie pakalpojumi" in flat and "Jānis Ozols" in flat
    assert len(pages) >= 4
    for page in pages:
        assert page.convert("L").getextrema() != (255, 255), "a blank page"
    board_page = pages[1].convert("RGB")
    assert len(board_page.getcolors(maxcolors=1_000_000) or range(10_000)) > 50
    save_artifact("report-board-page.png", _png_bytes(board_page))
    await workshop.close()


def _png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@needs_poppler
async def test_latvian_report_words(server: InProcessServer, tmp_path: Path) -> None:
    workshop = await run_workshop(server, named_votes=False)
    await workshop.ok("close_vote")
    md = (await workshop.export("md", lang="lv")).content.decode()
    assert "## Balsojuma rezultāti" in md and "**5 balsis**" in md and "**1 balss**" in md
    text, _ = pdf_text_and_pages((await workshop.export("pdf", lang="lv")).content, tmp_path)
    assert "Darbnīcas atskaite" in text and "Kartītes ārpus grupām" in text
    await workshop.close()


# -- the room's rules hold in every format ------------------------------------------------------


@needs_poppler
async def test_anonymous_room_exports_no_names(server: InProcessServer, tmp_path: Path) -> None:
    workshop = await run_workshop(server, anonymous=True)
    await workshop.ok("close_vote")
    names = ("Anna", "Bērziņa", "Jānis", "Ozols", "Ilze")
    ids = (workshop.anna["participant"], workshop.bob["participant"])

    exported = (await workshop.export("json")).json()
    assert "people" not in exported["meta"]
    assert {card["author"] for card in exported["cards"]} == {""}
    assert exported["votes"]["c1"] == {"count": 5}  # tallies, no voters
    raw_json = json.dumps(exported, ensure_ascii=False)
    assert not any(part in raw_json for part in (*names, *ids))

    for fmt in ("md", "csv", "svg"):
        content = (await workshop.export(fmt)).content.decode("utf-8-sig")
        assert not any(name in content for name in names), fmt
        assert not any(participant in content for participant in ids), fmt
    rows = list(csv.DictReader(io.StringIO((await workshop.export("csv")).text.lstrip("\ufeff"))))
    assert {row["author"] for row in rows} == {""} and rows[0]["votes"] == "5"
    md = (await workshop.export("md")).text
    assert "_Anonymous room: no author names._" in md and "**5 votes**" in md
    text, _ = pdf_text_and_pages((await workshop.export("pdf")).content, tmp_path)
    assert not any(name in text for name in names)
    assert "Bezmaksas sabiedriskais transports senioriem" in words(text)
    await workshop.close()


@needs_poppler
async def test_hidden_votes_appear_only_after_close(
    server: InProcessServer, tmp_path: Path
) -> None:
    workshop = await run_workshop(server)  # votes are hidden by default, and cast
    room_doc = server.services.rooms.rooms[workshop.room].doc
    assert room_doc.get("votes", type=Map).to_py() in (None, {})

    before = (await workshop.export("json")).json()
    assert before["votes"] == {} and before["meta"]["voting"]["state"] == "open"
    md = (await workshop.export("md")).text
    assert "Votes are hidden until the facilitator closes the vote." in md
    assert "votes**" not in md and "5 votes" not in md
    rows = list(csv.DictReader(io.StringIO((await workshop.export("csv")).text.lstrip("\ufeff"))))
    assert {row["votes"] for row in rows} == {""}  # unknown yet, not zero
    svg = ET.fromstring((await workshop.export("svg")).content)
    assert not [g for g in svg.iter(f"{SVG}g") if g.get("class") == "votes"]
    text, _ = pdf_text_and_pages((await workshop.export("pdf")).content, tmp_path / "before")
    assert "Votes are hidden until the facilitator closes the vote." in words(text)

    await workshop.ok("close_vote")
    after = (await workshop.export("json")).json()
    assert {card: tally["count"] for card, tally in after["votes"].items()} == {
        "c1": 5,
        "c5": 2,
        "c2": 1,
    }
    assert "1. **5 votes** — Bezmaksas" in (await workshop.export("md")).text
    rows = list(csv.DictReader(io.StringIO((await workshop.export("csv")).text.lstrip("\ufeff"))))
    assert {row["id"]: row["votes"] for row in rows}["c1"] == "5"
    svg = ET.fromstring((await workshop.export("svg")).content)
    assert len([g for g in svg.iter(f"{SVG}g") if g.get("class") == "votes"]) == 3
    text, _ = pdf_text_and_pages((await workshop.export("pdf")).content, tmp_path / "after")
    assert "Votes are hidden" not in text and "Jānis Ozols 2" in words(text)
    await workshop.close()


def test_renderers_survive_odd_boards() -> None:
    """Live boards hold what clients wrote: wrong types, control characters, markup."""
    export = {
        "format": "koprade-board",
        "version": 2,
        "room": {"title": '<Telpa> & "citi"', "created": "2026-11-23T10:00:00.000Z"},
        "cards": [
            {
                "id": "a",
                "text": "bell\x07 and \x00nul <svg onload=x> ]]>",
                "x": "far",
                "y": None,
                "color": 'red" onclick="x',
                "created": "yesterday",
            },
            {"id": "b", "text": "=1+2", "x": math.inf, "y": 10},
            {"id": "c", "text": "- list? # heading? [link](x)", "x": 1e6, "y": -1e6},
            "not a card",
            {"id": "d", "text": "", "x": 5, "y": 5, "cluster": "missing"},
            {"id": "e", "text": "ā" * 3000 + " " + "garš-vārds" * 50, "x": 0, "y": 300},
        ],
        "clusters": [{"id": "k", "title": None, "x": 0, "y": 0, "w": "big", "h": 10}],
        "meta": {"people": "nobody", "voting": {"hidden": False}},
        "votes": {"a": {"count": "many"}, "zz": {"count": 4}},
    }
    svg = render("svg", export)
    root = ET.fromstring(svg)  # still well-formed XML
    assert "<svg onload=x> ]]>" in " ".join(root.itertext())
    assert b"\x07" not in svg and b"\x00" not in svg
    assert not [el for el in root.iter() if el.get("onclick") or el.get("onload")]
    rows = list(csv.reader(io.StringIO(render("csv", export).decode("utf-8-sig"))))
    assert {row[0]: row[1] for row in rows[1:]}["b"] == "'=1+2"  # no formula for Excel
    md = render("md", export).decode()
    assert "\\- list? \\# heading? \\[link\\]\\(x\\)" in md
    # A card a million pixels away: the picture shrinks to fit, within the size limit.
    png = Image.open(io.BytesIO(render("png", export)))
    assert png.format == "PNG" and max(png.size) <= 4000
    assert render("pdf", export).startswith(b"%PDF-")


# -- the command line -----------------------------------------------------------------------------


async def test_cli_export_and_import(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path).start()
    try:
        info = await server.create_room(TITLE)
        writer = await YClient(server.ws_url, info.room, info.token).connect()
        writer.cards["c1"] = writer.card(f"Ideja {LATVIAN}", x=10, y=20, created=T0)
        reader = await YClient(server.ws_url, info.room, info.token).connect()
        await wait_until(lambda: "c1" in reader.cards, message="relay")
        await writer.close()
        await reader.close()
    finally:
        assert server.terminate()

    data = ["--data-dir", str(tmp_path)]
    for fmt in ("png", "pdf"):
        result = koprade_bytes(
            "export", info.room, "--format", fmt, "-o", str(tmp_path / f"b.{fmt}"), *data
        )
        assert result.returncode == 0, result.stderr
    png_is_a_picture((tmp_path / "b.png").read_bytes())
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF-")
    to_stdout = koprade_bytes("export", info.room, "--format", "csv", *data)
    assert to_stdout.stdout.startswith(b"\xef\xbb\xbf") and LATVIAN.encode() in to_stdout.stdout
    svg = koprade_bytes("export", info.room, "--format", "svg", *data)
    assert f"Ideja {LATVIAN}" in " ".join(ET.fromstring(svg.stdout).itertext())
    as_json = koprade_bytes(
        "export", info.room, "--format", "json", "-o", str(tmp_path / "b.json"), *data
    )
    assert as_json.returncode == 0, as_json.stderr

    imported = koprade_bytes("import", str(tmp_path / "b.json"), "--name", "Ilze", *data)
    assert imported.returncode == 0, imported.stderr
    lines = dict(line.split(": ", 1) for line in imported.stdout.decode().splitlines())
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{6}", lines["code"])
    assert lines["cards"] == "1, clusters: 0"
    room, token = re.fullmatch(
        r"http://127\.0\.0\.1:8000/room/([a-z2-9]{12})#token=(\S+)", lines["facilitator_url"]
    ).groups()

    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "koprade-board", "version": 9}')
    refused = koprade_bytes("import", str(broken), *data)
    assert refused.returncode == 1 and b"(version)" in refused.stderr

    # The printed link works on the server of that data directory.
    again = ServerProcess(tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=again.url) as http:
            summary = await http.get(
                f"/api/rooms/{room}", headers={"authorization": f"Bearer {token}"}
            )
            code = await http.post("/api/join", json={"code": lines["code"], "name": "Anna"})
        assert summary.status_code == 200, summary.text
        assert summary.json()["role"] == "facilitator" and summary.json()["name"] == "Ilze"
        assert summary.json()["counts"]["cards"] == 1 and summary.json()["title"] == TITLE
        assert code.status_code == 200 and code.json()["room"] == room
    finally:
        assert again.terminate()
