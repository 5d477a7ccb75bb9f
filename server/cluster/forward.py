"""HTTP requests for a room another process owns, answered by that owner.

A request about a room (a facilitation command, a snapshot, a deletion) is handled by
whichever process the load balancer chose. When the handler finds the room owned elsewhere
(`OwnedElsewhere`, raised by `RoomManager.acquire`), the edge answers 421 with the room in
an internal header (`server/http/errors.py`); this middleware, outermost in cluster mode,
holds that answer back and instead sends the request as it came (method, path, query,
headers, body, the client's address) through the room's inbound stream to its owner, which
runs it through its own app (`answer`) and sends the response back on this gateway's
stream. So every rule is checked, and every write made, by the one process holding the
room, in the same order as its live edits.

A request forwarded once is never forwarded again: if the room moved meanwhile, its
answer is a 503 the client can retry.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.cluster.envelope import Reply
from server.errors import Unavailable
from server.http.errors import OWNED_BY_HEADER

#: Scope key set on a request an owner answers for another process.
FORWARDED = "koprade.forwarded"

#: Bodies up to this size can be forwarded (every endpoint's own limit is smaller).
MAX_FORWARDED_BODY = 32 * 1024 * 1024

_OWNED_BY = OWNED_BY_HEADER.encode("latin-1")


def _json(status: int, slug: str, message: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = json.dumps({"error": slug, "message": message}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"1"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class ForwardToOwner:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = getattr(scope.get("app"), "state", None)
        cluster = getattr(getattr(services, "koprade", None), "cluster", None)
        if scope["type"] != "http" or cluster is None:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_FORWARDED_BODY:
                start, end = _json(413, "body_too_large", "request body too large")
                await send(start)
                await send(end)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        owner_room: str | None = None

        async def capture(message: Message) -> None:
            nonlocal owner_room
            if message["type"] == "http.response.start" and message["status"] == 421:
                for name, value in message.get("headers", []):
                    if name == _OWNED_BY:
                        owner_room = value.decode("latin-1")
            if owner_room is None:
                await send(message)

        await self.app(scope, replay, capture)
        if owner_room is None:
            return
        if scope.get(FORWARDED):
            start, end = _json(503, "room_moved", "the room moved to another server; try again")
            await send(start)
            await send(end)
            return
        try:
            reply = await cluster.gateway.call(owner_room, describe(scope), bytes(body))
        except Unavailable as exc:
            start, end = _json(503, exc.slug, exc.message)
            await send(start)
            await send(end)
            return
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers],
            }
        )
        await send({"type": "http.response.body", "body": reply.body})


def describe(scope: Scope) -> dict[str, Any]:
    """What the owner needs to run the request as if it had come to it."""
    return {
        "method": scope["method"],
        "scheme": scope.get("scheme", "http"),
        "path": scope["path"],
        "query_string": scope.get("query_string", b"").decode("latin-1"),
        "headers": [
            [k.decode("latin-1"), v.decode("latin-1")] for k, v in scope.get("headers", [])
        ],
        "client": list(scope["client"]) if scope.get("client") else None,
        "server": list(scope["server"]) if scope.get("server") else None,
    }


async def answer(app: ASGIApp, request: dict[str, Any], body: bytes, call_id: str) -> Reply:
    """Run a forwarded request through this process's app and collect its response."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request["method"],
        "scheme": request.get("scheme", "http"),
        "path": request["path"],
        "raw_path": request["path"].encode(),
        "root_path": "",
        "query_string": request.get("query_string", "").encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request["headers"]],
        "client": tuple(request["client"]) if request.get("client") else None,
        "server": tuple(request["server"]) if request.get("server") else None,
        FORWARDED: True,
    }
    done = asyncio.Event()
    sent_body = False

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # the client "disconnects" only once the response is complete
        return {"type": "http.disconnect"}

    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return Reply(call_id, status, headers, b"".join(chunks))
