"""Anonymous mode in the browser: presence and live cursors show numbered neutral labels in
the UI language, never the other participants' names; one's own cards still say "you".
Screenshots of an anonymous room with three participants at laptop, tablet and phone size,
in Latvian and English (test-artifacts/anonymous-*.png).
"""

from __future__ import annotations

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
from tests.browser.test_facilitation import no_errors, switch

pytestmark = pytest.mark.browser

SIZES = {
    "laptop": {"width": 1440, "height": 900},
    "tablet": {"width": 820, "height": 1180},
    "phone": {"width": 390, "height": 844},
}
NAMES = ("Jānis Bērziņš", "Anna Kalniņa", "Pēteris Ozols")


def wait_anonymous_hello(page: Any) -> None:
    page.wait_for_function(
        "() => window.koprade && window.koprade.meta.me.presence"
        " && window.koprade.meta.me.presence.number !== null"
    )


def point_at(page: Any, x: float, y: float) -> None:
    box = page.get_by_test_id("canvas").bounding_box()
    assert box
    page.mouse.move(box["x"] + x, box["y"] + y, steps=4)


def test_anonymous_presence_cursors_and_screenshots(new_context: Any, artifacts: Path) -> None:
    fac = new_context(locale="lv-LV").new_page()
    fac._koprade_errors = watch_errors(fac)  # type: ignore[attr-defined]
    _room, code = create_room(fac, "Anonīma darbnīca", "Ilze")
    close_invite(fac)
    switch(fac, "switch-anonymous", True)
    pages = []
    for name, locale in zip(NAMES, ("lv-LV", "en-GB", "lv-LV"), strict=True):
        page = new_context(locale=locale, viewport=SIZES["laptop"]).new_page()
        page._koprade_errors = watch_errors(page)  # type: ignore[attr-defined]
        join_room(page, code, name)
        wait_anonymous_hello(page)
        pages.append(page)
    janis, anna, peteris = pages
    add_card(janis, "Bezmaksas autobuss senioriem", at=(260, 240))
    add_card(anna, "Benches every 200 m", at=(560, 260))
    add_card(peteris, "Lielāki burti sarakstos", at=(360, 470))
    for page, (x, y) in zip(
        (fac, *pages), ((700, 150), (300, 330), (620, 360), (420, 560)), strict=True
    ):
        point_at(page, x, y)

    lv_label = re.compile(r"Dalībnieks \d")
    en_label = re.compile(r"Participant \d")
    for page, label in ((janis, lv_label), (anna, en_label), (peteris, lv_label)):
        people = page.get_by_test_id("person")
        # the facilitator, the two others and oneself, once (the server also relays one's own
        # state back under an alias)
        expect(people).to_have_count(4)
        expect(page.get_by_test_id("presence")).to_contain_text("Ilze")
        expect(people.filter(has_text=label)).to_have_count(3)
        expect(page.locator(".person.self")).to_have_count(1)
        # live cursors of the three others, labelled; never one's own
        cursors = page.get_by_test_id("cursor")
        expect(cursors).to_have_count(3)
        expect(cursors.filter(has_text=label)).to_have_count(2)
        own = page.evaluate("window.koprade.meta.me.presence.number")
        own_label = ("Participant " if label is en_label else "Dalībnieks ") + str(own)
        expect(cursors.filter(has_text=own_label)).to_have_count(0)
        expect(page.locator(".person.self")).to_contain_text(own_label)
        html = page.content()
        for name in NAMES:
            if page is not pages[NAMES.index(name)]:
                assert name not in html, f"{name} shown to another participant"
    # one's own cards still say "you"; the others' cards name nobody
    author = lambda page, text: card(page, text).get_by_test_id("card-author")  # noqa: E731
    expect(author(janis, "Bezmaksas autobuss senioriem")).to_have_text("Autors: jūs")
    expect(author(anna, "Benches every 200 m")).to_have_text("By you")
    expect(author(anna, "Bezmaksas autobuss senioriem")).to_be_hidden()
    # the facilitator's panel still lists the names
    expect(fac.get_by_test_id("fac-person")).to_have_count(4)
    expect(fac.locator("ul.fac-people")).to_contain_text("Anna Kalniņa")

    for page, lang in ((janis, "lv"), (anna, "en")):
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            point_at(page, min(300, viewport["width"] - 40), 200)
            page.screenshot(path=str(artifacts / f"anonymous-{lang}-{size}.png"))
    no_errors(fac, *pages)


def test_switching_on_gives_the_client_a_new_yjs_client_id(new_context: Any) -> None:
    """Before the switch the others saw our Yjs client id (it stamps our edits) next to our
    name; after it, our edits carry a new one, and our own cards still say "you"."""
    fac = new_context(locale="lv-LV").new_page()
    fac._koprade_errors = watch_errors(fac)  # type: ignore[attr-defined]
    _room, code = create_room(fac, "Pārslēgšana", "Ilze")
    close_invite(fac)
    par = new_context(locale="en-GB").new_page()
    par._koprade_errors = watch_errors(par)  # type: ignore[attr-defined]
    join_room(par, code, "Jānis Bērziņš")
    add_card(par, "Before the switch", at=(260, 240))
    named_id = par.evaluate("window.koprade.doc.clientID")
    switch(fac, "switch-anonymous", True)
    wait_anonymous_hello(par)
    par.wait_for_function("id => window.koprade.doc.clientID !== id", arg=named_id)
    add_card(par, "After the switch", at=(560, 260))
    author = lambda page, text: card(page, text).get_by_test_id("card-author")  # noqa: E731
    expect(author(par, "Before the switch")).to_have_text("By you")
    expect(author(par, "After the switch")).to_have_text("By you")
    expect(author(fac, "After the switch")).to_be_hidden()
    # the new card's structs carry the new client id, not the one seen with the name
    writers = fac.evaluate("() => [...window.koprade.doc.store.clients.keys()]")
    new_id = par.evaluate("window.koprade.doc.clientID")
    assert new_id in writers and named_id in writers
    no_errors(fac, par)
