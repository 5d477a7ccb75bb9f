"""The start page and the organizer key; a facilitator's new join code (issue 10, part 5).

Real server processes and Chromium: the printed link's `#key=` is taken into localStorage and
off the address bar, a server that needs the key asks for it, and the invite dialog's "New
code" changes the code, its link and its QR code. Screenshots in lv and en at laptop, tablet
and phone sizes go to test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import watch_errors
from tests.browser.helpers import close_invite, create_room
from tests.browser.test_facilitation import open_panel
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.browser

VIEWPORTS = {
    "laptop": {"width": 1440, "height": 900},
    "tablet": {"width": 820, "height": 1180},
    "phone": {"width": 390, "height": 844},
}
LOCALES = {"lv": "lv-LV", "en": "en-GB"}


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose operator configured a key: creating rooms needs it, also on loopback."""
    data = tmp_path_factory.mktemp("keyed")
    proc = ServerProcess(data, None, "--organizer-key", "lab-key-0123").start()
    try:
        yield proc
    finally:
        proc.terminate()


def _save_a_template(server: ServerProcess) -> str:
    room = server.post("/api/rooms", {"title": "Mūsu metode"})
    response = httpx.post(
        f"{server.url}/api/rooms/{room['room']}/templates",
        json={"name": "Laboratorijas metode"},
        headers={"authorization": f"Bearer {room['facilitator_token']}"},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def test_the_printed_link_lets_the_organizer_in(new_context: Any, server: ServerProcess) -> None:
    saved = _save_a_template(server)
    key = server.organizer_key
    page = new_context(locale="en-GB").new_page()
    errors = watch_errors(page)
    page.goto("/")
    # Without the key: the lab's saved templates are not offered; the key can be entered.
    expect(page.get_by_test_id("key-offer")).to_be_visible()
    expect(page.locator(f"#create-template option[value='{saved}']")).to_have_count(0)

    page.goto(f"/#key={key}")
    expect(page.get_by_test_id("key-status")).to_have_text(re.compile("saved in this browser"))
    assert "key=" not in page.url  # off the address bar (and never sent: it is a fragment)
    assert page.evaluate("localStorage.getItem('koprade:organizerKey')") == key
    expect(page.locator(f"#create-template option[value='{saved}']")).to_have_count(1)
    page.reload()
    expect(page.get_by_test_id("key-status")).to_be_visible()

    page.get_by_test_id("key-forget").click()
    expect(page.get_by_test_id("key-offer")).to_be_visible()
    assert page.evaluate("localStorage.getItem('koprade:organizerKey')") is None
    assert errors == []


def test_a_server_that_needs_the_key_asks_for_it(
    new_context: Any, keyed_server: ServerProcess, artifacts: Path
) -> None:
    for lang, locale in LOCALES.items():
        for size, viewport in VIEWPORTS.items():
            page = new_context(
                base_url=keyed_server.url, locale=locale, viewport=viewport
            ).new_page()
            page.goto("/")
            expect(page.get_by_test_id("organizer-key")).to_be_visible()
            page.get_by_test_id("organizer-key").scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / f"start-key-{lang}-{size}.png"))

    page = new_context(base_url=keyed_server.url, locale="en-GB").new_page()
    page.goto("/")
    page.get_by_test_id("organizer-key").fill("wrong")
    page.get_by_test_id("organizer-key").press("Tab")
    expect(page.locator("#create-error")).to_have_text("The organizer key is not valid.")
    page.get_by_test_id("organizer-key").fill("lab-key-0123")
    page.get_by_test_id("organizer-key").press("Tab")
    expect(page.get_by_test_id("key-status")).to_be_visible()
    expect(page.get_by_test_id("organizer-key")).to_be_hidden()
    page.locator("#create-title").fill("Ar atslēgu")
    page.locator("#create-title").press("Enter")
    expect(page).to_have_url(re.compile(r"/room/[a-z2-9]{12}$"))


def test_a_facilitator_gives_the_room_a_new_code(
    new_context: Any, server: ServerProcess, artifacts: Path
) -> None:
    for lang, locale in LOCALES.items():
        for size, viewport in VIEWPORTS.items():
            page = new_context(locale=locale, viewport=viewport).new_page()
            errors = watch_errors(page)
            _room, old_code = create_room(page, "Jauns kods")
            dialog = page.locator("#invite-dialog")
            expect(dialog).to_be_visible()
            old_qr = page.get_by_test_id("invite-qr").inner_html()
            page.get_by_test_id("new-code").click()
            page.get_by_test_id("confirm-ok").click()
            code = page.get_by_test_id("invite-code")
            expect(code).not_to_have_text(old_code)
            expect(code).to_have_text(re.compile(r"^[2-9A-HJ-NP-Z]{6}$"))
            new_code = code.inner_text().strip()
            expect(page.get_by_test_id("invite-link")).to_have_value(
                re.compile(f"/join/{new_code}$")
            )
            assert page.get_by_test_id("invite-qr").inner_html() != old_qr
            expect(page.get_by_test_id("code-button")).to_contain_text(new_code)
            page.screenshot(path=str(artifacts / f"new-code-{lang}-{size}.png"))
            assert errors == []
    refused = httpx.post(
        f"{server.url}/api/join", json={"code": old_code, "name": "Vēlā"}, timeout=10
    )
    admitted = httpx.post(
        f"{server.url}/api/join", json={"code": new_code, "name": "Laicīgā"}, timeout=10
    )
    assert refused.status_code == 404 and admitted.status_code == 200


def test_the_facilitator_panel_has_the_new_code_action(new_context: Any, artifacts: Path) -> None:
    for lang, locale in LOCALES.items():
        for size, viewport in VIEWPORTS.items():
            page = new_context(locale=locale, viewport=viewport).new_page()
            _room, old_code = create_room(page, "Paneļa kods")
            close_invite(page)
            room_section = open_panel(page).get_by_test_id("fac-room")
            room_section.scroll_into_view_if_needed()
            button = room_section.get_by_test_id("fac-new-code")
            expect(button).to_be_visible()
            page.screenshot(path=str(artifacts / f"panel-new-code-{lang}-{size}.png"))
            button.click()
            expect(page.get_by_test_id("confirm")).to_be_visible()
            page.get_by_test_id("confirm-ok").click()
            expect(page.locator("#invite-dialog")).to_be_visible()
            expect(page.get_by_test_id("invite-code")).not_to_have_text(old_code)
            expect(page.get_by_test_id("invite-code")).to_have_text(
                re.compile(r"^[2-9A-HJ-NP-Z]{6}$")
            )


def test_participants_have_no_new_code_action_and_see_the_new_code(
    new_context: Any, server: ServerProcess
) -> None:
    room = server.post("/api/rooms", {"title": "Dalībniekiem"})
    page = new_context().new_page()
    page.goto(f"/join/{room['code']}")
    page.locator("#join-name").fill("Anna")
    page.locator("#join-name").press("Enter")
    expect(page).to_have_url(re.compile(r"/room/"))
    page.get_by_test_id("code-button").click()
    expect(page.locator("#invite-dialog")).to_be_visible()
    expect(page.get_by_test_id("new-code")).to_be_hidden()
    # A facilitator gives the room a new code: opening the dialog shows it, not the old one.
    changed = httpx.post(
        f"{server.url}/api/rooms/{room['room']}/code",
        headers={"authorization": f"Bearer {room['facilitator_token']}"},
        timeout=10,
    ).json()["code"]
    close_invite(page)
    page.get_by_test_id("code-button").click()
    expect(page.get_by_test_id("invite-code")).to_have_text(changed)
    expect(page.get_by_test_id("code-button")).to_contain_text(changed)


def test_the_join_form_says_when_a_room_is_closed(new_context: Any, server: ServerProcess) -> None:
    room = server.post("/api/rooms", {"title": "Slēgta"})
    closed = httpx.post(
        f"{server.url}/api/rooms/{room['room']}/commands",
        json={"command": "set_phase", "phase": "closed"},
        headers={"authorization": f"Bearer {room['facilitator_token']}"},
        timeout=10,
    )
    assert closed.status_code == 200, closed.text
    page = new_context(locale="en-GB").new_page()
    page.goto(f"/join/{room['code']}")
    page.locator("#join-name").fill("Anna")
    page.locator("#join-name").press("Enter")
    expect(page.locator("#join-error")).to_have_text(
        "This workshop is closed. Ask the facilitator to reopen it."
    )
