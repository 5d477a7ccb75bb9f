"""Anonymous rooms: nothing the server sends to a participant or an observer names anyone else.

Every raw frame each participant, the observer and a late joiner receive, and every HTTP
reply they can get, is searched (UTF-8 bytes) for the names and participant ids of the
other participants. Facilitators run the room openly and may stay named.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pycrdt import Doc, Map, create_awareness_message

from server.config import Settings
from server.crdt.awareness import scan_awareness_update
from server.crdt.lib0 import Reader
from tests.support.cli import koprade
from tests.support.servers import InProcessServer
from tests.support.yclient import YClient, card, wait_until

FACILITATOR_NAME = "Fiona Vadītāja"
PARTICIPANT_NAMES = ("Anna Bērziņa", "Bruno Ķēniņš", "Cēsu Līga")
OBSERVER_NAME = "Oskars Vērotājs"
LATE_NAME = "Dace Vēlā"
AWARENESS = 1


@dataclass
class Person:
    name: str
    role: str
    token: str
    participant: str
    client: YClient | None = None
    replies: list[bytes] = field(default_factory=list)

    @property
    def hello(self) -> dict[str, Any]:
        assert self.client is not None
        hello = self.client.last_message("hello")
        assert hello is not None
        return hello

    @property
    def author(self) -> str:
        """The author id the server told this client to write on its cards."""
        return str(self.hello.get("author", self.participant))

    def received(self, since: int = 0) -> list[bytes]:
        assert self.client is not None
        return self.client.frames[since:] + self.replies


@dataclass
class AnonRoom:
    server: InProcessServer
    room: str
    code: str
    facilitator: Person
    people: list[Person]

    async def ok(self, command: str, **args: Any) -> dict[str, Any]:
        return await self.server.ok(self.room, self.facilitator.token, command, **args)

    async def join(self, name: str, role: str = "participant") -> Person:
        joined = await self.server.join(self.code, name, role=role)
        person = Person(name, role, joined["token"], joined["participant"])
        person.replies.append(_reply_bytes(joined))
        return person

    async def connect(self, person: Person) -> Person:
        person.client = await YClient(self.server.ws_url, self.room, person.token).connect()
        await wait_until(lambda: person.client.last_message("hello") is not None, message="hello")
        await person.client.set_presence(
            {"user": {"name": person.name, "color": "#e91e63"}, "cursor": {"x": 1, "y": 2}}
        )
        return person

    def participants(self) -> list[Person]:
        return [p for p in self.people if p.role == "participant"]

    async def write_cards(self, per_person: int = 2) -> None:
        for person in self.participants():
            assert person.client is not None
            for n in range(per_person):
                person.client.cards[f"{person.participant[-4:]}-{n}"] = card(
                    f"idea {n}", author=person.author
                )
        total = len(self.participants()) * per_person
        for person in self.people:
            assert person.client is not None
            await wait_until(
                lambda c=person.client: len(c.cards) >= total, message="cards everywhere"
            )

    async def http_replies(self, person: Person) -> None:
        """Everything this person can ask for over HTTP, answered or refused."""
        headers = {"authorization": f"Bearer {person.token}"}
        room = self.room
        async with httpx.AsyncClient(base_url=self.server.url, headers=headers) as http:
            for path in (
                f"/api/rooms/{room}",
                f"/api/rooms/{room}/participants",
                f"/api/rooms/{room}/insight",
                f"/api/rooms/{room}/export?format=json",
                f"/api/rooms/{room}/export?format=md",
                f"/api/rooms/{room}/export?format=csv",
                f"/api/rooms/{room}/snapshots",
                f"/api/rooms/{room}/data",
                "/api/templates",
            ):
                person.replies.append((await http.get(path)).content)
            for body in (
                {"command": "vote", "card": "none"},
                {"command": "unvote", "card": "none"},
                {"command": "settings", "anonymous": False},
            ):
                response = await http.post(f"/api/rooms/{room}/commands", json=body)
                person.replies.append(response.content)


def _reply_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def leaks(viewer: Person, others: Iterable[Person], since: int = 0) -> list[str]:
    """Names and ids of `others` found anywhere in what `viewer` received."""
    found = []
    received = viewer.received(since)
    for other in others:
        if other is viewer:
            continue
        for secret in (other.name, other.participant):
            needle = secret.encode()
            hits = [blob for blob in received if needle in blob]
            if hits:
                found.append(f"{secret!r} in {len(hits)} of what {viewer.name} received")
    return found


async def anonymous_room(server: InProcessServer, *, anonymous_from_start: bool) -> AnonRoom:
    info = await server.create_room("Anonīma darbnīca", name=FACILITATOR_NAME)
    facilitator = Person(FACILITATOR_NAME, "facilitator", info.token, info.data["participant"])
    room = AnonRoom(server, info.room, info.code, facilitator, [])
    if anonymous_from_start:
        await room.ok("settings", anonymous=True)
    for name in PARTICIPANT_NAMES:
        room.people.append(await room.join(name))
    room.people.append(await room.join(OBSERVER_NAME, role="observer"))
    await room.connect(facilitator)
    for person in room.people:
        await room.connect(person)
    # Everyone sees everyone's presence before the checks start.
    for person in [facilitator, *room.people]:
        await wait_until(
            lambda c=person.client: len(c.peers()) >= len(room.people),
            message=f"presence at {person.name}",
        )
    return room


async def vote_named(room: AnonRoom) -> None:
    await room.ok("voting", anonymous=False, hidden=False)
    await room.ok("set_phase", phase="vote")
    await wait_until(lambda: room.people[0].client.doc.get("meta", type=Map)["phase"] == "vote")
    card_id = next(iter(room.people[0].client.cards.keys()))
    for person in room.participants():
        await room.server.ok(room.room, person.token, "vote", card=card_id)
    await wait_until(
        lambda: "voters" in (room.people[-1].client.doc.get("votes", type=Map).get(card_id) or {}),
        message="named vote results",
    )


async def close_all(room: AnonRoom, *extra: Person) -> None:
    for person in [room.facilitator, *room.people, *extra]:
        if person.client is not None:
            await person.client.close()


async def test_anonymous_room_names_nobody_to_participants_and_observers(
    server: InProcessServer,
) -> None:
    room = await anonymous_room(server, anonymous_from_start=True)
    await room.write_cards()
    await vote_named(room)
    late = await room.connect(await room.join(LATE_NAME))
    await wait_until(lambda: len(late.client.cards) >= 6 and len(late.client.peers()) >= 5)
    viewers = [*room.people, late]
    for person in viewers:
        await room.http_replies(person)
    everyone = [*room.people, late]
    problems = [leak for viewer in viewers for leak in leaks(viewer, everyone)]
    assert problems == []
    # Presence is shown with neutral, numbered labels; the facilitator stays named.
    labels = {
        state["user"]["name"]
        for state in late.client.peers().values()
        if state["user"]["role"] != "facilitator"
    }
    assert labels == {"Participant 1", "Participant 2", "Participant 3", "Observer 4"}
    numbers = sorted(
        state["user"]["number"]
        for state in late.client.peers().values()
        if state["user"]["role"] != "facilitator"
    )
    assert numbers == [1, 2, 3, 4]
    named = [s for s in late.client.peers().values() if s["user"]["role"] == "facilitator"]
    assert [s["user"]["name"] for s in named] == [FACILITATOR_NAME]
    # The facilitator keeps the named participant list.
    async with httpx.AsyncClient(base_url=server.url) as http:
        listed = await http.get(
            f"/api/rooms/{room.room}/participants",
            headers={"authorization": f"Bearer {room.facilitator.token}"},
        )
    assert {p["name"] for p in listed.json()["participants"]} >= {*PARTICIPANT_NAMES, LATE_NAME}
    await close_all(room, late)


async def test_switching_on_rebinds_everything_at_once(server: InProcessServer) -> None:
    room = await anonymous_room(server, anonymous_from_start=False)
    await room.write_cards()
    await vote_named(room)
    marks = {person.name: len(person.client.frames) for person in room.people}
    for person in room.people:
        person.replies.clear()
    await room.ok("settings", anonymous=True)
    # Right after the switch, before any client republishes its presence (a stock client
    # does so only ~15 s later), a newcomer arrives.
    late = await room.connect(await room.join(LATE_NAME))
    await wait_until(lambda: len(late.client.cards) >= 6 and len(late.client.peers()) >= 5)
    for person in room.people:
        await wait_until(
            lambda c=person.client: all(
                s["user"]["role"] == "facilitator" or s["user"]["name"].startswith(("Part", "Obs"))
                for s in c.peers().values()
            ),
            message=f"presence re-issued at {person.name}",
        )
    for person in [*room.people, late]:
        await room.http_replies(person)
    everyone = [*room.people, late]
    problems = [
        leak for viewer in room.people for leak in leaks(viewer, everyone, marks[viewer.name])
    ]
    problems += leaks(late, everyone)
    assert problems == []
    # The cards' authors and the named votes' voters were rewritten in the board itself.
    authors = {c["author"] for c in late.client.cards.to_py().values()}
    assert not authors & {p.participant for p in everyone}
    assert len(authors) == 3
    await close_all(room, late)


async def test_rewritten_authors_are_gone_after_a_restart(settings: Settings) -> None:
    server = await InProcessServer(settings).start()
    try:
        room = await anonymous_room(server, anonymous_from_start=False)
        await room.write_cards()
        await room.ok("settings", anonymous=True)
        await close_all(room)
    finally:
        await server.stop()
    server = await InProcessServer(settings).start()
    try:
        late = Person(LATE_NAME, "participant", "", "")
        joined = await server.join(room.code, LATE_NAME)
        late.token, late.participant = joined["token"], joined["participant"]
        late.client = await YClient(server.ws_url, room.room, late.token).connect()
        await wait_until(lambda: len(late.client.cards) >= 6, message="cards after restart")
        problems = leaks(late, room.people)
        assert problems == []
        await late.client.close()
    finally:
        await server.stop()


async def test_switching_off_keeps_anonymous_cards_anonymous(server: InProcessServer) -> None:
    room = await anonymous_room(server, anonymous_from_start=True)
    await room.write_cards(per_person=1)
    anna = room.people[0]
    pseudonym = anna.author
    assert pseudonym != anna.participant
    await room.ok("settings", anonymous=False)
    await wait_until(lambda: anna.client.last_message("hello").get("author") == anna.participant)
    anna.client.cards["named-card"] = card("with my name", author=anna.participant)
    await wait_until(lambda: "named-card" in room.people[1].client.cards)
    authors = {k: c["author"] for k, c in room.people[1].client.cards.to_py().items()}
    assert authors["named-card"] == anna.participant
    assert anna.participant not in {v for k, v in authors.items() if k != "named-card"}
    assert pseudonym in authors.values()
    # Her anonymous card is still hers to edit.
    own = next(k for k, v in authors.items() if v == pseudonym)
    await room.ok("settings", editOthers=False)
    await wait_until(lambda: room.people[0].client.doc.get("meta", type=Map)["editOthers"] is False)
    anna.client.cards[own]["color"] = "#00ff00"
    await wait_until(lambda: room.people[1].client.cards[own]["color"] == "#00ff00")
    assert anna.client.connected
    await close_all(room)


async def test_edit_others_off_in_an_anonymous_room(server: InProcessServer) -> None:
    room = await anonymous_room(server, anonymous_from_start=True)
    await room.ok("settings", editOthers=False)
    anna, bruno = room.people[0], room.people[1]
    await wait_until(lambda: bruno.client.doc.get("meta", type=Map)["editOthers"] is False)
    anna.client.cards["anna-card"] = card("mine", author=anna.author)
    await wait_until(lambda: "anna-card" in bruno.client.cards)
    anna.client.cards["anna-card"]["color"] = "#00ff00"
    await wait_until(lambda: bruno.client.cards["anna-card"]["color"] == "#00ff00")
    assert anna.client.connected
    # A new card naming the real participant id is refused in an anonymous room.
    anna.client.cards["named"] = card("named", author=anna.participant)
    assert (await anna.client.wait_closed())[0] == 4409
    bruno.client.cards["anna-card"]["color"] = "#0000ff"
    assert (await bruno.client.wait_closed())[0] == 4409
    await close_all(room)


async def test_echoed_aliases_are_never_adopted(server: InProcessServer) -> None:
    room = await anonymous_room(server, anonymous_from_start=True)
    anna, bruno, carla = room.people[0], room.people[1], room.people[2]
    aliases = {cid for cid, s in bruno.client.peers().items() if s["user"].get("number") == 1}
    (anna_alias,) = aliases
    assert anna_alias != anna.client.doc.client_id
    # Bruno echoes Anna's aliased entry back, as stock y-websocket clients do.
    echo = bruno.client.awareness.encode_awareness_update([anna_alias])
    await bruno.client.send_raw(create_awareness_message(echo))
    await anna.client.close()
    await wait_until(lambda: anna_alias not in carla.client.peers(), message="Anna's removal")
    # An echo after she left must not bring her entry back as Bruno's.
    entry = scan_awareness_update(echo)[0]
    from server.crdt.awareness import AwarenessEntry, encode_awareness_update

    forged = encode_awareness_update([AwarenessEntry(anna_alias, entry.clock + 3, {"user": {}})])
    await bruno.client.send_raw(create_awareness_message(forged))
    await bruno.client.set_presence({"user": {}, "cursor": {"x": 9, "y": 9}})
    await wait_until(
        lambda: any(s.get("cursor") == {"x": 9, "y": 9} for s in carla.client.peers().values())
    )
    assert anna_alias not in carla.client.peers()
    # Bruno appears once at Carla: his echo was not adopted as a second state of his.
    bruno_number = bruno.hello["presence"]["number"]
    shown = [s for s in carla.client.peers().values() if s["user"].get("number") == bruno_number]
    assert len(shown) == 1
    assert bruno.client.connected
    await close_all(room)


def _awareness_client_ids(frames: list[bytes]) -> set[int]:
    found: set[int] = set()
    for frame in frames:
        if frame[0] != AWARENESS:
            continue
        reader = Reader(frame[1:])
        payload = reader.var_bytes()
        found |= {entry.client_id for entry in scan_awareness_update(payload)}
    return found


async def test_cards_cannot_be_linked_to_presence(server: InProcessServer) -> None:
    room = await anonymous_room(server, anonymous_from_start=True)
    await room.write_cards()
    late = await room.connect(await room.join(LATE_NAME))
    await wait_until(lambda: len(late.client.cards) >= 6)
    struct_clients = {cid for cid in _state_vector_clients(late.client.doc)}
    for viewer in [*room.people, late]:
        presence_ids = _awareness_client_ids(viewer.client.frames)
        others = {
            p.client.doc.client_id for p in room.participants() if p is not viewer
        } & struct_clients
        assert others, "the participants' cards are on the board"
        assert not presence_ids & others
    # And what the facilitator's figures say is still right: three writers, two cards each.
    async with httpx.AsyncClient(base_url=server.url) as http:
        insight = await http.get(
            f"/api/rooms/{room.room}/insight",
            headers={"authorization": f"Bearer {room.facilitator.token}"},
        )
        data = await http.get(
            f"/api/rooms/{room.room}/data",
            headers={"authorization": f"Bearer {room.facilitator.token}"},
        )
    rows = [r for r in insight.json()["participants"] if r["role"] == "participant"]
    assert sorted(r["cards"] for r in rows) == [0, 2, 2, 2]
    board = data.json()["board"]
    assert sorted(c["participant"] for c in board["cards"]) == sorted(
        p.participant for p in room.participants() for _ in range(2)
    )
    await close_all(room, late)


def _state_vector_clients(doc: Doc) -> set[int]:
    reader = Reader(doc.get_state())
    count = reader.var_uint()
    clients = set()
    for _ in range(count):
        clients.add(reader.var_uint())
        reader.var_uint()
    return clients


async def test_lab_figures_attribute_anonymous_cards(settings: Settings) -> None:
    """`/api/stats` and `koprade stats` count anonymous cards for the people who wrote them."""
    server = await InProcessServer(settings).start()
    try:
        room = await anonymous_room(server, anonymous_from_start=True)
        await room.write_cards()  # three participants, two cards each
        async with httpx.AsyncClient(base_url=server.url) as http:
            stats = (await http.get("/api/stats", headers=server.organizer_headers)).json()[
                "byRoom"
            ][0]
        assert stats["cards"] == 6 and stats["silent"] == 0 and stats["participants"] == 3
        await close_all(room)
    finally:
        await server.stop()
    data_dir = str(settings.data_dir)
    done = await asyncio.to_thread(
        koprade, "stats", "--json", "--data-dir", data_dir, "--secret", str(settings.secret)
    )
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)["byRoom"][0]
    assert stats["cards"] == 6 and stats["silent"] == 0


async def test_revealed_and_restored_cards_carry_pseudonyms(server: InProcessServer) -> None:
    """Cards that reach an anonymous board from a private board or a snapshot name nobody."""
    room = await anonymous_room(server, anonymous_from_start=False)
    anna, bruno = room.people[0], room.people[1]
    anna.client.cards["named-before"] = card("named", author=anna.participant)
    await wait_until(lambda: "named-before" in bruno.client.cards)
    headers = {"authorization": f"Bearer {room.facilitator.token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        taken = await http.post(f"/api/rooms/{room.room}/snapshots", json={"name": "named"})
        assert taken.status_code == 201, taken.text
        await room.ok("settings", anonymous=True)
        await room.ok("private", on=True)
        private = await YClient(server.ws_url, room.room, anna.token, private=True).connect()
        private.cards["secret"] = card("private idea", author=anna.participant)
        await wait_until(lambda: f"{room.room}/{anna.participant}" in server.services.rooms.rooms)
        board = server.services.rooms.rooms[f"{room.room}/{anna.participant}"]
        await wait_until(lambda: "secret" in board.doc.get("cards", type=Map))
        await room.ok("reveal")
        await wait_until(lambda: "secret" in bruno.client.cards, message="the revealed card")
        assert bruno.client.cards["secret"]["author"] == anna.author != anna.participant
        restored = await http.post(f"/api/rooms/{room.room}/snapshots/{taken.json()['id']}/restore")
        assert restored.status_code == 200, restored.text
    await wait_until(lambda: "secret" not in bruno.client.cards, message="the restored board")
    assert bruno.client.cards["named-before"]["author"] == anna.author
    late = await room.connect(await room.join(LATE_NAME))
    await wait_until(lambda: "named-before" in late.client.cards)
    assert leaks(late, room.people) == []
    await private.close()
    await close_all(room, late)
