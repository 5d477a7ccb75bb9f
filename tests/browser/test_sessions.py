"""End-to-end tests of the sessions UI (docs/protocol.md: exports and import, snapshots,
templates, room deletion and data export, participation insight): the facilitator panel's
Participation, Snapshots, Export, Save as template and Workshop data sections, the read-only
snapshot view, and the start page's template picker and JSON import.

The facilitator (Latvian browser, laptop) and participants (English browser, tablet size)
use separate browser contexts against the real server (see conftest.py).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import REQUIRE, watch_errors

try:
    from playwright.sync_api import expect
except ImportError:
    if REQUIRE:
        raise
    pytest.skip("the `playwright` Python package is not installed", allow_module_level=True)

from tests.browser.helpers import add_card, card, close_invite, create_room, join_room
from tests.browser.test_facilitation import no_errors, open_panel, switch, two_people, wait_hello
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.browser

ROOM_URL = re.compile(r"/room/[a-z2-9]{12}$")


# ------------------------------------------------------------------------------ helpers


def section(page: Any, name: str) -> Any:
    """A section of the facilitator panel (opened), scrolled into view."""
    panel = open_panel(page)
    sec = panel.get_by_test_id(f"fac-{name}")
    sec.scroll_into_view_if_needed()
    return sec


def take_snapshot(fac: Any, name: str) -> Any:
    sec = section(fac, "snapshots")
    sec.get_by_test_id("snapshot-name").fill(name)
    sec.get_by_test_id("snapshot-take").click()
    expect(sec.get_by_test_id("fac-status-snapshots")).to_contain_text(name)
    row = sec.get_by_test_id("snapshot").filter(has_text=name)
    expect(row).to_have_count(1)
    return row


def token_of(page: Any, room: str) -> str:
    return page.evaluate("r => JSON.parse(sessionStorage.getItem('koprade:room:' + r)).token", room)


def fetch_text(page: Any, path: str, token: str) -> str:
    """GET with the Bearer token from inside the page (what the client itself can fetch)."""
    return page.evaluate(
        """async ([path, token]) => {
          const r = await fetch(path, {headers: {Authorization: 'Bearer ' + token}});
          if (!r.ok) throw new Error(r.status + ' ' + await r.text());
          return await r.text();
        }""",
        [path, token],
    )


def download(page: Any, button: Any, target: Path) -> Path:
    """Click a download button; the file as the browser saved it (Playwright's download event)."""
    with page.expect_download() as info:
        button.click()
    dl = info.value
    path = target / dl.suggested_filename
    dl.save_as(str(path))
    return path


# ------------------------------------------------------------------------------ start page


def test_room_from_template(new_context: Any) -> None:
    page = new_context(locale="en-GB").new_page()
    errors = watch_errors(page)
    page.goto("/")
    select = page.get_by_test_id("template-select")
    expect(select.locator('option[value="affinity-map"]')).to_have_count(1)
    expect(select).to_have_value("")  # an empty board by default
    expect(page.get_by_test_id("template-desc")).to_have_text("A board without groups or cards.")
    select.select_option("affinity-map")
    # the description and a preview of the frames, in the UI language
    expect(page.get_by_test_id("template-desc")).to_contain_text("Everyone writes ideas first")
    frames = page.get_by_test_id("template-frames").locator("li")
    expect(frames).to_have_text(["Theme 1", "Theme 2", "Theme 3", "Theme 4"])
    expect(page.get_by_test_id("template-preview")).to_contain_text("Groups: 4 · cards: 2")
    page.get_by_test_id("lang-switch").click()  # Latvian: names and preview follow
    expect(page.get_by_test_id("template-frames").locator("li").first).to_have_text("Tēma 1")
    expect(select.locator("option:checked")).to_have_text("Afinitātes karte")
    page.get_by_test_id("lang-switch").click()

    page.locator("#create-title").fill("Affinity session")
    page.locator("#create-name").fill("Ilze")
    page.locator("#create-title").press("Enter")
    expect(page).to_have_url(ROOM_URL)
    close_invite(page)
    # the template's frames and instruction cards are on the board, in English
    expect(page.get_by_test_id("cluster")).to_have_count(4)
    titles = page.get_by_test_id("cluster-title")
    for i in range(4):
        expect(titles.nth(i)).to_have_value(f"Theme {i + 1}")
        expect(titles.nth(i)).to_be_in_viewport()  # zoomed to fit
    expect(card(page, "Write each idea on its own card")).to_have_count(1)
    # and the template's phase sequence
    expect(page.get_by_test_id("phase-name")).to_have_text("Ideate")
    assert errors == []


def test_save_template_and_start_from_it(new_context: Any, server: ServerProcess) -> None:
    fac = new_context(locale="lv-LV").new_page()
    room, _code = create_room(fac, "Metodes darbnīca", "Ilze")
    close_invite(fac)
    add_card(fac, "Kas strādā labi?", at=(250, 220))
    card(fac, "Kas strādā labi?").click()
    fac.get_by_test_id("tool-new-cluster").click()
    fac.get_by_test_id("cluster-title").press_sequentially("Stiprās puses")
    fac.get_by_test_id("cluster-title").press("Enter")
    sec = section(fac, "template")
    sec.get_by_test_id("template-save").click()  # a name is required
    expect(sec.get_by_test_id("fac-status-template")).to_have_text("Lūdzu, aizpildiet šo lauku.")
    sec.get_by_test_id("template-name").fill("Mūsu retrospektīva")
    sec.get_by_test_id("template-description").fill("Ko paturēt, ko mainīt")
    sec.get_by_test_id("template-save").click()
    expect(sec.get_by_test_id("fac-status-template")).to_have_text(
        "Veidne „Mūsu retrospektīva” saglabāta"
    )

    # on the start page it is among the saved templates, with its frame in the preview (saved
    # templates are the lab's: the organizer opens the page with the server's printed link)
    other = new_context(locale="lv-LV").new_page()
    other.goto(f"/#key={server.organizer_key}")
    select = other.get_by_test_id("template-select")
    saved = select.locator(
        'optgroup[label="Saglabātās veidnes"] option', has_text="Mūsu retrospektīva"
    )
    expect(saved).to_have_count(1)
    select.select_option(label="Mūsu retrospektīva")
    expect(other.get_by_test_id("template-desc")).to_have_text("Ko paturēt, ko mainīt")
    expect(other.get_by_test_id("template-frames").locator("li")).to_have_text(["Stiprās puses"])
    other.locator("#create-title").fill("Otrā retrospektīva")
    other.locator("#create-title").press("Enter")
    expect(other).to_have_url(ROOM_URL)
    close_invite(other)
    expect(other.get_by_test_id("cluster-title")).to_have_value("Stiprās puses")
    expect(card(other, "Kas strādā labi?")).to_have_count(1)
    # without its author: the template keeps the method, not the people
    expect(card(other, "Kas strādā labi?").get_by_test_id("card-author")).to_be_hidden()
    assert other.url.rsplit("/", 1)[1] != room


def test_import_json_export_from_start_page(new_context: Any, tmp_path: Path) -> None:
    fac, par, room, _code = two_people(new_context, "Eksportētā darbnīca")
    add_card(par, "Pieturas ar soliņiem", at=(300, 250))
    add_card(fac, "Zemās grīdas autobusi", at=(600, 250))
    # the server's own JSON export of this room
    exported = fetch_text(fac, f"/api/rooms/{room}/export?format=json", token_of(fac, room))
    assert json.loads(exported)["format"] == "koprade-board"
    path = tmp_path / "eksports.json"
    path.write_text(exported, encoding="utf-8")
    bad = tmp_path / "nav-eksports.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")

    page = new_context(locale="lv-LV").new_page()
    errors = watch_errors(page)
    page.goto("/")
    box = page.get_by_test_id("import-box")
    box.locator("summary").click()
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-error")).to_have_text("Lūdzu, izvēlieties failu.")
    page.locator("#import-file").set_input_files(str(bad))
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-error")).to_have_text(
        "Šis fails nav Koprade tāfeles eksports."
    )
    page.locator("#import-file").set_input_files(str(path))
    page.get_by_test_id("import-title").fill("Importētā darbnīca")
    page.locator("#create-name").fill("Marta")
    page.get_by_test_id("import-submit").click()
    expect(page).to_have_url(ROOM_URL)
    new_room = page.url.rsplit("/", 1)[1]
    assert new_room != room
    close_invite(page)
    expect(page.get_by_test_id("room-title")).to_have_text("Importētā darbnīca")
    # the board came along, authors' names too; the importer facilitates the new room
    expect(card(page, "Pieturas ar soliņiem")).to_have_count(1)
    expect(card(page, "Pieturas ar soliņiem").get_by_test_id("card-author")).to_have_text(
        "Autors: Jānis"
    )
    expect(card(page, "Zemās grīdas autobusi")).to_have_count(1)
    expect(page.get_by_test_id("fac-open")).to_be_visible()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    assert errors == []


# ------------------------------------------------------------------------------ snapshots


def test_snapshot_view_read_only_and_restore(new_context: Any, artifacts: Path) -> None:
    fac, par, room, _code = two_people(new_context, "Momentuzņēmumi")
    add_card(par, "Vecā ideja", at=(300, 250))
    row = take_snapshot(fac, "Pirms izmaiņām")
    expect(row.get_by_test_id("snapshot-label")).to_have_text("Pirms izmaiņām")
    expect(row).to_have_attribute("data-kind", "manual")
    expect(row).to_contain_text("Ilze")  # who took it

    # the board changes afterwards
    add_card(par, "Jaunā ideja", at=(600, 250))
    card(par, "Vecā ideja").click()
    par.keyboard.press("Delete")
    expect(card(fac, "Vecā ideja")).to_have_count(0)
    expect(card(fac, "Jaunā ideja")).to_have_count(1)

    # view: the old board, read only, without a connection of its own
    sockets: list[str] = []
    fac.on("websocket", lambda ws: sockets.append(ws.url))
    row.get_by_test_id("snapshot-open").click()
    view = fac.get_by_test_id("snapshot-view")
    expect(view).to_be_visible()
    expect(fac.get_by_test_id("fac-panel")).to_be_hidden()
    expect(fac.get_by_test_id("snapshot-view-title")).to_have_text(
        "Momentuzņēmums: Pirms izmaiņām — tikai skatīšanai"
    )
    snap_cards = view.get_by_test_id("snapshot-card")
    expect(snap_cards).to_have_count(1)
    expect(snap_cards.first).to_contain_text("Vecā ideja")
    expect(snap_cards.first).to_contain_text("Autors: Jānis")
    expect(view.locator("textarea, input, [contenteditable]")).to_have_count(0)
    fac.screenshot(path=str(artifacts / "snapshot-view-laptop.png"))
    # editing is impossible: double click, keys, a card's tap open nothing and change nothing
    live = (
        "() => [...window.koprade.doc.getMap('cards').values()]"
        ".map(m => m.get('text').toString()).sort()"
    )
    before = fac.evaluate(live)
    view.get_by_test_id("snapshot-canvas").dblclick(position={"x": 500, "y": 400})
    snap_cards.first.dblclick()
    for key in ("n", "Delete", "g"):
        fac.keyboard.press(key)
    expect(fac.get_by_test_id("card-editor")).to_have_count(0)
    assert fac.evaluate(live) == before == ["Jaunā ideja"]
    # zoom and pan are allowed
    world = view.locator(".world")
    t0 = world.evaluate("el => el.style.transform")
    view.get_by_test_id("snapshot-zoom-in").click()
    expect(world).not_to_have_attribute("style", re.compile(re.escape(t0)))
    box = view.get_by_test_id("snapshot-canvas").bounding_box()
    assert box
    t1 = world.evaluate("el => el.style.transform")
    fac.mouse.move(box["x"] + 40, box["y"] + 40)
    fac.mouse.down()
    fac.mouse.move(box["x"] + 140, box["y"] + 90, steps=5)
    fac.mouse.up()
    assert world.evaluate("el => el.style.transform") != t1
    assert fac.evaluate(live) == ["Jaunā ideja"]
    # it was drawn from the fetched state alone: no WebSocket was opened for it
    assert sockets == []
    view.get_by_test_id("snapshot-close").click()
    expect(view).to_have_count(0)
    expect(fac.get_by_test_id("fac-panel")).to_be_visible()

    # restore: confirmed, the live board becomes the snapshot's for everyone
    sec = section(fac, "snapshots")
    sec.get_by_test_id("snapshot").filter(has_text="Pirms izmaiņām").get_by_test_id(
        "snapshot-restore"
    ).click()
    expect(fac.get_by_test_id("confirm")).to_be_visible()
    fac.get_by_test_id("confirm-ok").click()
    status = sec.get_by_test_id("fac-status-snapshots")
    expect(status).to_contain_text("Tāfele atjaunota no „Pirms izmaiņām”")
    expect(status).to_contain_text("„Pirms „Pirms izmaiņām” atjaunošanas”")  # the backup's name
    for page in (par, fac):
        expect(card(page, "Vecā ideja")).to_have_count(1)
        expect(card(page, "Jaunā ideja")).to_have_count(0)
    # the backup is listed (newest first), named by its kind in the UI language
    first = sec.get_by_test_id("snapshot").first
    expect(first).to_have_attribute("data-kind", "restore")
    expect(first.get_by_test_id("snapshot-label")).to_have_text(
        "Pirms „Pirms izmaiņām” atjaunošanas"
    )
    # the backup holds the board from before the restore
    first.get_by_test_id("snapshot-open").click()
    expect(view.get_by_test_id("snapshot-card").locator(".card-text")).to_have_text(["Jaunā ideja"])
    fac.keyboard.press("Escape")
    expect(view).to_have_count(0)

    # a phase change takes a snapshot automatically, named by its kind
    fac.get_by_test_id("phase-ideate").click()
    auto = sec.locator('[data-testid="snapshot"][data-kind="phase"]')
    expect(auto).to_have_count(1)
    expect(auto.get_by_test_id("snapshot-label")).to_have_text("Fāzes „Izpēte” beigas")

    # delete one (confirmed)
    sec.locator('[data-testid="snapshot"][data-kind="restore"]').get_by_test_id(
        "snapshot-delete"
    ).click()
    fac.get_by_test_id("confirm-ok").click()
    expect(sec.locator('[data-testid="snapshot"][data-kind="restore"]')).to_have_count(0)
    expect(status).to_contain_text("dzēsts")
    assert room
    no_errors(fac, par)


def test_duplicate_snapshot_into_new_room(new_context: Any) -> None:
    fac = new_context(locale="lv-LV").new_page()
    errors = watch_errors(fac)
    room, _code = create_room(fac, "Pirmā sesija", "Ilze")
    close_invite(fac)
    add_card(fac, "Ideja nākamajai reizei", at=(300, 250))
    row = take_snapshot(fac, "Sesijas beigas")
    row.get_by_test_id("snapshot-duplicate").click()
    dialog = fac.get_by_test_id("duplicate-dialog")
    field = dialog.get_by_test_id("input-dialog-field")
    expect(field).to_have_value("Pirmā sesija")  # this room's title by default
    field.fill("Otrā sesija")
    dialog.get_by_test_id("input-dialog-ok").click()
    result = fac.get_by_test_id("dup-result")
    expect(result).to_contain_text("Darbnīca „Otrā sesija” ir gatava")
    join = result.get_by_test_id("dup-join")
    expect(join).to_have_value(re.compile(r"/join/[2-9A-HJ-NP-Z]{6}$"))

    with fac.context.expect_page() as info:
        result.get_by_test_id("dup-open").click()
    new = info.value
    expect(new).to_have_url(ROOM_URL)
    assert new.url.rsplit("/", 1)[1] != room
    expect(new.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(new.get_by_test_id("room-title")).to_have_text("Otrā sesija")
    expect(card(new, "Ideja nākamajai reizei")).to_have_count(1)
    expect(new.get_by_test_id("fac-open")).to_be_visible()  # its facilitator
    # the old room goes on unchanged
    expect(card(fac, "Ideja nākamajai reizei")).to_have_count(1)
    assert errors == []


# ------------------------------------------------------------------------------ exports


def test_export_downloads(new_context: Any, tmp_path: Path) -> None:
    fac, par, room, _code = two_people(new_context, "Mobilitāte senioriem")
    add_card(par, "Soliņi, pieturas un ēna", at=(300, 250))
    add_card(fac, "=1+1 nav formula", at=(600, 250))
    sec = section(fac, "export")
    status = sec.get_by_test_id("fac-status-export")
    expect(sec.get_by_test_id("export-lang")).to_have_value("lv")
    files: dict[str, Path] = {}
    for fmt in ("pdf", "png", "csv", "md", "svg", "json"):
        path = download(fac, sec.get_by_test_id(f"export-{fmt}"), tmp_path)
        # the server's file name (Content-Disposition): title slug and date
        assert re.fullmatch(rf"mobilitate-senioriem-\d{{4}}-\d{{2}}-\d{{2}}\.{fmt}", path.name)
        assert path.stat().st_size > 0
        expect(status).to_contain_text(f"Lejupielādēts {path.name}")
        files[fmt] = path
    assert files["pdf"].read_bytes().startswith(b"%PDF")
    assert files["png"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert files["png"].stat().st_size > 1000
    rows = list(csv.DictReader(io.StringIO(files["csv"].read_text(encoding="utf-8-sig"))))
    texts = {row["text"] for row in rows}
    assert "Soliņi, pieturas un ēna" in texts
    assert "'=1+1 nav formula" in texts  # not run as a formula by a spreadsheet
    assert "Soliņi, pieturas un ēna" in files["md"].read_text(encoding="utf-8")
    assert "**Datums:**" in files["md"].read_text(encoding="utf-8")  # lang=lv (the UI language)
    assert "<svg" in files["svg"].read_text(encoding="utf-8")
    board = json.loads(files["json"].read_text(encoding="utf-8"))
    assert {c["text"] for c in board["cards"]} == {"Soliņi, pieturas un ēna", "=1+1 nav formula"}
    # the words around the board in the report follow the chosen language
    sec.get_by_test_id("export-lang").select_option("en")
    (tmp_path / "en").mkdir()
    md = download(fac, sec.get_by_test_id("export-md"), tmp_path / "en")
    assert "**Date:**" in md.read_text(encoding="utf-8")

    # everything stored about the room
    data_sec = section(fac, "data")
    data = download(fac, data_sec.get_by_test_id("data-download"), tmp_path)
    assert data.name == f"koprade-{room}-data.json"
    stored = json.loads(data.read_text(encoding="utf-8"))
    assert stored["format"] == "koprade-room-data"
    assert {p["name"] for p in stored["participants"]} == {"Ilze", "Jānis"}
    expect(data_sec.get_by_test_id("fac-status-data")).to_contain_text(data.name)
    no_errors(fac, par)


# ------------------------------------------------------------------------------ participation


def test_participation_panel(new_context: Any) -> None:
    fac, par, room, code = two_people(new_context, "Līdzdalība")
    anna = new_context(locale="en-GB", viewport={"width": 1024, "height": 768}).new_page()
    anna._koprade_errors = watch_errors(anna)  # type: ignore[attr-defined]
    join_room(anna, code, "Anna")
    wait_hello(anna)
    for text in ("Pirmā", "Otrā", "Trešā"):
        add_card(par, f"{text} Jāņa ideja")
    sec = section(fac, "insight")
    people = sec.get_by_test_id("insight-person")
    # most active first; the quiet participant is highlighted
    expect(people.first.get_by_test_id("insight-name")).to_have_text("Jānis")
    expect(people.first).to_have_attribute("data-cards", "3")
    quiet = people.filter(has_text="Anna")
    expect(quiet).to_have_attribute("data-quiet", "true")
    expect(quiet.get_by_test_id("insight-quiet")).to_have_text(
        "vēl bez kartītēm \N{EN DASH} aiciniet iesaistīties"
    )
    expect(quiet.locator(".online-dot")).to_have_class(re.compile(r"\bon\b"))
    expect(people.filter(has_text="Ilze")).to_have_attribute("data-quiet", "false")  # facilitator
    # the equality measure in plain words
    expect(sec.get_by_test_id("insight-equality")).to_have_text(
        "Aktīvākie 50 % dalībnieku (1 no 2) uzrakstīja 100 % kartīšu."
    )
    expect(sec.get_by_test_id("insight-silent")).to_have_text(
        "1 dalībniekam vēl nav nevienas kartītes."
    )
    expect(sec.get_by_test_id("insight-balance")).to_contain_text("aiciniet iesaistīties")
    expect(sec.get_by_test_id("insight-total-participants")).to_have_text("2")
    expect(sec.get_by_test_id("insight-total-cards")).to_have_text("3")

    # refreshed on its own while the panel is open (every 15 s)
    add_card(anna, "Annas ideja")
    expect(quiet).to_have_attribute("data-quiet", "false", timeout=25_000)
    expect(sec.get_by_test_id("insight-silent")).to_have_text(
        "Katrs dalībnieks ir uzrakstījis vismaz vienu kartīti."
    )

    # anonymous: no names, the distribution only, and it says so
    switch(fac, "switch-anonymous", True)
    sec = section(fac, "insight")
    sec.get_by_test_id("insight-refresh").click()
    expect(sec.get_by_test_id("insight-anonymous")).to_be_visible()
    expect(people).to_have_count(3)
    expect(people.get_by_test_id("insight-name")).to_have_text(["Vārds slēpts"] * 3)
    expect(sec.get_by_test_id("insight-list")).not_to_contain_text("Jānis")
    expect(sec.get_by_test_id("insight-list")).not_to_contain_text("Anna")
    expect(people.first).to_have_attribute("data-cards", "3")
    assert room
    no_errors(fac, par, anna)


# ------------------------------------------------------------------------------ deleting


def test_delete_room(new_context: Any) -> None:
    fac, par, room, code = two_people(new_context, "Dzēšamā darbnīca")
    add_card(par, "Drīz pazudīs", at=(300, 250))
    sec = section(fac, "data")
    sec.get_by_test_id("room-delete").click()
    dialog = fac.get_by_test_id("delete-dialog")
    expect(dialog).to_contain_text("Darbnīca „Dzēšamā darbnīca” tiks dzēsta")
    ok = dialog.get_by_test_id("input-dialog-ok")
    field = dialog.get_by_test_id("input-dialog-field")
    expect(ok).to_be_disabled()
    field.fill("ABC")
    expect(ok).to_be_disabled()
    field.fill(f"{code[:3].lower()}-{code[3:].lower()}")  # typed as people type codes
    expect(ok).to_be_enabled()
    # cancelling deletes nothing
    dialog.get_by_test_id("input-dialog-cancel").click()
    expect(dialog).to_have_count(0)
    expect(par.get_by_test_id("connection")).to_have_attribute("data-state", "connected")

    sec.get_by_test_id("room-delete").click()
    dialog = fac.get_by_test_id("delete-dialog")
    dialog.get_by_test_id("input-dialog-field").fill(code)
    dialog.get_by_test_id("input-dialog-ok").click()
    # the facilitator lands on the start page, which says what happened
    expect(fac).to_have_url(re.compile(r"/$"))
    expect(fac.get_by_test_id("start-notice")).to_have_text(
        "Darbnīca „Dzēšamā darbnīca” un viss, kas par to glabājās, ir dzēsts."
    )
    # everyone still in the room gets a final message (close 4404 "room deleted")
    fatal = par.get_by_test_id("fatal")
    expect(fatal).to_be_visible()
    expect(fatal).to_have_attribute("data-reason", "fatalRoomDeleted")
    expect(fatal).to_contain_text("The facilitator deleted this workshop.")
    expect(par.get_by_test_id("connection")).to_have_attribute("data-state", "fatal")
    # for good: no reconnecting, the code no longer works
    fatal.get_by_role("link", name="Go to the start page").click()
    expect(par).to_have_url(re.compile(r"/$"))
    par.locator("#join-code").fill(code)
    par.locator("#join-name").fill("Jānis")
    par.locator("#join-name").press("Enter")
    expect(par.locator("#join-error")).to_contain_text("No workshop has this code")
    par.goto(f"/room/{room}")
    expect(par.get_by_test_id("fatal")).to_be_hidden()  # the session was forgotten
    no_errors(fac, allow="404")


# ------------------------------------------------------------------------------ screenshots


def test_sessions_screenshots_and_accessibility(new_context: Any, artifacts: Path) -> None:
    from tests.browser.test_board import AXE, axe_violations

    if not AXE.exists():
        pytest.fail("axe-core missing: run `npm ci` in web/")
    for name, viewport in (
        ("tablet", {"width": 1024, "height": 768}),
        ("laptop", {"width": 1366, "height": 768}),
    ):
        fac = new_context(
            locale="lv-LV", viewport=viewport, has_touch=name == "tablet", bypass_csp=True
        ).new_page()
        room, code = create_room(fac, "Mobilitāte senioriem", "Ilze")
        close_invite(fac)
        par = new_context(locale="lv-LV").new_page()
        join_room(par, code, "Jānis")
        quiet = new_context(locale="lv-LV").new_page()
        join_room(quiet, code, "Anna")
        add_card(par, "Bezmaksas autobuss senioriem", at=(200, 200))
        add_card(par, "Soliņi ik pēc 200 m", at=(450, 200))
        add_card(fac, "Pieturas tuvāk mājām", at=(700, 200))
        take_snapshot(fac, "Pēc ideju ģenerēšanas")
        fac.get_by_test_id("phase-cluster").click()
        expect(fac.locator('[data-testid="snapshot"][data-kind="phase"]')).to_have_count(1)
        panel = open_panel(fac)
        expect(panel.get_by_test_id("insight-person")).to_have_count(3)
        for sec_name in ("insight", "snapshots", "export", "template", "data"):
            sec = section(fac, sec_name)
            sec.evaluate("el => el.scrollIntoView({block: 'start'})")
            expect(sec.locator("h3")).to_be_in_viewport()
            fac.screenshot(path=str(artifacts / f"sessions-{sec_name}-{name}.png"))
        pbox = panel.bounding_box()
        assert pbox and pbox["x"] >= 0 and pbox["x"] + pbox["width"] <= viewport["width"] + 1
        # every export button is reachable and inside the panel
        for fmt in ("pdf", "md", "csv", "png", "svg", "json"):
            btn = panel.get_by_test_id(f"export-{fmt}")
            btn.scroll_into_view_if_needed()
            bbox = btn.bounding_box()
            assert bbox and pbox["x"] <= bbox["x"]
            assert bbox["x"] + bbox["width"] <= pbox["x"] + pbox["width"]
        assert axe_violations(fac) == [], f"panel {name}"
        # the read-only snapshot view
        row = section(fac, "snapshots").get_by_test_id("snapshot").filter(has_text="Pēc ideju")
        getattr(row.get_by_test_id("snapshot-open"), "tap" if name == "tablet" else "click")()
        expect(fac.get_by_test_id("snapshot-card")).to_have_count(3)
        fac.screenshot(path=str(artifacts / f"sessions-snapshot-view-{name}.png"))
        assert axe_violations(fac) == [], f"snapshot view {name}"
        fac.get_by_test_id("snapshot-close").click()
        # the start page with the template picker and the import box
        start = new_context(locale="lv-LV", viewport=viewport, bypass_csp=True).new_page()
        start.goto("/")
        start.get_by_test_id("template-select").select_option("empathy-map")
        expect(start.get_by_test_id("template-frames")).to_be_visible()
        start.screenshot(path=str(artifacts / f"sessions-start-{name}.png"))
        start.get_by_test_id("import-box").locator("summary").click()
        start.get_by_test_id("import-submit").scroll_into_view_if_needed()
        expect(start.get_by_test_id("import-submit")).to_be_in_viewport()
        start.screenshot(path=str(artifacts / f"sessions-start-import-{name}.png"))
        assert axe_violations(start) == [], f"start page {name}"
        assert room and quiet
