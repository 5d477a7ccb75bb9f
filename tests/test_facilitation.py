"""Facilitation rules hold on the server (docs/facilitation.md).

Every rule is tested with a real pycrdt client writing straight into its document — the
crafted updates a client that bypasses the web UI would send — against the real server:
the update is rejected with 4409, the room's document stays clean, the other clients never
see it, and they keep syncing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pycrdt import Map, Text

from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, card, wait_until


@dataclass
class Workshop:
    server: InProcessServer
    room: str
    code: str
    facilitator_token: str
    facilitator: YClient
    anna: YClient
    bob: YClient
    anna_id: str
    bob_id: str
    anna_token: str
    bob_token: str

    async def ok(self, command: str, **args: Any) -> dict[str, Any]:
        return await self.server.ok(self.room, self.facilitator_token, command, **args)

    def meta(self) -> dict[str, Any]:
        return self.server.services.rooms.rooms[self.room].doc.get("meta", type=Map).to_py()

    def server_cards(self) -> Map:
        return self.server.services.rooms.rooms[self.room].doc.get("cards", type=Map)


@pytest.fixture
async def workshop(server: InProcessServer) -> Workshop:
    info = await server.create_room("Senioru mobilitāte", name="Ilze")
    anna = await server.join(info.code, "Anna")
    bob = await server.join(info.code, "Bob")
    clients = [
        await YClient(server.ws_url, info.room, token).connect()
        for token in (info.token, anna["token"], bob["token"])
    ]
    return Workshop(
        server,
        info.room,
        info.code,
        info.token,
        *clients,
        anna_id=anna["participant"],
        bob_id=bob["participant"],
        anna_token=anna["token"],
        bob_token=bob["token"],
    )


async def expect_rejected(client: YClient, rule: str, reason_part: str) -> None:
    code, reason = await client.wait_closed()
    assert code == 4409, (code, reason)
    assert reason is not None and reason.startswith("update rejected: ")
    assert reason_part in reason, reason
    message = client.last_message("rejected")
    assert message is not None, "the sender is told why before the close"
    assert message["rule"] == rule
    assert reason_part in message["reason"]


async def assert_still_syncing(workshop: Workshop, writer: YClient, label: str) -> None:
    writer.cards[f"after-{label}"] = writer.card(label)
    await wait_until(
        lambda: f"after-{label}" in workshop.facilitator.cards, message=f"sync after {label}"
    )


# -- server-only roots, observers ---------------------------------------------------------


async def test_meta_has_defaults_and_names_and_is_server_only(workshop: Workshop) -> None:
    meta = workshop.meta()
    assert meta["phase"] == "explore"
    assert meta["phases"] == ["explore", "ideate", "cluster", "vote", "discuss", "closed"]
    assert meta["title"] == "Senioru mobilitāte"
    assert meta["voting"]["hidden"] is True
    assert meta["people"][workshop.anna_id] == "Anna"
    await wait_until(lambda: workshop.anna.doc.get("meta", type=Map).get("phase") == "explore")

    frames_before = len(workshop.bob.frames)
    workshop.anna.doc.get("meta", type=Map)["phase"] = "closed"
    await expect_rejected(workshop.anna, "server-only", "'meta' is written only by the server")
    assert workshop.meta()["phase"] == "explore"
    await assert_still_syncing(workshop, workshop.bob, "meta")
    assert all(b"closed" not in frame for frame in workshop.bob.frames[frames_before:])


async def test_votes_cannot_be_forged_by_a_facilitator_either(workshop: Workshop) -> None:
    workshop.facilitator.doc.get("votes", type=Map)["some-card"] = {"count": 99}
    await expect_rejected(workshop.facilitator, "server-only", "'votes' is written only")
    assert workshop.server.services.rooms.rooms[workshop.room].doc.get(
        "votes", type=Map
    ).to_py() in (
        None,
        {},
    )


async def test_other_root_types_are_refused(workshop: Workshop) -> None:
    workshop.anna.doc.get("scratch", type=Map)["x"] = 1
    await expect_rejected(workshop.anna, "server-only", "'scratch' is written only")


async def test_observer_reads_but_cannot_write(workshop: Workshop) -> None:
    joined = await workshop.server.join(workshop.code, "Projector", role="observer")
    assert joined["role"] == "observer"
    observer = await YClient(workshop.server.ws_url, workshop.room, joined["token"]).connect()
    workshop.anna.cards["a1"] = workshop.anna.card("seen by the projector")
    await wait_until(lambda: "a1" in observer.cards, message="the card at the observer")
    observer.cards["o1"] = observer.card("observer note")
    await expect_rejected(observer, "observer", "observers cannot change the board")
    assert "o1" not in workshop.server_cards()
    response = await workshop.server.command(workshop.room, joined["token"], "vote", card="a1")
    assert response.status_code == 403 and response.json()["error"] == "observer"


# -- phases, lock, ownership, authorship ----------------------------------------------------


async def test_phase_rules(workshop: Workshop) -> None:
    workshop.anna.cards["a1"] = workshop.anna.card("Benches")
    await wait_until(lambda: "a1" in workshop.server_cards(), message="a1")

    await workshop.ok("set_phase", phase="ideate")
    await wait_until(lambda: workshop.anna.doc.get("meta", type=Map).get("phase") == "ideate")
    workshop.anna.clusters["k1"] = card("Transport")
    await expect_rejected(workshop.anna, "phase", "changing clusters is not allowed in the ideate")

    await workshop.ok("set_phase", phase="vote")
    await wait_until(lambda: workshop.bob.doc.get("meta", type=Map).get("phase") == "vote")
    workshop.bob.cards["b1"] = workshop.bob.card("late idea")
    await expect_rejected(workshop.bob, "phase", "adding cards is not allowed in the vote phase")
    assert "b1" not in workshop.server_cards()

    # The facilitator is not bound by phases.
    workshop.facilitator.cards["f1"] = workshop.facilitator.card("facilitator note")
    await wait_until(lambda: "f1" in workshop.server_cards(), message="facilitator card")


async def test_moving_in_a_frozen_phase_is_rejected(workshop: Workshop) -> None:
    workshop.anna.cards["a1"] = workshop.anna.card("Benches")
    await wait_until(lambda: "a1" in workshop.server_cards(), message="a1")
    await workshop.ok("set_phase", phase="closed")
    await wait_until(lambda: workshop.anna.doc.get("meta", type=Map).get("phase") == "closed")
    workshop.anna.cards["a1"]["x"] = 500
    await expect_rejected(workshop.anna, "phase", "moving cards is not allowed in the closed")
    assert workshop.server_cards()["a1"]["x"] == 0


async def test_lock_freezes_participants_until_unlocked(workshop: Workshop) -> None:
    workshop.anna.cards["a1"] = workshop.anna.card("Benches")
    await wait_until(lambda: "a1" in workshop.server_cards(), message="a1")
    await workshop.ok("settings", locked=True)
    await wait_until(lambda: workshop.anna.doc.get("meta", type=Map).get("locked") is True)
    text = workshop.anna.cards["a1"]["text"]
    assert isinstance(text, Text)
    text += " and shade"
    await expect_rejected(workshop.anna, "locked", "the board is locked")
    assert str(workshop.server_cards()["a1"]["text"]) == "Benches"

    await workshop.ok("settings", locked=False)
    await wait_until(lambda: workshop.bob.doc.get("meta", type=Map).get("locked") is False)
    workshop.bob.cards["b1"] = workshop.bob.card("after the lock")
    await wait_until(lambda: "b1" in workshop.server_cards(), message="b1 after unlock")


async def test_others_cards_when_the_room_forbids_editing_them(workshop: Workshop) -> None:
    await workshop.ok("settings", editOthers=False)
    workshop.anna.cards["a1"] = workshop.anna.card("Anna's idea")
    await wait_until(lambda: "a1" in workshop.bob.cards, message="a1 at Bob")
    await wait_until(lambda: workshop.bob.doc.get("meta", type=Map).get("editOthers") is False)

    # Moving someone else's card is allowed (clustering needs it).
    workshop.bob.cards["a1"]["x"] = 250
    await wait_until(lambda: workshop.server_cards()["a1"]["x"] == 250, message="the move")

    # Deleting it is not.
    del workshop.bob.cards["a1"]
    await expect_rejected(workshop.bob, "owner", "only its author can change or delete")
    assert "a1" in workshop.server_cards()


async def test_rewriting_someone_elses_text_when_forbidden(workshop: Workshop) -> None:
    await workshop.ok("settings", editOthers=False)
    workshop.anna.cards["a1"] = workshop.anna.card("Anna's idea")
    await wait_until(lambda: "a1" in workshop.bob.cards, message="a1 at Bob")
    await wait_until(lambda: workshop.bob.doc.get("meta", type=Map).get("editOthers") is False)
    text = workshop.bob.cards["a1"]["text"]
    assert isinstance(text, Text)
    text.insert(0, "Bob says: ")
    await expect_rejected(workshop.bob, "owner", "only its author")
    assert str(workshop.server_cards()["a1"]["text"]) == "Anna's idea"
    # Anna may still edit her own.
    own = workshop.anna.cards["a1"]["text"]
    assert isinstance(own, Text)
    own += "!"
    await wait_until(
        lambda: str(workshop.server_cards()["a1"]["text"]) == "Anna's idea!", message="own edit"
    )


async def test_a_new_card_must_name_its_sender(workshop: Workshop) -> None:
    workshop.anna.cards["forged"] = card("in Bob's name", author=workshop.bob_id)
    await expect_rejected(workshop.anna, "author", "must name its author")
    assert "forged" not in workshop.server_cards()


async def test_author_and_created_are_set_once(workshop: Workshop) -> None:
    workshop.anna.cards["a1"] = workshop.anna.card("mine")
    await wait_until(lambda: "a1" in workshop.server_cards(), message="a1")
    workshop.anna.cards["a1"]["author"] = workshop.bob_id
    await expect_rejected(workshop.anna, "contract", "'author' is set once")
    assert workshop.server_cards()["a1"]["author"] == workshop.anna_id


# -- silent brainstorming -------------------------------------------------------------------


async def test_private_cards_travel_nowhere_until_the_reveal(workshop: Workshop) -> None:
    server = workshop.server
    await workshop.ok("private", on=True)
    await wait_until(lambda: workshop.anna.doc.get("meta", type=Map).get("private") is True)

    # On the shared board new participant cards are refused...
    workshop.anna.cards["shared-try"] = workshop.anna.card("too early")
    await expect_rejected(workshop.anna, "private", "silent brainstorming")

    # ...they go to the private board, which nobody else receives.
    private = await YClient(
        server.ws_url, workshop.room, workshop.anna_token, private=True
    ).connect()
    private.cards["secret-1"] = private.card("Pensioners ride free at noon")
    bob_private = await YClient(
        server.ws_url, workshop.room, workshop.bob_token, private=True
    ).connect()
    bob_private.cards["secret-2"] = bob_private.card("Volunteer drivers")

    def private_cards(participant: str) -> int:
        board = server.services.rooms.rooms[f"{workshop.room}/{participant}"]
        return len(board.doc.get("cards", type=Map))

    await wait_until(lambda: private_cards(workshop.anna_id) == 1, message="Anna's private card")
    await wait_until(lambda: private_cards(workshop.bob_id) == 1, message="Bob's private card")
    assert "secret-1" not in bob_private.cards
    for client in (workshop.facilitator, workshop.bob, bob_private):
        assert all(b"Pensioners" not in frame for frame in client.frames)

    result = await workshop.ok("reveal")
    assert result["revealed"] == 2
    for client in (workshop.facilitator, workshop.bob):
        await wait_until(
            lambda c=client: {"secret-1", "secret-2"} <= set(c.cards.keys()),
            message="revealed cards everywhere",
        )
    assert str(workshop.facilitator.cards["secret-1"]["text"]) == "Pensioners ride free at noon"
    assert workshop.facilitator.cards["secret-1"]["author"] == workshop.anna_id
    await wait_until(lambda: len(private.cards) == 0, message="the private board emptied")
    assert workshop.meta()["private"] is False
    await private.close()
    await bob_private.close()


async def test_observers_have_no_private_board(workshop: Workshop) -> None:
    joined = await workshop.server.join(workshop.code, "Projector", role="observer")
    observer = YClient(workshop.server.ws_url, workshop.room, joined["token"], private=True)
    await observer.connect(wait_synced=False)
    code, reason = await observer.wait_closed()
    assert (code, reason) == (4403, "observers have no private board")


# -- dot voting -----------------------------------------------------------------------------


async def test_votes_clicked_at_once_never_exceed_the_budget(workshop: Workshop) -> None:
    workshop.anna.cards["a1"] = workshop.anna.card("idea")
    await wait_until(lambda: "a1" in workshop.server_cards(), message="the card")
    await workshop.ok("voting", perParticipant=3, perCard=3)
    await workshop.ok("set_phase", phase="vote")
    server = workshop.server
    results = await asyncio.gather(
        *(server.command(workshop.room, workshop.anna_token, "vote", card="a1") for _ in range(12))
    )
    assert sorted(r.status_code for r in results) == [200] * 3 + [409] * 9
    stored = await server.services.store.load_votes(workshop.room)
    assert stored == {workshop.anna_id: {"a1": 3}}


async def test_hidden_dot_voting_then_close(workshop: Workshop) -> None:
    server = workshop.server
    for key, client in (("a1", workshop.anna), ("b1", workshop.bob)):
        client.cards[key] = client.card(f"idea {key}")
    await wait_until(lambda: {"a1", "b1"} <= set(workshop.server_cards().keys()), message="cards")

    early = await server.command(workshop.room, workshop.anna_token, "vote", card="a1")
    assert early.status_code == 409 and early.json()["error"] == "wrong_phase"

    await workshop.ok("voting", perParticipant=3, perCard=2)
    await workshop.ok("set_phase", phase="vote")
    first = await server.ok(workshop.room, workshop.anna_token, "vote", card="b1")
    assert first["mine"] == {"b1": 1} and first["remaining"] == 2
    await server.ok(workshop.room, workshop.anna_token, "vote", card="b1")
    limit = await server.command(workshop.room, workshop.anna_token, "vote", card="b1")
    assert limit.status_code == 409 and limit.json()["error"] == "card_limit"
    await server.ok(workshop.room, workshop.anna_token, "vote", card="a1")
    spent = await server.command(workshop.room, workshop.anna_token, "vote", card="a1")
    assert spent.status_code == 409 and spent.json()["error"] == "no_votes_left"
    missing = await server.command(workshop.room, workshop.bob_token, "vote", card="nope")
    assert missing.status_code == 404 and missing.json()["error"] == "card_not_found"
    await server.ok(workshop.room, workshop.bob_token, "vote", card="b1")
    unvoted = await server.ok(workshop.room, workshop.anna_token, "unvote", card="a1")
    assert unvoted["remaining"] == 1

    # Anna learns her own votes; nothing about votes is in anyone's document yet.
    await wait_until(
        lambda: (workshop.anna.last_message("votes") or {}).get("mine") == {"b1": 2},
        message="Anna's own votes pushed to her",
    )
    assert workshop.anna.last_message("votes")["remaining"] == 1
    for client in (workshop.anna, workshop.bob, workshop.facilitator):
        assert client.doc.get("votes", type=Map).to_py() in (None, {})
        for frame in client.frames:
            assert b'"count"' not in frame
    bob_votes = workshop.bob.last_message("votes")
    assert bob_votes is not None and bob_votes["mine"] == {"b1": 1}

    closed = await workshop.ok("close_vote")
    assert closed["results"] == [{"card": "b1", "count": 3}]
    for client in (workshop.anna, workshop.bob, workshop.facilitator):
        await wait_until(
            lambda c=client: c.doc.get("votes", type=Map).to_py() == {"b1": {"count": 3}},
            message="tallies revealed",
        )
    after = await server.command(workshop.room, workshop.bob_token, "vote", card="a1")
    assert after.status_code == 409 and after.json()["error"] == "voting_closed"
    changed = await workshop.server.command(
        workshop.room, workshop.facilitator_token, "voting", perParticipant=10
    )
    assert changed.status_code == 409 and changed.json()["error"] == "votes_cast"

    await workshop.ok("reset_votes")
    await wait_until(lambda: workshop.bob.doc.get("votes", type=Map).to_py() in (None, {}))
    assert await server.services.store.load_votes(workshop.room) == {}


async def test_open_named_voting_shows_tallies_live(workshop: Workshop) -> None:
    workshop.anna.cards["a1"] = workshop.anna.card("idea")
    await wait_until(lambda: "a1" in workshop.server_cards(), message="a1")
    await workshop.ok("voting", hidden=False, anonymous=False)
    await workshop.ok("set_phase", phase="vote")
    await workshop.server.ok(workshop.room, workshop.bob_token, "vote", card="a1")
    await wait_until(
        lambda: (
            workshop.anna.doc.get("votes", type=Map).to_py()
            == {"a1": {"count": 1, "voters": {workshop.bob_id: 1}}}
        ),
        message="a live named tally",
    )


async def test_votes_survive_a_restart(workshop: Workshop) -> None:
    workshop.anna.cards["a1"] = workshop.anna.card("idea")
    await wait_until(lambda: "a1" in workshop.server_cards(), message="a1")
    await workshop.ok("set_phase", phase="vote")
    await workshop.server.ok(workshop.room, workshop.bob_token, "vote", card="a1")
    fresh = type(workshop.server.services.facilitation)(
        workshop.server.services.store, workshop.server.services.rooms
    )
    room = workshop.server.services.rooms.rooms[workshop.room]
    assert b'"mine":{"a1":1}' in await fresh.votes_message(room, workshop.bob_id)


# -- timer, rename, follow-me, anonymity ------------------------------------------------------


async def test_timer_commands(workshop: Workshop) -> None:
    before = time.time() * 1000
    started = await workshop.ok("timer", action="start", seconds=300)
    timer = started["timer"]
    assert timer["state"] == "running" and timer["durationMs"] == 300_000
    assert before + 299_000 <= timer["endsAt"] <= time.time() * 1000 + 300_000
    assert abs(started["serverTime"] - time.time() * 1000) < 5_000
    await wait_until(
        lambda: workshop.bob.doc.get("meta", type=Map).get("timer", {}).get("state") == "running"
    )
    paused = (await workshop.ok("timer", action="pause"))["timer"]
    assert paused["state"] == "paused" and 290_000 <= paused["remainingMs"] <= 300_000
    longer = (await workshop.ok("timer", action="add", seconds=60))["timer"]
    assert longer["remainingMs"] == paused["remainingMs"] + 60_000
    resumed = (await workshop.ok("timer", action="resume"))["timer"]
    assert resumed["state"] == "running" and resumed["endsAt"] > time.time() * 1000 + 340_000
    stopped = (await workshop.ok("timer", action="stop"))["timer"]
    assert stopped["state"] == "stopped" and stopped["endsAt"] is None
    again = await workshop.server.command(
        workshop.room, workshop.facilitator_token, "timer", action="pause"
    )
    assert again.status_code == 409 and again.json()["error"] == "timer_state"
    bad = await workshop.server.command(
        workshop.room, workshop.facilitator_token, "timer", action="start", seconds=0
    )
    assert bad.status_code == 422 and bad.json()["field"] == "seconds"


async def test_rename_and_follow_me(workshop: Workshop) -> None:
    await workshop.ok("rename", title="  Mobility   for seniors ")
    await wait_until(
        lambda: workshop.anna.doc.get("meta", type=Map).get("title") == "Mobility for seniors"
    )
    async with httpx.AsyncClient(base_url=workshop.server.url) as http:
        summary = await http.get(
            f"/api/rooms/{workshop.room}",
            headers={"authorization": f"Bearer {workshop.anna_token}"},
        )
    assert summary.json()["title"] == "Mobility for seniors"
    followed = await workshop.ok("follow_me", on=True)
    assert workshop.meta()["people"][followed["followMe"]] == "Ilze"
    await wait_until(
        lambda: workshop.bob.doc.get("meta", type=Map).get("followMe") == followed["followMe"]
    )


async def test_anonymous_mode_hides_who_wrote_what(workshop: Workshop) -> None:
    await workshop.ok("settings", anonymous=True)
    await wait_until(lambda: "people" not in workshop.bob.doc.get("meta", type=Map))
    await workshop.anna.set_presence({"user": {"name": "x", "color": "#ff0000"}, "cursor": None})
    # Only Anna publishes presence here: the one numbered state at Bob is hers.
    await wait_until(
        lambda: any("number" in p.get("user", {}) for p in workshop.bob.peers().values()),
        message="Anna's presence at Bob",
    )
    anna_state = next(p for p in workshop.bob.peers().values() if "number" in p.get("user", {}))
    # A neutral label and an alias, never her name or id (tests/test_anonymity.py has more).
    assert anna_state["user"]["name"] == f"Participant {anna_state['user']['number']}"
    assert anna_state["user"]["id"] != workshop.anna_id
    assert anna_state["user"]["id"].startswith("u_")
    # A newcomer's name does not appear either.
    await workshop.server.join(workshop.code, "Carla")
    assert "people" not in workshop.meta()

    await workshop.ok("settings", anonymous=False)
    await wait_until(
        lambda: "Carla" in (workshop.bob.doc.get("meta", type=Map).get("people") or {}).values()
    )


# -- removal, invites, command errors --------------------------------------------------------


async def test_removed_participant_is_disconnected_and_refused(workshop: Workshop) -> None:
    result = await workshop.ok("remove", participant=workshop.bob_id)
    assert result["removed"] == workshop.bob_id
    code, reason = await workshop.bob.wait_closed()
    assert (code, reason) == (4403, "participant removed")

    again = YClient(workshop.server.ws_url, workshop.room, workshop.bob_token)
    await again.connect(wait_synced=False)
    assert await again.wait_closed() == (4403, "participant removed")
    async with httpx.AsyncClient(base_url=workshop.server.url) as http:
        summary = await http.get(
            f"/api/rooms/{workshop.room}", headers={"authorization": f"Bearer {workshop.bob_token}"}
        )
        assert summary.status_code == 401
        assert summary.json()["error"] == "participant_removed"
        people = await http.get(
            f"/api/rooms/{workshop.room}/participants",
            headers={"authorization": f"Bearer {workshop.facilitator_token}"},
        )
    listed = {p["participant"]: p for p in people.json()["participants"]}
    assert listed[workshop.bob_id]["removed"] is not None
    assert listed[workshop.anna_id]["connected"] is True
    await assert_still_syncing(workshop, workshop.anna, "removal")


async def test_co_facilitator_invite(workshop: Workshop) -> None:
    async with httpx.AsyncClient(base_url=workshop.server.url) as http:
        refused = await http.post(
            f"/api/rooms/{workshop.room}/invites",
            json={},
            headers={"authorization": f"Bearer {workshop.anna_token}"},
        )
        assert refused.status_code == 403
        created = await http.post(
            f"/api/rooms/{workshop.room}/invites",
            json={"role": "facilitator"},
            headers={"authorization": f"Bearer {workshop.facilitator_token}"},
        )
        assert created.status_code == 201
        invite = created.json()
        assert invite["invite_url"].endswith(f"/join/{workshop.code}#invite={invite['invite']}")
        forged = await http.post(
            "/api/join", json={"code": workshop.code, "name": "Eve", "invite": "x.y"}
        )
        assert forged.status_code == 401 and forged.json()["error"] == "invalid_invite"
    co = await workshop.server.join(workshop.code, "Māris", invite=invite["invite"])
    assert co["role"] == "facilitator"
    await workshop.server.ok(workshop.room, co["token"], "set_phase", phase="ideate")
    assert workshop.meta()["phase"] == "ideate"


async def test_command_errors(workshop: Workshop) -> None:
    server = workshop.server
    cases = [
        (workshop.anna_token, {"command": "set_phase", "phase": "vote"}, 403, "facilitator_only"),
        (workshop.facilitator_token, {"command": "dance"}, 400, "unknown_command"),
        (
            workshop.facilitator_token,
            {"command": "set_phase", "phase": "nap"},
            422,
            "invalid_field",
        ),
        (
            workshop.facilitator_token,
            {"command": "settings", "locked": "yes"},
            422,
            "invalid_field",
        ),
        (
            workshop.facilitator_token,
            {"command": "set_phases", "phases": ["ideate", "vote"]},
            409,
            "last_phase_missing",
        ),
        (workshop.facilitator_token, {"command": "remove", "participant": "p_x"}, 404, None),
    ]
    for token, body, status, error in cases:
        response = await server.command(workshop.room, token, **body)
        assert response.status_code == status, (body, response.text)
        if error:
            assert response.json()["error"] == error
    async with httpx.AsyncClient(base_url=server.url) as http:
        broken = await http.post(
            f"/api/rooms/{workshop.room}/commands",
            content=b"{not json",
            headers={
                "authorization": f"Bearer {workshop.facilitator_token}",
                "content-type": "application/json",
            },
        )
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
    await server.ok(
        workshop.room, workshop.facilitator_token, "set_phases", phases=["explore", "vote"]
    )
    assert workshop.meta()["phases"] == ["explore", "vote"]


async def test_hello_message_carries_the_server_clock(workshop: Workshop) -> None:
    hello = workshop.anna.last_message("hello")
    assert hello is not None
    assert hello["participant"] == workshop.anna_id and hello["role"] == "participant"
    assert abs(hello["serverTime"] - time.time() * 1000) < 10_000
