"""End-to-end tests of the browser client against the real server (see conftest.py)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from server.crdt.lib0 import Reader
from tests.browser.conftest import REQUIRE, ROOT, WEB, start_server, watch_errors

try:
    from playwright.sync_api import expect
except ImportError:
    if REQUIRE:
        raise
    pytest.skip("the `playwright` Python package is not installed", allow_module_level=True)

from tests.browser.helpers import (
    add_card,
    board_pos,
    card,
    close_invite,
    create_room,
    drag,
    join_room,
)

pytestmark = pytest.mark.browser

WAIT_POS = """([id, x, y]) => {
  const m = window.koprade && window.koprade.doc.getMap('cards').get(id);
  return !!m && m.get('x') === x && m.get('y') === y;
}"""
WAIT_CLUSTER = """([id, cluster]) => {
  const m = window.koprade && window.koprade.doc.getMap('cards').get(id);
  return !!m && (cluster === null ? !m.has('cluster') : m.get('cluster') === cluster);
}"""


def two_people(new_context: Any, title: str = "Mobilitāte senioriem") -> tuple[Any, Any, str]:
    """Facilitator (Latvian browser) and participant (English browser) in one room."""
    fac = new_context(locale="lv-LV").new_page()
    fac_errors = watch_errors(fac)
    room, code = create_room(fac, title, "Ilze")
    close_invite(fac)
    par = new_context(locale="en-GB", viewport={"width": 1024, "height": 768}).new_page()
    par_errors = watch_errors(par)
    assert join_room(par, code, "Jānis") == room
    fac._koprade_errors = fac_errors  # type: ignore[attr-defined]
    par._koprade_errors = par_errors  # type: ignore[attr-defined]
    return fac, par, code


def no_errors(*pages: Any) -> None:
    for page in pages:
        errors = [e for e in page._koprade_errors if "WebSocket" not in e]
        assert errors == [], errors


def test_create_join_card_drag_presence(new_context: Any) -> None:
    fac, par, code = two_people(new_context)

    # join code and title are shown to both
    expect(fac.get_by_test_id("code-button")).to_contain_text(code)
    expect(par.get_by_test_id("code-button")).to_contain_text(code)
    expect(par.get_by_test_id("room-title")).to_have_text("Mobilitāte senioriem")

    # presence: both see both names, with colours
    for page in (fac, par):
        people = page.get_by_test_id("person")
        expect(people).to_have_count(2)
        expect(page.get_by_test_id("presence")).to_contain_text("Ilze")
        expect(page.get_by_test_id("presence")).to_contain_text("Jānis")

    # a card made by the facilitator appears at the participant with its text
    c = add_card(fac, "Bezmaksas autobuss", at=(300, 220))
    expect(card(par, "Bezmaksas autobuss")).to_have_count(1)
    card_id = c.get_attribute("data-id")
    assert card_id

    # live collaborative text: the participant edits the same card
    card(par, "Bezmaksas autobuss").dblclick()
    editor = par.get_by_test_id("card-editor")
    expect(editor).to_be_focused()
    editor.press("End")
    editor.press_sequentially(" pensionāriem")
    expect(card(fac, "Bezmaksas autobuss pensionāriem")).to_have_count(1)
    editor.press("Escape")

    # dragging moves it on both
    x0, y0 = board_pos(fac, card_id)
    drag(fac, card(fac, "Bezmaksas autobuss"), 150, 100)
    fac.wait_for_function(
        "([id, x0]) => window.koprade.doc.getMap('cards').get(id).get('x') !== x0",
        arg=[card_id, x0],
    )
    x1, y1 = board_pos(fac, card_id)
    assert abs(x1 - x0 - 150) <= 2 and abs(y1 - y0 - 100) <= 2
    par.wait_for_function(WAIT_POS, arg=[card_id, x1, y1])

    # live cursors with names
    canvas = fac.get_by_test_id("canvas")
    box = canvas.bounding_box()
    assert box
    fac.mouse.move(box["x"] + 500, box["y"] + 400)
    fac.mouse.move(box["x"] + 520, box["y"] + 410)
    cursor = par.get_by_test_id("cursor")
    expect(cursor).to_have_count(1)
    expect(cursor).to_contain_text("Ilze")
    fac.mouse.move(box["x"] + 500, box["y"] - 80)  # leave the board: the cursor disappears
    expect(cursor).to_have_count(0)

    # colour of the selected card changes on both
    card(fac, "Bezmaksas autobuss").click()
    fac.get_by_test_id("color-green").click()
    par.wait_for_function(
        "id => window.koprade.doc.getMap('cards').get(id).get('color') === '#c5eaa8'", arg=card_id
    )

    # delete with the keyboard (a click on an already selected card edits it: clear first)
    fac.keyboard.press("Escape")
    card(fac, "Bezmaksas autobuss").click()
    expect(fac.get_by_test_id("card-editor")).to_have_count(0)
    fac.keyboard.press("Delete")
    expect(card(par, "Bezmaksas autobuss")).to_have_count(0)

    # leaving removes the person from the others' presence
    par.context.close()
    expect(fac.get_by_test_id("person")).to_have_count(1)
    no_errors(fac)


def awareness_client_ids(frame: bytes | str) -> list[int]:
    """The client ids of an awareness frame (type 1) a page sent; [] for any other frame."""
    if isinstance(frame, str) or not frame or frame[0] != 1:
        return []
    update = Reader(Reader(frame[1:]).var_bytes())
    ids = []
    for _ in range(update.var_uint()):
        ids.append(update.var_uint())
        update.var_uint()  # clock
        update.var_string()  # state
    return ids


def test_only_own_presence_goes_upstream(new_context: Any) -> None:
    """The client relays no one else's awareness entry (the server would drop it anyway):
    what the participant's page sends carries only its own client id."""
    fac, par, _ = two_people(new_context)
    sent: list[list[int]] = []

    def watch(ws: Any) -> None:
        ws.on("framesent", lambda frame: sent.append(awareness_client_ids(frame)))

    par.on("websocket", watch)
    par.reload()  # the listener sees the sockets opened from here on
    expect(par.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    own = par.evaluate("window.koprade.provider.awareness.clientID")

    box = fac.get_by_test_id("canvas").bounding_box()
    assert box
    for i in range(6):
        fac.mouse.move(box["x"] + 300 + 20 * i, box["y"] + 300)
    expect(par.get_by_test_id("cursor")).to_have_count(1)  # the facilitator's moves arrived
    par_box = par.get_by_test_id("canvas").bounding_box()
    assert par_box
    par.mouse.move(par_box["x"] + 200, par_box["y"] + 200)
    fac.wait_for_function(
        "() => [...window.koprade.provider.awareness.getStates().values()]"
        ".some((s) => s.user && s.user.name === 'Jānis' && s.cursor)"
    )
    # Playwright hands over the page's frame events while the test waits on it: poll for the
    # participant's own cursor frame (it reached the facilitator, so it was sent)
    deadline = time.monotonic() + 10
    while own not in (ids := [i for frame in sent for i in frame]):
        assert time.monotonic() < deadline, "the participant's own presence went upstream"
        par.wait_for_timeout(50)
    assert set(ids) == {own}, ids
    no_errors(fac, par)


def test_clusters_and_multi_select(new_context: Any) -> None:
    fac, par, _ = two_people(new_context, "Grupas")
    a = add_card(fac, "Idea A", at=(200, 200))
    b = add_card(fac, "Idea B", at=(450, 200))
    add_card(par, "Idea C", at=(400, 500))
    a_id, b_id = a.get_attribute("data-id"), b.get_attribute("data-id")

    # shift-click multi-select, then "Group" frames the selected cards
    card(fac, "Idea A").click()
    card(fac, "Idea B").click(modifiers=["Shift"])
    expect(fac.locator(".card.selected")).to_have_count(2)
    fac.get_by_test_id("tool-new-cluster").click()
    title = fac.get_by_test_id("cluster-title")
    expect(title).to_be_focused()
    title.press_sequentially("Transports")
    title.press("Enter")
    expect(par.get_by_test_id("cluster")).to_have_count(1)
    expect(par.get_by_test_id("cluster-title")).to_have_value("Transports")
    cluster_id = par.get_by_test_id("cluster").get_attribute("data-id")
    for cid in (a_id, b_id):
        par.wait_for_function(WAIT_CLUSTER, arg=[cid, cluster_id])

    # the participant drags card C into the frame: it joins the cluster on both sides
    c_loc = card(par, "Idea C")
    c_id = c_loc.get_attribute("data-id")
    frame = par.get_by_test_id("cluster").bounding_box()
    c_box = c_loc.bounding_box()
    assert frame and c_box
    target_x = frame["x"] + frame["width"] / 2
    target_y = frame["y"] + frame["height"] - 40
    drag(
        par,
        c_loc,
        target_x - (c_box["x"] + c_box["width"] / 2),
        target_y - (c_box["y"] + min(c_box["height"] / 2, 30)),
    )
    fac.wait_for_function(WAIT_CLUSTER, arg=[c_id, cluster_id])
    expect(fac.get_by_test_id("cluster")).to_have_count(1)

    # moving the frame moves its cards, on both
    before = {cid: board_pos(fac, cid) for cid in (a_id, b_id, c_id)}
    grip = fac.get_by_test_id("cluster-grip")
    drag(fac, grip, 120, 60)
    for cid, (x, y) in before.items():
        fac.wait_for_function(
            "([id, x]) => window.koprade.doc.getMap('cards').get(id).get('x') !== x", arg=[cid, x]
        )
        nx, ny = board_pos(fac, cid)
        assert abs(nx - x - 120) <= 2 and abs(ny - y - 60) <= 2
        par.wait_for_function(WAIT_POS, arg=[cid, nx, ny])

    # dragging a card out of the frame removes it from the cluster
    drag(fac, card(fac, "Idea A"), 0, -260)
    par.wait_for_function(WAIT_CLUSTER, arg=[a_id, None])

    # lasso selection with shift-drag on the background selects several cards
    canvas = fac.get_by_test_id("canvas")
    box = canvas.bounding_box()
    assert box
    fac.keyboard.press("Escape")
    fac.keyboard.down("Shift")
    fac.mouse.move(box["x"] + 5, box["y"] + 5)
    fac.mouse.down()
    fac.mouse.move(box["x"] + box["width"] - 5, box["y"] + box["height"] - 5, steps=8)
    fac.mouse.up()
    fac.keyboard.up("Shift")
    expect(fac.locator(".card.selected")).to_have_count(3)

    # deleting the frame keeps the cards and unsets their cluster
    fac.get_by_test_id("cluster-delete").click()
    expect(par.get_by_test_id("cluster")).to_have_count(0)
    par.wait_for_function(WAIT_CLUSTER, arg=[b_id, None])
    expect(par.get_by_test_id("card")).to_have_count(3)
    no_errors(fac, par)


def test_undo_redo_own_changes_only(new_context: Any) -> None:
    fac, par, _ = two_people(new_context, "Undo")
    mine = add_card(fac, "Mine", at=(250, 200))
    add_card(par, "Theirs", at=(600, 200))
    mine_id = mine.get_attribute("data-id")
    x0, y0 = board_pos(fac, mine_id)
    drag(fac, mine, 100, 0)
    fac.wait_for_function(
        "([id, x]) => window.koprade.doc.getMap('cards').get(id).get('x') !== x", arg=[mine_id, x0]
    )
    fac.get_by_test_id("canvas").click(position={"x": 900, "y": 600})

    # undo the move (the facilitator's own change), seen by the participant
    fac.keyboard.press("Control+z")
    par.wait_for_function(WAIT_POS, arg=[mine_id, x0, y0])
    # redo via the toolbar
    fac.get_by_test_id("tool-redo").click()
    par.wait_for_function(WAIT_POS, arg=[mine_id, x0 + 100, y0])
    # undo twice more: move, then the text/creation of "Mine"; the participant's card stays
    fac.get_by_test_id("tool-undo").click()
    fac.get_by_test_id("tool-undo").click()
    fac.get_by_test_id("tool-undo").click()
    expect(card(par, "Mine")).to_have_count(0)
    expect(card(par, "Theirs")).to_have_count(1)
    expect(fac.get_by_test_id("tool-undo")).to_be_disabled()
    no_errors(fac, par)


def test_reload_keeps_identity_and_facilitator_link(new_context: Any, server: Any) -> None:
    data = server.post("/api/rooms", {"title": "Link test"})
    fac_ctx = new_context(locale="en-US")
    fac = fac_ctx.new_page()
    fac.goto(data["facilitator_url"].replace(server.url, ""))
    expect(fac).to_have_url(re.compile(r"/room/" + data["room"] + r"$"))  # token left the URL
    expect(fac.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(fac.get_by_test_id("code-button")).to_contain_text(data["code"])
    expect(fac.get_by_test_id("room-title")).to_have_text("Link test")

    par = new_context(locale="en-US").new_page()
    join_room(par, data["code"], "Anna")
    add_card(par, "Survives reload", at=(300, 300))
    expect(fac.get_by_test_id("person")).to_have_count(2)
    own_id = par.evaluate("window.koprade.provider.awareness.getLocalState().user.id")
    par.reload()
    expect(par.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(card(par, "Survives reload")).to_have_count(1)
    assert par.evaluate("window.koprade.provider.awareness.getLocalState().user.id") == own_id
    expect(fac.get_by_test_id("person")).to_have_count(2)
    expect(fac.get_by_test_id("presence")).to_contain_text("Anna")

    # a new tab of another context without the token is sent to the join form
    other = new_context(locale="en-US").new_page()
    other.goto(f"/room/{data['room']}")
    expect(other.locator("#join-code")).to_be_visible()


def test_join_errors_and_language(new_context: Any) -> None:
    page = new_context(locale="lv-LV").new_page()
    errors = watch_errors(page)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "lv")
    expect(page.get_by_role("button", name="Pievienoties")).to_be_visible()
    expect(page.get_by_role("button", name="Izveidot darbnīcu")).to_be_visible()
    page.locator("#join-code").fill("ZZZZZZ")
    page.locator("#join-name").fill("Pēteris")
    page.get_by_role("button", name="Pievienoties").click()
    expect(page.locator("#join-error")).to_contain_text("nav atrasta")

    page.get_by_test_id("lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="Join", exact=True)).to_be_visible()
    page.reload()  # the choice is remembered
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Create a workshop")).to_be_visible()

    # English browsers default to English
    en = new_context(locale="en-US").new_page()
    en.goto("/")
    expect(en.locator("html")).to_have_attribute("lang", "en")
    # the board's help panel lists the shortcuts
    create_room(en, "Help test")
    close_invite(en)
    en.keyboard.press("?")
    expect(en.locator("#help-dialog")).to_be_visible()
    expect(en.locator("#help-dialog")).to_contain_text("Ctrl + Z")
    en.keyboard.press("Escape")
    expect(en.locator("#help-dialog")).to_be_hidden()
    en.get_by_test_id("lang-switch").click()
    expect(en.get_by_test_id("tool-new-card")).to_contain_text("Jauna ideja")
    expect(en.get_by_test_id("tool-undo")).to_have_attribute("aria-label", "Atsaukt")
    expect(en.get_by_test_id("tool-redo")).to_have_attribute("aria-label", "Atcelt atsaukšanu")
    assert [e for e in errors if "404" not in e] == []


def touch_drag(
    page: Any, start: tuple[float, float], end: tuple[float, float], steps: int = 10
) -> None:
    cdp = page.context.new_cdp_session(page)
    (x0, y0), (x1, y1) = start, end
    cdp.send(
        "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]}
    )
    for i in range(1, steps + 1):
        x = x0 + (x1 - x0) * i / steps
        y = y0 + (y1 - y0) * i / steps
        cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]}
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def pinch(page: Any, center: tuple[float, float], d0: float, d1: float, steps: int = 8) -> None:
    cdp = page.context.new_cdp_session(page)
    cx, cy = center

    def points(d: float) -> list[dict[str, float]]:
        return [{"x": cx - d / 2, "y": cy, "id": 1}, {"x": cx + d / 2, "y": cy, "id": 2}]

    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": points(d0)})
    for i in range(1, steps + 1):
        cdp.send(
            "Input.dispatchTouchEvent",
            {"type": "touchMove", "touchPoints": points(d0 + (d1 - d0) * i / steps)},
        )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_touch_tablet(new_context: Any) -> None:
    fac = new_context(locale="lv-LV").new_page()
    _room, code = create_room(fac, "Planšete")
    close_invite(fac)
    tab_ctx = new_context(
        locale="lv-LV", viewport={"width": 1024, "height": 768}, has_touch=True, is_mobile=False
    )
    tab = tab_ctx.new_page()
    errors = watch_errors(tab)
    join_room(tab, code, "Planšetes lietotājs")
    canvas = tab.get_by_test_id("canvas")
    box = canvas.bounding_box()
    assert box

    # double tap on the background creates a card and opens its editor
    px, py = box["x"] + 300, box["y"] + 250
    tab.touchscreen.tap(px, py)
    tab.touchscreen.tap(px, py)
    editor = tab.get_by_test_id("card-editor")
    expect(editor).to_be_focused()
    tab.keyboard.type("Ar pirkstu")
    tab.touchscreen.tap(box["x"] + 800, box["y"] + 500)  # tap elsewhere ends editing
    expect(editor).to_have_count(0)
    expect(card(fac, "Ar pirkstu")).to_have_count(1)
    c = card(tab, "Ar pirkstu")
    card_id = c.get_attribute("data-id")

    # one-finger drag of the card moves it, seen by the facilitator
    x0, y0 = board_pos(tab, card_id)
    cb = c.bounding_box()
    assert cb
    start = (cb["x"] + cb["width"] / 2, cb["y"] + cb["height"] / 2)
    touch_drag(tab, start, (start[0] + 200, start[1] + 120))
    fac.wait_for_function(WAIT_POS, arg=[card_id, x0 + 200, y0 + 120])

    # tap the (selected) card to edit it again
    cb = c.bounding_box()
    assert cb
    tab.touchscreen.tap(cb["x"] + cb["width"] / 2, cb["y"] + cb["height"] / 2)
    expect(editor).to_be_focused()
    tab.keyboard.press("End")
    tab.keyboard.type("!")
    expect(card(fac, "Ar pirkstu!")).to_have_count(1)
    tab.keyboard.press("Escape")

    # one-finger pan on the background moves the view, not the card
    vp0 = tab.evaluate("[window.koprade.vp.x, window.koprade.vp.y]")
    touch_drag(tab, (box["x"] + 700, box["y"] + 550), (box["x"] + 600, box["y"] + 500))
    tab.wait_for_function(
        "([x, y]) => window.koprade.vp.x !== x || window.koprade.vp.y !== y", arg=vp0
    )
    assert board_pos(tab, card_id) == (x0 + 200, y0 + 120)

    # two-finger pinch zooms in
    z0 = tab.evaluate("window.koprade.vp.z")
    pinch(tab, (box["x"] + 600, box["y"] + 400), 100, 250)
    tab.wait_for_function("z => window.koprade.vp.z > z * 1.5", arg=z0)

    # toolbar targets are at least 44x44 CSS px
    for test_id in ("tool-new-card", "tool-new-cluster", "tool-undo", "tool-fit", "color-blue"):
        b = tab.get_by_test_id(test_id).bounding_box()
        assert b and b["height"] >= 44 and b["width"] >= 40, (test_id, b)
    assert errors == []


def test_offline_edits_merge(new_context: Any) -> None:
    fac, par, _ = two_people(new_context, "Bezsaiste")
    shared = add_card(fac, "Kopīga", at=(300, 250))
    shared_id = shared.get_attribute("data-id")
    expect(card(par, "Kopīga")).to_have_count(1)

    fac.context.set_offline(True)
    status = fac.get_by_test_id("connection")
    expect(status).to_have_attribute("data-state", "offline")
    expect(fac.get_by_test_id("person")).to_have_count(1)  # others are gone from the local view

    # edits on both sides while the facilitator is offline
    add_card(fac, "Bezsaistē rakstīts", at=(300, 500))
    expect(status).to_have_attribute("data-pending", "true")
    expect(status).to_contain_text("apvienotas")
    card(fac, "Kopīga").dblclick()
    ed = fac.get_by_test_id("card-editor")
    ed.press("End")
    ed.press_sequentially(" A")
    ed.press("Escape")
    add_card(par, "Tiešsaistē rakstīts", at=(650, 250))
    card(par, "Kopīga").dblclick()
    ed2 = par.get_by_test_id("card-editor")
    ed2.press("Home")
    ed2.press_sequentially("B ")
    ed2.press("Escape")
    expect(card(par, "Bezsaistē rakstīts")).to_have_count(0)

    fac.context.set_offline(False)
    expect(status).to_have_attribute("data-state", "connected")
    expect(status).to_have_attribute("data-pending", "false")
    for page in (fac, par):
        expect(card(page, "Bezsaistē rakstīts")).to_have_count(1)
        expect(card(page, "Tiešsaistē rakstīts")).to_have_count(1)
        page.wait_for_function(
            "([id, t]) => window.koprade.doc.getMap('cards').get(id).get('text').toString() === t",
            arg=[shared_id, "B Kopīga A"],
        )
    expect(par.get_by_test_id("person")).to_have_count(2)
    expect(fac.get_by_test_id("person")).to_have_count(2)


AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
  const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5)
                  .map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
}"""


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(AXE_RUN)


def test_accessibility_axe(new_context: Any) -> None:
    if not AXE.exists():
        pytest.fail("axe-core missing: run `npm ci` in web/")
    for locale in ("lv-LV", "en-US"):
        page = new_context(locale=locale, bypass_csp=True).new_page()
        page.goto("/")
        expect(page.locator("#join-code")).to_be_visible()
        assert axe_violations(page) == [], locale

        _room, _code = create_room(page, "Pieejamība")
        expect(page.locator("#invite-dialog")).to_be_visible()
        assert axe_violations(page) == [], f"{locale} invite dialog"
        close_invite(page)
        add_card(page, "Pirmā ideja", at=(250, 220))
        add_card(page, "Otrā ideja", at=(500, 220))
        add_card(page, "", at=(250, 450))
        card(page, "Pirmā ideja").click()
        page.get_by_test_id("tool-new-cluster").click()
        page.get_by_test_id("cluster-title").press_sequentially("Grupa")
        page.get_by_test_id("cluster-title").press("Enter")
        card(page, "Otrā ideja").click()
        assert axe_violations(page) == [], f"{locale} board"
        page.keyboard.press("?")
        expect(page.locator("#help-dialog")).to_be_visible()
        assert axe_violations(page) == [], f"{locale} help"


def test_keyboard_only(new_context: Any) -> None:
    page = new_context(locale="en-US").new_page()
    create_room(page, "Keyboard")
    close_invite(page)
    page.get_by_test_id("canvas").focus()
    page.keyboard.press("n")
    editor = page.get_by_test_id("card-editor")
    expect(editor).to_be_focused()
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Escape")
    c = card(page, "Typed without a mouse")
    expect(c).to_be_focused()
    cid = c.get_attribute("data-id")
    x, y = board_pos(page, cid)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(WAIT_POS, arg=[cid, x + 10, y + 10])
    page.keyboard.press("Enter")
    expect(editor).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("card")).to_have_count(0)
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("card")).to_have_count(1)
    # the toolbar is reachable with Tab and operable with Enter
    page.get_by_test_id("tool-new-card").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("card")).to_have_count(2)


def build_demo_board(page: Any) -> None:
    ideas = [
        ("Bezmaksas sabiedriskais transports senioriem", (140, 150)),
        ("Soliņi ik pēc 200 m", (380, 150)),
        ("Zemās grīdas autobusi visos maršrutos", (140, 330)),
        ("Apkaimju brīvprātīgo auto", (760, 170)),
        ("Skaidrāki pieturu saraksti ar lielu burtu", (1000, 170)),
        ("Kopbraukšanas lietotne ar tālruņa atbalstu", (760, 360)),
    ]
    for text, at in ideas:
        add_card(page, text, at=at)
    card(page, ideas[0][0]).click()
    card(page, ideas[1][0]).click(modifiers=["Shift"])
    card(page, ideas[2][0]).click(modifiers=["Shift"])
    page.get_by_test_id("tool-new-cluster").click()
    page.get_by_test_id("cluster-title").press_sequentially("Pieejams transports")
    page.get_by_test_id("cluster-title").press("Enter")
    card(page, ideas[3][0]).click()
    page.get_by_test_id("color-green").click()
    card(page, ideas[4][0]).click()
    page.get_by_test_id("color-blue").click()
    card(page, ideas[5][0]).click()
    page.get_by_test_id("color-pink").click()
    page.keyboard.press("Escape")
    page.keyboard.press("0")  # zoom to fit


def test_screenshots(new_context: Any, artifacts: Path) -> None:
    fac = new_context(locale="lv-LV", viewport={"width": 1366, "height": 768}).new_page()
    _room, code = create_room(fac, "Mobilitāte senioriem", "Ilze")
    fac.screenshot(path=str(artifacts / "invite-laptop.png"))
    close_invite(fac)
    tab = new_context(
        locale="lv-LV", viewport={"width": 1024, "height": 768}, has_touch=True
    ).new_page()
    join_room(tab, code, "Jānis")
    build_demo_board(fac)
    tab.get_by_test_id("tool-fit").tap()
    box = fac.get_by_test_id("canvas").bounding_box()
    assert box
    tb = tab.get_by_test_id("canvas").bounding_box()
    assert tb
    tab.mouse.move(tb["x"] + 620, tb["y"] + 420)
    fac.mouse.move(box["x"] + 900, box["y"] + 520)
    fac.mouse.move(box["x"] + 905, box["y"] + 525)
    expect(fac.get_by_test_id("cursor")).to_have_count(1)
    expect(tab.get_by_test_id("cursor")).to_have_count(1)
    expect(fac.get_by_test_id("person")).to_have_count(2)
    laptop = artifacts / "board-laptop.png"
    tablet = artifacts / "board-tablet.png"
    fac.screenshot(path=str(laptop))
    tab.screenshot(path=str(tablet))
    start = new_context(locale="lv-LV").new_page()
    start.goto("/")
    expect(start.locator("#join-code")).to_be_visible()
    start.screenshot(path=str(artifacts / "start-laptop.png"))
    # The README's picture is refreshed on request only, so a test run never edits the tree.
    if os.environ.get("KOPRADE_UPDATE_README_SCREENSHOT") == "1":
        shutil.copyfile(laptop, ROOT / "docs" / "images" / "board.png")


def test_invalid_token_asks_to_rejoin(new_context: Any, server: Any) -> None:
    data = server.post("/api/rooms", {"title": "Token test"})
    page = new_context(locale="en-US").new_page()
    page.goto(f"/room/{data['room']}#token=not-a-valid-token")
    expect(page).to_have_url(re.compile(r"/room/" + data["room"] + r"$"))
    fatal = page.get_by_test_id("fatal")
    expect(fatal).to_be_visible()
    expect(fatal).to_contain_text("no longer valid")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "fatal")
    # the bad token is forgotten: a reload shows the join form
    page.reload()
    expect(page.locator("#join-code")).to_be_visible()


def test_server_restart_reconnects_and_merges(
    browser: Any, tmp_path: Path, new_context: Any
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    srv = start_server(data_dir)
    try:
        fac = new_context(base_url=srv.url, locale="en-US").new_page()
        _room, code = create_room(fac, "Restart")
        close_invite(fac)
        par = new_context(base_url=srv.url, locale="en-US").new_page()
        join_room(par, code, "Anna")
        add_card(fac, "Before restart", at=(250, 200))
        expect(card(par, "Before restart")).to_have_count(1)

        port = srv.port
        srv.stop()
        for page in (fac, par):
            expect(page.get_by_test_id("connection")).to_have_attribute(
                "data-state", "reconnecting"
            )
        add_card(fac, "While the server was down", at=(250, 420))
        expect(fac.get_by_test_id("connection")).to_have_attribute("data-pending", "true")

        srv = start_server(data_dir, port)
        for page in (fac, par):
            expect(page.get_by_test_id("connection")).to_have_attribute(
                "data-state", "connected", timeout=20_000
            )
            expect(card(page, "Before restart")).to_have_count(1)
            expect(card(page, "While the server was down")).to_have_count(1)
        expect(fac.get_by_test_id("person")).to_have_count(2)
    finally:
        srv.stop()
