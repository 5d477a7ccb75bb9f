"""End-to-end tests of the facilitation feature in the browser (docs/facilitation.md):
phases and the banner, dot voting, the shared timer, lock, silent brainstorming, removing a
participant, observers, co-facilitator invites, follow-me, rejected updates (close 4409).

The facilitator (Latvian browser) and the participant (English browser, tablet size) use
separate browser contexts against the real server (see conftest.py).
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

pytestmark = pytest.mark.browser


# ------------------------------------------------------------------------------ helpers


def two_people(new_context: Any, title: str = "Fasilitācija") -> tuple[Any, Any, str, str]:
    """Facilitator Ilze (lv, laptop) and participant Jānis (en, tablet) in one room."""
    fac = new_context(locale="lv-LV").new_page()
    fac._koprade_errors = watch_errors(fac)  # type: ignore[attr-defined]
    room, code = create_room(fac, title, "Ilze")
    close_invite(fac)
    par = new_context(locale="en-GB", viewport={"width": 1024, "height": 768}).new_page()
    par._koprade_errors = watch_errors(par)  # type: ignore[attr-defined]
    assert join_room(par, code, "Jānis") == room
    wait_hello(fac)
    wait_hello(par)
    return fac, par, room, code


def wait_hello(page: Any) -> None:
    """The server's `hello` (message 100) arrived: the clock offset and identity are known."""
    page.wait_for_function("() => window.koprade && window.koprade.meta.me.id.startsWith('p_')")


def no_errors(*pages: Any, allow: str | None = None) -> None:
    """No console errors; `allow`: a pattern of expected ones (an HTTP status a test provoked)."""
    for page in pages:
        errors = [
            e
            for e in page._koprade_errors
            if "WebSocket" not in e and not (allow and re.search(allow, e))
        ]
        assert errors == [], errors


def open_panel(fac: Any) -> Any:
    panel = fac.get_by_test_id("fac-panel")
    if not panel.is_visible():
        fac.get_by_test_id("fac-open").click()
    expect(panel).to_be_visible()
    return panel


def set_phase(fac: Any, phase: str, *others: Any) -> None:
    open_panel(fac)
    fac.get_by_test_id(f"phase-{phase}").click()
    for page in (fac, *others):
        page.wait_for_function("p => window.koprade.meta.phase === p", arg=phase)


def switch(fac: Any, testid: str, on: bool) -> None:
    """Flip a panel switch (the input is visually hidden behind its track)."""
    open_panel(fac)
    box = fac.get_by_test_id(testid)
    if box.is_checked() != on:
        box.locator("xpath=..").click()
    expect(box).to_be_checked(checked=on)


def command(page: Any, room: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a command with the page's own token (what a hand-made client could send)."""
    return page.evaluate(
        """async ([room, body]) => {
          const s = JSON.parse(sessionStorage.getItem('koprade:room:' + room));
          const r = await fetch(`/api/rooms/${room}/commands`, {method: 'POST',
            headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + s.token},
            body: JSON.stringify(body)});
          return {status: r.status, body: await r.json()};
        }""",
        [room, body],
    )


def doc_has_card(page: Any, card_id: str, private: bool = False) -> bool:
    which = "privateDoc" if private else "doc"
    return page.evaluate(f"id => window.koprade.{which}.getMap('cards').has(id)", card_id)


def clock_seconds(text: str) -> int:
    m, s = text.strip().split(":")
    return int(m) * 60 + int(s)


# ------------------------------------------------------------------------------ tests


def test_phase_banner_and_disabled_actions(new_context: Any) -> None:
    fac, par, _room, _code = two_people(new_context)
    for page, name in ((fac, "Izpēte"), (par, "Explore")):
        expect(page.get_by_test_id("phase-name")).to_have_text(name)
    expect(par.get_by_test_id("tool-new-card")).to_be_enabled()
    mine = add_card(par, "Jāņa ideja", at=(300, 250))
    mine_id = mine.get_attribute("data-id")

    # vote: the board is frozen for participants
    set_phase(fac, "vote", par)
    expect(par.get_by_test_id("phase-name")).to_have_text("Vote")
    expect(par.get_by_test_id("phase-hint")).to_contain_text("vote with dots")
    expect(fac.get_by_test_id("phase-name")).to_have_text("Balsošana")
    expect(fac.get_by_test_id("phase-hint")).to_contain_text("balsojiet ar punktiem")
    expect(par.get_by_test_id("tool-new-card")).to_be_disabled()
    expect(par.get_by_test_id("tool-new-cluster")).to_be_disabled()
    # a double click on the background creates nothing and says why
    par.get_by_test_id("canvas").dblclick(position={"x": 600, "y": 500})
    expect(par.get_by_test_id("notice").last).to_contain_text("Vote")
    expect(par.get_by_test_id("card")).to_have_count(1)
    # the own card cannot be edited (no editor opens), nor dragged
    card(par, "Jāņa ideja").dblclick()
    expect(par.get_by_test_id("card-editor")).to_have_count(0)
    # the facilitator is exempt
    expect(fac.get_by_test_id("tool-new-card")).to_be_enabled()

    # back to ideate: allowed again
    set_phase(fac, "ideate", par)
    expect(par.get_by_test_id("phase-name")).to_have_text("Ideate")
    expect(par.get_by_test_id("tool-new-card")).to_be_enabled()
    card(par, "Jāņa ideja").dblclick()
    expect(par.get_by_test_id("card-editor")).to_be_focused()
    par.get_by_test_id("card-editor").press("Escape")

    # closed: read only, with an indicator
    set_phase(fac, "closed", par)
    expect(par.get_by_test_id("flag-closed")).to_be_visible()
    expect(par.get_by_test_id("tool-new-card")).to_be_disabled()
    assert doc_has_card(par, mine_id)
    assert par.evaluate("window.koprade.generation") == 0  # never rejected
    no_errors(fac, par)


def test_lock_freezes_participants(new_context: Any) -> None:
    fac, par, _room, _code = two_people(new_context, "Bloķēšana")
    switch(fac, "switch-locked", True)
    expect(par.get_by_test_id("flag-locked")).to_be_visible()
    expect(par.get_by_test_id("phase-hint")).to_contain_text("locked")
    expect(par.get_by_test_id("tool-new-card")).to_be_disabled()
    par.get_by_test_id("canvas").click(position={"x": 500, "y": 400})
    par.keyboard.press("n")
    expect(par.get_by_test_id("card")).to_have_count(0)
    # the facilitator still writes
    add_card(fac, "Vadītājas kartīte", at=(300, 250))
    expect(card(par, "Vadītājas kartīte")).to_have_count(1)
    switch(fac, "switch-locked", False)
    expect(par.get_by_test_id("flag-locked")).to_have_count(0)
    expect(par.get_by_test_id("tool-new-card")).to_be_enabled()
    add_card(par, "After the lock", at=(500, 400))
    expect(card(fac, "After the lock")).to_have_count(1)

    # editOthers off: participants edit only their own cards (moving stays allowed)
    expect(fac.get_by_test_id("switch-edit-others")).to_be_checked()  # the server's default
    switch(fac, "switch-edit-others", False)
    expect(par.get_by_test_id("flag-own-only")).to_be_visible()
    card(par, "Vadītājas kartīte").dblclick()
    expect(par.get_by_test_id("card-editor")).to_have_count(0)
    expect(par.get_by_test_id("notice").last).to_contain_text("facilitator allows")
    card(par, "After the lock").dblclick()
    expect(par.get_by_test_id("card-editor")).to_be_focused()
    par.get_by_test_id("card-editor").press("Escape")
    assert par.evaluate("window.koprade.generation") == 0
    no_errors(fac, par)


def test_card_authors_and_anonymous_mode(new_context: Any) -> None:
    fac, par, _room, _code = two_people(new_context, "Autori")
    add_card(par, "Jāņa ideja", at=(300, 250))
    add_card(fac, "Ilzes ideja", at=(600, 250))
    author = lambda page, text: card(page, text).get_by_test_id("card-author")  # noqa: E731
    expect(author(fac, "Jāņa ideja")).to_have_text("Autors: Jānis")
    expect(author(fac, "Ilzes ideja")).to_have_text("Autors: jūs")
    expect(author(par, "Jāņa ideja")).to_have_text("By you")
    expect(author(par, "Ilzes ideja")).to_have_text("By Ilze")
    switch(fac, "switch-anonymous", True)
    expect(par.get_by_test_id("flag-anonymous")).to_be_visible()
    expect(author(par, "Ilzes ideja")).to_be_hidden()
    expect(author(fac, "Jāņa ideja")).to_be_hidden()
    expect(author(par, "Jāņa ideja")).to_have_text("By you")  # one's own cards: still "you"
    assert par.evaluate("window.koprade.meta.meta.has('people')") is False
    no_errors(fac, par)


def test_dot_voting_end_to_end(new_context: Any) -> None:
    fac, par, room, _code = two_people(new_context, "Balsošana")
    a = add_card(fac, "Bezmaksas autobuss", at=(250, 220))
    b = add_card(fac, "Soliņi pieturās", at=(550, 220))
    add_card(par, "Lielāki burti", at=(250, 480))
    a_id, b_id = a.get_attribute("data-id"), b.get_attribute("data-id")

    # no vote controls outside the vote phase; a hand-made vote is refused with a slug
    expect(par.get_by_test_id("vote-add")).to_have_count(0)
    res = command(par, room, {"command": "vote", "card": a_id})
    assert res["status"] == 409 and res["body"]["error"] == "wrong_phase", res

    set_phase(fac, "vote", par)
    chip = par.get_by_test_id("votes-left")
    expect(chip).to_have_text("5 / 5 votes left")
    expect(fac.get_by_test_id("votes-left")).to_have_text("Atlikušas balsis: 5 no 5")
    par_a = card(par, "Bezmaksas autobuss")
    par_b = card(par, "Soliņi pieturās")
    par_a.get_by_test_id("vote-add").click()
    expect(par_a.get_by_test_id("my-dots")).to_have_attribute("data-count", "1")
    par_a.get_by_test_id("vote-add").click()
    expect(par_a.get_by_test_id("my-dots")).to_have_attribute("data-count", "2")
    expect(par_a.locator(".vote-dots .dot")).to_have_count(2)
    par_b.get_by_test_id("vote-add").click()
    expect(par_b.get_by_test_id("my-dots")).to_have_attribute("data-count", "1")
    expect(chip).to_have_text("2 / 5 votes left")
    # take one back
    par_b.get_by_test_id("vote-remove").click()
    expect(par_b.get_by_test_id("my-dots")).to_have_attribute("data-count", "0")
    expect(chip).to_have_text("3 / 5 votes left")
    par_b.get_by_test_id("vote-add").click()
    expect(chip).to_have_text("2 / 5 votes left")
    # the third vote on one card is the per-card maximum: the button is disabled at 3
    par_a.get_by_test_id("vote-add").click()
    expect(par_a.get_by_test_id("my-dots")).to_have_attribute("data-count", "3")
    expect(par_a.get_by_test_id("vote-add")).to_be_disabled()
    # a request past the maximum gets a friendly message (the server's slug)
    res = command(par, room, {"command": "vote", "card": a_id})
    assert res["status"] == 409 and res["body"]["error"] == "card_limit", res
    # own dots survive a reload (the server's `votes` message on connect)
    par.reload()
    expect(card(par, "Bezmaksas autobuss").get_by_test_id("my-dots")).to_have_attribute(
        "data-count", "3"
    )
    expect(par.get_by_test_id("votes-left")).to_have_text("1 / 5 votes left")

    # the facilitator votes too; results are hidden until the vote closes
    card(fac, "Soliņi pieturās").get_by_test_id("vote-add").click()
    expect(card(fac, "Soliņi pieturās").get_by_test_id("my-dots")).to_have_attribute(
        "data-count", "1"
    )
    for page in (fac, par):
        expect(page.get_by_test_id("vote-tally")).to_have_count(0)
    assert par.evaluate("window.koprade.doc.getMap('votes').size") == 0

    panel = open_panel(fac)
    expect(panel.get_by_test_id("results")).to_contain_text("Rezultāti būs redzami")
    panel.get_by_test_id("vote-close").click()
    expect(panel.get_by_test_id("fac-status-voting")).to_contain_text("Balsošana slēgta")
    # both see the tallies: A 3, B 2, C none
    for page in (fac, par):
        expect(card(page, "Bezmaksas autobuss").get_by_test_id("vote-tally")).to_have_text("3")
        expect(card(page, "Soliņi pieturās").get_by_test_id("vote-tally")).to_have_text("2")
        expect(card(page, "Lielāki burti").get_by_test_id("vote-tally")).to_have_count(0)
        expect(page.get_by_test_id("vote-add")).to_have_count(0)  # voting is closed
    # the ranked list in the panel
    rows = panel.get_by_test_id("result")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Bezmaksas autobuss")
    expect(rows.nth(0)).to_contain_text("3")
    expect(rows.nth(1)).to_contain_text("Soliņi pieturās")
    assert rows.nth(0).get_attribute("data-id") == a_id
    assert rows.nth(1).get_attribute("data-id") == b_id

    # reopen, then reset: votes and results are gone
    panel.get_by_test_id("vote-reopen").click()
    expect(card(par, "Bezmaksas autobuss").get_by_test_id("vote-add")).to_have_count(1)
    panel.get_by_test_id("vote-reset").click()
    fac.get_by_test_id("confirm-ok").click()
    expect(panel.get_by_test_id("fac-status-voting")).to_contain_text("Visas balsis dzēstas")
    expect(par.get_by_test_id("votes-left")).to_have_text("5 / 5 votes left")
    expect(par.get_by_test_id("vote-tally")).to_have_count(0)
    no_errors(fac, par, allow="status of 409")


def test_voting_settings_and_budget_message(new_context: Any) -> None:
    fac, par, _room, _code = two_people(new_context, "Budžets")
    add_card(fac, "Viena ideja", at=(250, 220))
    add_card(fac, "Otra ideja", at=(550, 220))
    panel = open_panel(fac)
    panel.get_by_test_id("vote-per-participant").fill("2")
    panel.get_by_test_id("vote-per-card").fill("2")
    panel.get_by_test_id("voting-save").click()
    expect(panel.get_by_test_id("fac-status-voting")).to_contain_text("saglabāti")
    set_phase(fac, "vote", par)
    expect(par.get_by_test_id("votes-left")).to_have_text("2 / 2 votes left")
    card(par, "Viena ideja").get_by_test_id("vote-add").click()
    card(par, "Otra ideja").get_by_test_id("vote-add").click()
    expect(par.get_by_test_id("votes-left")).to_have_text("0 / 2 votes left")
    for text in ("Viena ideja", "Otra ideja"):
        expect(card(par, text).get_by_test_id("vote-add")).to_be_disabled()
    # once votes are cast, settings cannot change: the panel says so
    panel.get_by_test_id("vote-per-participant").fill("4")
    panel.get_by_test_id("voting-save").click()
    expect(panel.get_by_test_id("fac-status-voting")).to_contain_text("neviena balss")
    no_errors(fac, par, allow="status of 409")


def test_shared_timer(new_context: Any) -> None:
    fac, par, room, _code = two_people(new_context, "Taimeris")
    panel = open_panel(fac)
    panel.get_by_test_id("timer-minutes").fill("3")
    panel.get_by_test_id("timer-start").click()
    expect(panel.get_by_test_id("fac-status-timer")).to_have_text("Taimeris palaists")
    for page in (fac, par):
        expect(page.get_by_test_id("timer-box")).to_be_visible()
        expect(page.get_by_test_id("timer")).to_have_text(re.compile(r"^0[23]:\d\d$"))
    # the same countdown on both screens (one clock, the server's)
    both = [clock_seconds(p.get_by_test_id("timer").inner_text()) for p in (fac, par)]
    assert abs(both[0] - both[1]) <= 1, both
    assert 170 <= both[0] <= 180, both

    panel.get_by_test_id("timer-pause").click()
    for page in (fac, par):
        expect(page.get_by_test_id("timer-box")).to_have_attribute("data-state", "paused")
    paused = par.get_by_test_id("timer").inner_text()
    expect(fac.get_by_test_id("timer")).to_have_text(paused)
    panel.get_by_test_id("timer-pause").click()  # resume
    expect(par.get_by_test_id("timer-box")).to_have_attribute("data-state", "running")
    panel.get_by_test_id("timer-add").click()
    expect(par.get_by_test_id("timer")).to_have_text(re.compile(r"^0[34]:\d\d$"))

    # a short countdown reaches its end: "time is up" on both, flashing
    res = command(fac, room, {"command": "timer", "action": "start", "seconds": 2})
    assert res["status"] == 200, res
    expect(par.get_by_test_id("timer-box")).to_have_attribute("data-state", "ended")
    expect(fac.get_by_test_id("timer-box")).to_have_attribute("data-state", "ended")
    expect(par.get_by_test_id("timer-box")).to_contain_text("Time is up")
    expect(fac.get_by_test_id("timer-box")).to_contain_text("Laiks beidzies")
    expect(par.get_by_test_id("timer")).to_have_text("00:00")
    # the sound switch is off by default and toggles
    sound = par.get_by_test_id("timer-sound")
    expect(sound).to_have_attribute("aria-pressed", "false")
    sound.click()
    expect(sound).to_have_attribute("aria-pressed", "true")
    panel.get_by_test_id("timer-stop").click()
    for page in (fac, par):
        expect(page.get_by_test_id("timer-box")).to_be_hidden()
    no_errors(fac, par)


def test_silent_brainstorming_and_reveal(new_context: Any, artifacts: Path) -> None:
    fac, par, _room, _code = two_people(new_context, "Klusā prāta vētra")
    panel = open_panel(fac)
    switch(fac, "switch-private", True)
    expect(par.get_by_test_id("flag-private")).to_be_visible()
    expect(par.get_by_test_id("phase-hint")).to_contain_text("only you see")

    secret = add_card(par, "Slepena ideja", at=(300, 250))
    secret_id = secret.get_attribute("data-id")
    expect(secret).to_have_attribute("data-private", "true")
    expect(secret.get_by_test_id("card-author")).to_have_text("Only you can see this")
    par.wait_for_function("id => window.koprade.privateDoc.getMap('cards').has(id)", arg=secret_id)
    assert not doc_has_card(par, secret_id)
    # a facilitator's card goes to the shared board directly
    add_card(fac, "Vadītājas ideja", at=(650, 250))
    expect(card(par, "Vadītājas ideja")).to_have_attribute("data-private", "false")
    # the private card never reaches the facilitator
    expect(card(fac, "Vadītājas ideja")).to_have_count(1)
    assert not doc_has_card(fac, secret_id)
    expect(fac.locator(f'.card[data-id="{secret_id}"]')).to_have_count(0)
    assert "Slepena ideja" not in fac.content()
    # it survives a reload of the participant's tab
    par.reload()
    expect(card(par, "Slepena ideja")).to_have_attribute("data-private", "true")
    par.screenshot(path=str(artifacts / "silent-brainstorming-participant.png"))

    panel.get_by_test_id("reveal").click()
    expect(panel.get_by_test_id("fac-status-private")).to_have_text("Atklātas idejas: 1")
    expect(fac.get_by_test_id("switch-private")).not_to_be_checked()
    revealed = fac.locator(f'.card[data-id="{secret_id}"]')
    expect(revealed).to_contain_text("Slepena ideja")
    expect(revealed.get_by_test_id("card-author")).to_have_text("Autors: Jānis")
    # on the participant's screen: the same card (same id), now shared
    expect(par.locator(f'.card[data-id="{secret_id}"]')).to_have_attribute("data-private", "false")
    par.wait_for_function(
        "id => !window.koprade.privateDoc.getMap('cards').has(id)"
        " && window.koprade.doc.getMap('cards').has(id)",
        arg=secret_id,
    )
    expect(par.get_by_test_id("flag-private")).to_have_count(0)
    # after the reveal, new cards of the participant are shared again
    add_card(par, "Public again", at=(300, 500))
    expect(card(fac, "Public again")).to_have_count(1)
    no_errors(fac, par)


def test_remove_participant(new_context: Any) -> None:
    fac, par, _room, _code = two_people(new_context, "Izņemšana")
    panel = open_panel(fac)
    person = panel.get_by_test_id("fac-person").filter(has_text="Jānis")
    expect(person).to_have_count(1)
    person.get_by_test_id("person-remove").click()
    dialog = fac.get_by_test_id("confirm")
    expect(dialog).to_contain_text("Jānis")
    fac.get_by_test_id("confirm-cancel").click()
    expect(dialog).to_have_count(0)
    person.get_by_test_id("person-remove").click()
    fac.get_by_test_id("confirm-ok").click()
    expect(panel.get_by_test_id("fac-status-people")).to_contain_text("Jānis")
    fatal = par.get_by_test_id("fatal")
    expect(fatal).to_be_visible()
    expect(fatal).to_contain_text("removed you from this workshop")
    expect(par.get_by_test_id("connection")).to_have_attribute("data-state", "fatal")
    expect(fac.get_by_test_id("person")).to_have_count(1)
    # the facilitator cannot remove themself: no button on their own row
    own = panel.get_by_test_id("fac-person").filter(has_text="Ilze")
    expect(own.get_by_test_id("person-remove")).to_have_count(0)
    # a reload of the removed participant's tab asks to join again
    par.reload()
    expect(par.locator("#join-code")).to_be_visible()
    no_errors(fac)


def test_observer_is_read_only(new_context: Any) -> None:
    fac = new_context(locale="lv-LV").new_page()
    room, code = create_room(fac, "Vērotājs", "Ilze")
    close_invite(fac)
    add_card(fac, "Redzama ideja", at=(300, 250))
    obs = new_context(locale="en-GB").new_page()
    errors = watch_errors(obs)
    obs.goto(f"/join/{code}")
    obs.locator("#join-name").fill("Projektors")
    obs.get_by_test_id("join-observer").check()
    obs.locator("#join-name").press("Enter")
    expect(obs).to_have_url(re.compile(r"/room/" + room + "$"))
    expect(obs.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    wait_hello(obs)
    assert obs.evaluate("window.koprade.meta.me.role") == "observer"
    expect(obs.get_by_test_id("flag-observer")).to_be_visible()
    expect(obs.get_by_test_id("phase-hint")).to_contain_text("observing")
    expect(card(obs, "Redzama ideja")).to_have_count(1)
    expect(obs.get_by_test_id("tool-new-card")).to_be_hidden()
    # no way to create, edit or delete
    obs.get_by_test_id("canvas").dblclick(position={"x": 600, "y": 450})
    obs.keyboard.press("n")
    card(obs, "Redzama ideja").dblclick()
    expect(obs.get_by_test_id("card-editor")).to_have_count(0)
    obs.keyboard.press("Delete")
    expect(obs.get_by_test_id("card")).to_have_count(1)
    assert obs.evaluate("window.koprade.doc.getMap('cards').size") == 1
    expect(card(fac, "Redzama ideja")).to_have_count(1)
    # observers cannot vote, not even in the vote phase
    set_phase(fac, "vote", obs)
    expect(obs.get_by_test_id("vote-add")).to_have_count(0)
    expect(obs.get_by_test_id("votes-chip")).to_be_hidden()
    assert obs.evaluate("window.koprade.generation") == 0
    assert [e for e in errors if "WebSocket" not in e] == []


def test_rejected_update_starts_over(new_context: Any, artifacts: Path) -> None:
    """A change the server refuses (here forced past the UI) closes with 4409: the client explains
    and starts over with a fresh document that holds the server's state only."""
    fac, par, _room, _code = two_people(new_context, "Atteikums")
    add_card(fac, "Vadītājas ideja", at=(300, 250))
    expect(card(par, "Vadītājas ideja")).to_have_count(1)
    set_phase(fac, "vote", par)
    old_client = par.evaluate("window.koprade.doc.clientID")
    par.evaluate(
        """() => {
          const Y = window.koprade.doc.getMap('cards').get(
            [...window.koprade.doc.getMap('cards').keys()][0]);
          Y.set('x', 999);
        }"""
    )
    notice = par.get_by_test_id("restart-notice")
    expect(notice).to_be_visible()
    par.screenshot(path=str(artifacts / "rejected-update-participant.png"))
    expect(notice).to_contain_text("did not accept your last change (not allowed in this phase)")
    par.wait_for_function("window.koprade.generation === 1")
    assert par.evaluate("window.koprade.doc.clientID") != old_client
    expect(par.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(card(par, "Vadītājas ideja")).to_have_count(1)
    x = par.evaluate(
        "() => { const m = window.koprade.doc.getMap('cards');"
        " return m.get([...m.keys()][0]).get('x'); }"
    )
    assert x != 999
    expect(par.get_by_test_id("phase-name")).to_have_text("Vote")
    # the session goes on normally
    set_phase(fac, "ideate", par)
    add_card(par, "After the restart", at=(600, 450))
    expect(card(fac, "After the restart")).to_have_count(1)


def test_cofacilitator_invite_and_rename(new_context: Any) -> None:
    fac, par, room, code = two_people(new_context, "Vecais nosaukums")
    panel = open_panel(fac)
    panel.get_by_test_id("rename-input").fill("Jaunais nosaukums")
    panel.get_by_test_id("rename").click()
    expect(panel.get_by_test_id("fac-status-room")).to_have_text("Nosaukums saglabāts")
    for page in (fac, par):
        expect(page.get_by_test_id("room-title")).to_have_text("Jaunais nosaukums")

    panel.get_by_test_id("invite-cofacilitator").click()
    link = panel.get_by_test_id("cofacilitator-link")
    expect(link).to_have_value(re.compile(r"/join/" + code + r"#invite="))
    url = link.input_value()
    co = new_context(locale="en-GB").new_page()
    co.goto(url)
    expect(co.get_by_test_id("invite-notice")).to_be_visible()
    expect(co.locator("#join-code")).to_have_value(code)
    co.locator("#join-name").fill("Marta")
    co.locator("#join-name").press("Enter")
    expect(co).to_have_url(re.compile(r"/room/" + room + "$"))
    wait_hello(co)
    assert co.evaluate("window.koprade.meta.me.role") == "facilitator"
    expect(co.get_by_test_id("fac-open")).to_be_visible()
    expect(par.get_by_test_id("fac-open")).to_have_count(0)
    # the co-facilitator steers the room
    set_phase(co, "cluster", fac, par)
    expect(par.get_by_test_id("phase-name")).to_have_text("Cluster")
    no_errors(fac, par)


def test_follow_me(new_context: Any) -> None:
    fac, par, _room, _code = two_people(new_context, "Sekošana")
    add_card(fac, "Tālā ideja", at=(300, 250))
    switch(fac, "switch-follow-me", True)
    expect(fac.get_by_test_id("follow")).to_contain_text("Visi seko jūsu skatam")
    expect(par.get_by_test_id("follow")).to_contain_text("Following Ilze")
    fac.get_by_test_id("fac-close").click()
    # the facilitator zooms and pans; the participant's view follows
    fac.get_by_test_id("tool-zoom-in").click()
    fac.get_by_test_id("tool-zoom-in").click()
    canvas = fac.get_by_test_id("canvas")
    box = canvas.bounding_box()
    assert box
    fac.mouse.move(box["x"] + 400, box["y"] + 400)
    fac.mouse.down()
    fac.mouse.move(box["x"] + 200, box["y"] + 300, steps=8)
    fac.mouse.up()
    centre = (
        "() => { const c = window.koprade.vp.center(); return [c.x, c.y, window.koprade.vp.z]; }"
    )
    par.wait_for_function(
        """([x, y, z]) => { const c = window.koprade.vp.center();
          return Math.abs(c.x - x) < 3 && Math.abs(c.y - y) < 3
            && Math.abs(window.koprade.vp.z - z) < 0.01; }""",
        arg=fac.evaluate(centre),
    )
    # stop following: the participant's view stays put
    par.get_by_test_id("follow-toggle").click()
    expect(par.get_by_test_id("follow")).to_contain_text("Not following")
    before = par.evaluate(centre)
    fac.get_by_test_id("tool-zoom-out").click()
    # the leader's new viewport reaches the participant (awareness), which no longer follows it
    par.wait_for_function(
        """z => [...window.koprade.provider.awareness.getStates().values()]
          .some(s => s.viewport && Math.abs(s.viewport.zoom - z) < 0.01)""",
        arg=fac.evaluate("window.koprade.vp.z"),
    )
    assert par.evaluate(centre) == before
    par.get_by_test_id("follow-toggle").click()  # follow again
    par.wait_for_function(
        "z => Math.abs(window.koprade.vp.z - z) < 0.01", arg=fac.evaluate("window.koprade.vp.z")
    )
    switch(fac, "switch-follow-me", False)
    expect(par.get_by_test_id("follow")).to_be_hidden()
    no_errors(fac, par)


def test_facilitator_panel_screenshots(new_context: Any, artifacts: Path) -> None:
    for name, viewport in (
        ("tablet", {"width": 1024, "height": 768}),
        ("laptop", {"width": 1366, "height": 768}),
    ):
        fac = new_context(locale="lv-LV", viewport=viewport, has_touch=name == "tablet").new_page()
        room, code = create_room(fac, "Mobilitāte senioriem", "Ilze")
        close_invite(fac)
        par = new_context(locale="lv-LV").new_page()
        join_room(par, code, "Jānis")
        add_card(fac, "Bezmaksas autobuss senioriem", at=(200, 200))
        add_card(par, "Soliņi ik pēc 200 m", at=(450, 200))
        set_phase(fac, "vote", par)
        card(par, "Bezmaksas autobuss senioriem").get_by_test_id("vote-add").click()
        card(par, "Bezmaksas autobuss senioriem").get_by_test_id("vote-add").click()
        expect(par.get_by_test_id("votes-left")).to_contain_text("3 no 5")
        par.screenshot(path=str(artifacts / f"facilitation-voting-{name}.png"))
        panel = open_panel(fac)
        press = "tap" if name == "tablet" else "click"  # the tablet uses touch
        getattr(panel.get_by_test_id("timer-start"), press)()
        expect(fac.get_by_test_id("timer-box")).to_be_visible()
        getattr(panel.get_by_test_id("vote-close"), press)()
        expect(panel.get_by_test_id("result")).to_have_count(1)
        expect(fac.get_by_test_id("fac-person")).to_have_count(2)
        fac.screenshot(path=str(artifacts / f"facilitation-results-{name}.png"))
        panel.locator(".fac-body").evaluate("el => { el.scrollTop = 0; }")
        fac.screenshot(path=str(artifacts / f"facilitation-panel-{name}.png"))
        par.screenshot(path=str(artifacts / f"facilitation-participant-{name}.png"))
        # the panel is usable at this size: its sections scroll into view and stay inside
        pbox = panel.bounding_box()
        assert pbox and pbox["x"] >= 0 and pbox["x"] + pbox["width"] <= viewport["width"] + 1
        panel.get_by_test_id("invite-cofacilitator").scroll_into_view_if_needed()
        expect(panel.get_by_test_id("invite-cofacilitator")).to_be_in_viewport()
        assert room


def test_facilitation_accessibility_axe(new_context: Any) -> None:
    from tests.browser.test_board import AXE, axe_violations

    if not AXE.exists():
        pytest.fail("axe-core missing: run `npm ci` in web/")
    fac = new_context(locale="lv-LV", bypass_csp=True).new_page()
    _room, code = create_room(fac, "Pieejamība", "Ilze")
    close_invite(fac)
    par = new_context(locale="en-GB", bypass_csp=True).new_page()
    join_room(par, code, "Jānis")
    add_card(fac, "Pirmā ideja", at=(250, 220))
    switch(fac, "switch-private", True)
    expect(par.get_by_test_id("flag-private")).to_be_visible()  # else the card would be shared
    add_card(par, "Private idea", at=(500, 220))
    expect(fac.get_by_test_id("fac-person")).to_have_count(2)
    assert axe_violations(fac) == [], "facilitator panel"
    assert axe_violations(par) == [], "participant, silent brainstorming"
    switch(fac, "switch-private", False)
    set_phase(fac, "vote", par)
    fac.get_by_test_id("timer-start").click()
    expect(par.get_by_test_id("timer-box")).to_be_visible()
    card(par, "Pirmā ideja").get_by_test_id("vote-add").click()
    expect(par.get_by_test_id("votes-left")).to_have_text("4 / 5 votes left")
    assert axe_violations(par) == [], "participant, voting"
    fac.get_by_test_id("vote-close").click()
    expect(fac.get_by_test_id("result")).to_have_count(1)
    assert axe_violations(fac) == [], "facilitator, results"
    fac.get_by_test_id("vote-reset").click()
    expect(fac.get_by_test_id("confirm")).to_be_visible()
    assert axe_violations(fac) == [], "confirm dialog"
