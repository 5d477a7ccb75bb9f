"""Page helpers shared by the browser tests (Playwright sync API)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect


def create_room(page: Any, title: str, name: str | None = None) -> tuple[str, str]:
    """Create a workshop through the start page; returns (room id, join code)."""
    page.goto("/")
    page.locator("#create-title").fill(title)
    if name:
        page.locator("#create-name").fill(name)
    page.locator("#create-title").press("Enter")
    expect(page).to_have_url(re.compile(r"/room/[a-z2-9]{12}$"))
    code_el = page.get_by_test_id("invite-code")
    expect(code_el).to_have_text(re.compile(r"^[2-9A-HJ-NP-Z]{6}$"))
    code = code_el.inner_text().strip()
    room = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    return room, code


def close_invite(page: Any) -> None:
    dialog = page.locator("#invite-dialog")
    if dialog.is_visible():
        dialog.get_by_role("button", name=re.compile("Aizvērt|Close")).click()
    expect(dialog).to_be_hidden()


def join_room(page: Any, code: str, name: str) -> str:
    page.goto(f"/join/{code}")
    expect(page.locator("#join-code")).to_have_value(code)
    page.locator("#join-name").fill(name)
    page.locator("#join-name").press("Enter")
    expect(page).to_have_url(re.compile(r"/room/[a-z2-9]{12}$"))
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    return page.url.rsplit("/", 1)[1]


def card(page: Any, text: str) -> Any:
    return page.get_by_test_id("card").filter(has_text=text)


def add_card(page: Any, text: str, at: tuple[float, float] | None = None) -> Any:
    """Double-click the background at `at` (canvas-relative) or use the toolbar, then type."""
    # ids, not a count: a card of someone else may arrive meanwhile
    before = set(
        page.eval_on_selector_all('[data-testid="card"]', "els => els.map(e => e.dataset.id)")
    )
    if at is None:
        page.get_by_test_id("tool-new-card").click()
    else:
        page.get_by_test_id("canvas").dblclick(position={"x": at[0], "y": at[1]})
    editor = page.get_by_test_id("card-editor")
    expect(editor).to_be_focused()
    expect(page.locator(".card.editing")).to_have_count(1)
    card_id = page.locator(".card.editing").get_attribute("data-id")
    assert card_id and card_id not in before
    if text:
        editor.press_sequentially(text)
    editor.press("Escape")
    expect(editor).to_have_count(0)
    result = page.locator(f'.card[data-id="{card_id}"]')
    expect(result.locator(".card-text")).to_have_text(text)
    return result


def board_pos(page: Any, card_id: str) -> tuple[float, float]:
    """A card's position in the shared document."""
    return tuple(
        page.evaluate(
            "id => { const m = window.koprade.doc.getMap('cards').get(id);"
            " return [m.get('x'), m.get('y')]; }",
            card_id,
        )
    )


def drag(page: Any, locator: Any, dx: float, dy: float, steps: int = 12) -> None:
    box = locator.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 30)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=steps)
    page.mouse.up()
