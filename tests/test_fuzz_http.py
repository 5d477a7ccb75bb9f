"""Property-based fuzzing of every HTTP endpoint against a real server: never a 5xx.

Random and mutated JSON bodies, raw bytes, query strings and headers, with and without
tokens of each role, on every API route. Every answer is below 500, and every 4xx carries
the JSON `{"error", "message"}` body (docs/protocol.md, section 1).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.config import Settings
from tests.support.fuzzing import fuzz_settings, json_values, mutate
from tests.support.threaded import ThreadedServer


@dataclass(repr=False)
class Lab:
    http: httpx.Client
    room: str
    code: str
    tokens: dict[str, str | None]
    snapshot: int
    export: dict[str, Any]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    threaded = ThreadedServer(
        Settings(data_dir=data_dir, secret="fuzz-secret-0123456789abcdef", log_level="critical")
    )
    server = threaded.start()
    try:
        info = threaded.run(server.create_room("Fuzz"))
        other = threaded.run(server.create_room("Other"))
        participant = threaded.run(server.join(info.code, "Anna"))
        observer = threaded.run(server.join(info.code, "Projector", role="observer"))
        with httpx.Client(base_url=server.url, timeout=30) as http:
            auth = {"authorization": f"Bearer {info.token}"}
            snapshot = http.post(
                f"/api/rooms/{info.room}/snapshots", json={"name": "s"}, headers=auth
            ).json()["id"]
            export = http.get(f"/api/rooms/{info.room}/export", headers=auth).json()
            yield Lab(
                http=http,
                room=info.room,
                code=info.code,
                tokens={
                    "none": None,
                    "facilitator": info.token,
                    "participant": participant["token"],
                    "observer": observer["token"],
                    "other room": other.token,
                    "garbage": "e30.e30",
                },
                snapshot=snapshot,
                export=export,
            )
    finally:
        threaded.stop()


#: Every API route with a body that would succeed (or nearly) for a facilitator.
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/rooms", {"title": "T", "name": "N", "template": "empathy-map", "lang": "en"}),
    ("POST", "/api/rooms/import", None),  # the room's own export, filled in below
    ("POST", "/api/join", {"code": "{code}", "name": "N", "role": "observer"}),
    ("GET", "/api/rooms/{room}", None),
    ("GET", "/api/rooms/{room}/export", None),
    ("POST", "/api/rooms/{room}/commands", {"command": "timer", "action": "start", "seconds": 60}),
    ("POST", "/api/rooms/{room}/commands", {"command": "set_phases", "phases": ["explore"]}),
    ("POST", "/api/rooms/{room}/commands", {"command": "voting", "perParticipant": 5}),
    ("POST", "/api/rooms/{room}/commands", {"command": "settings", "locked": False}),
    ("POST", "/api/rooms/{room}/commands", {"command": "vote", "card": "c1"}),
    ("POST", "/api/rooms/{room}/commands", {"command": "rename", "title": "Fuzz"}),
    ("GET", "/api/rooms/{room}/participants", None),
    ("POST", "/api/rooms/{room}/invites", {"role": "facilitator"}),
    ("GET", "/api/rooms/{room}/insight", None),
    ("GET", "/api/stats", None),
    ("GET", "/api/rooms/{room}/data", None),
    ("GET", "/api/rooms/{room}/snapshots", None),
    ("POST", "/api/rooms/{room}/snapshots", {"name": "fuzz"}),
    ("GET", "/api/rooms/{room}/snapshots/{snapshot}", None),
    ("POST", "/api/rooms/{room}/snapshots/{snapshot}/duplicate", {"title": "Copy"}),
    ("POST", "/api/rooms/{room}/templates", {"name": "Mine", "description": "d"}),
    ("GET", "/api/templates", None),
    ("GET", "/api/templates/{template}", None),
    ("DELETE", "/api/rooms/{room}/snapshots/{snapshot}", None),
    ("DELETE", "/api/rooms/{room}/templates/{template}", None),
    ("GET", "/healthz", None),
    ("GET", "/api/nothing", None),
]
QUERY_KEYS = ["format", "lang", "snapshot", "token", "title", "name", "x"]
QUERY_VALUES = st.sampled_from(
    ["json", "md", "csv", "svg", "png", "pdf", "yjs", "lv", "en", "de", "1", "²", "-1", "1e309"]
) | st.text(max_size=20)
PATH_VALUES = st.sampled_from(
    ["zzzzzzzzzzzz", "..", "%00", "9" * 30, "0", "-1", "empathy-map", "ā" * 5]
) | st.text(alphabet=st.characters(codec="ascii", exclude_characters="/?#"), max_size=20)


@st.composite
def requests(draw: st.DrawFn, lab: Lab, route: tuple[str, str, Any]) -> dict[str, Any]:
    method, template, body = route
    if template == "/api/rooms/import":
        body = lab.export
    values = {
        "room": lab.room,
        "code": lab.code,
        "snapshot": str(lab.snapshot),
        "template": "empathy-map",
    }
    for key in list(values):
        if draw(st.integers(0, 9)) == 0:
            values[key] = quote(draw(PATH_VALUES), safe="")
    path = template.format(**{k: v for k, v in values.items() if k != "code"})
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS), QUERY_VALUES, max_size=3))
    # Mostly a facilitator with a JSON body, so most requests get past the checks in front.
    role = draw(st.sampled_from(["facilitator"] * 6 + sorted(lab.tokens)))
    headers = {}
    if lab.tokens[role] is not None:
        headers["authorization"] = f"Bearer {lab.tokens[role]}"
    headers["content-type"] = draw(
        st.sampled_from(
            ["application/json"] * 8 + ["application/json; charset=utf-8", "text/plain"]
        )
    )
    if draw(st.booleans()):
        headers["x-organizer-key"] = draw(st.text(alphabet=string.ascii_letters, max_size=10))
    shape = draw(st.integers(0, 5))
    content: bytes
    if body is None or shape == 0:
        content = json.dumps(draw(json_values)).encode()
    elif shape == 1:
        content = draw(st.binary(max_size=100))
    elif shape == 2:  # a deep nesting somewhere
        depth = draw(st.integers(100, 5000))
        content = b'{"title": ' + b"[" * depth + b"]" * depth + b"}"
    else:  # the valid body with one field replaced, dropped or added, then maybe mutated
        mutated = json.loads(json.dumps(body).replace("{code}", lab.code))
        key = draw(st.sampled_from([*mutated.keys(), "extra"]))
        if draw(st.booleans()):
            mutated.pop(key, None)
        else:
            mutated[key] = draw(json_values)
        content = json.dumps(mutated).encode()
        if shape == 5:
            content = mutate(content, random.Random(draw(st.integers(0, 2**32))))
    return {"method": method, "url": path, "params": query, "headers": headers, "content": content}


def assert_well_formed(response: httpx.Response, request: dict[str, Any]) -> None:
    assert response.status_code < 500, (request, response.status_code, response.text[:300])
    if response.status_code >= 400:
        payload = response.json()
        assert isinstance(payload.get("error"), str), (request, payload)
        assert isinstance(payload.get("message"), str), (request, payload)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
@fuzz_settings(ci_examples=30)
@given(data=st.data())
def test_every_endpoint_answers_bad_input_with_a_json_4xx(
    lab: Lab, route: tuple[str, str, Any], data: st.DataObject
) -> None:
    request = data.draw(requests(lab, route))
    response = lab.http.request(**request)
    assert_well_formed(response, request)
