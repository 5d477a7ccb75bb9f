"""What travels between Koprade processes in cluster mode: Redis stream entries (pure).

Three kinds of streams (docs/cluster.md):

- a room's **inbound** stream ``koprade:in:<room>``: gateways -> the room's owner, one serial
  order for everything that can change the room (a connection opens, sends a frame, closes;
  an HTTP request the owner must answer);
- a room's **outbound** stream ``koprade:out:<room>``: the owner -> every gateway, the relay
  frames of the shared board, each encoded once for everyone;
- a gateway's own stream ``koprade:gw:<node>``: the owner -> one gateway, what is addressed
  to some of its connections (sync answers, a participant's own votes, private boards,
  closes) and the answers to forwarded HTTP requests.

Entries are flat maps of short byte keys to byte values; this module turns them into
dataclasses and back, and knows nothing of Redis or asyncio. A malformed entry raises
`BadEntry`: entries come from our own processes, so one is a bug or a version mismatch,
never a client's doing, and the reader logs and skips it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.tokens import Claims

STREAM_PREFIX = "koprade"


def inbound_stream(room_id: str) -> str:
    return f"{STREAM_PREFIX}:in:{room_id}"


def outbound_stream(room_id: str) -> str:
    return f"{STREAM_PREFIX}:out:{room_id}"


def gateway_stream(node: str) -> str:
    return f"{STREAM_PREFIX}:gw:{node}"


def alive_key(node: str) -> str:
    """Set with a short expiry while the node runs: how owners notice a dead gateway."""
    return f"{STREAM_PREFIX}:node:{node}"


#: The consumer group of owners on every inbound stream (one owner reads at a time).
OWNERS_GROUP = "owners"

Fields = dict[bytes, bytes]


class BadEntry(ValueError):
    """An entry this version cannot read."""


@dataclass(frozen=True, slots=True)
class PeerKey:
    """A connection anywhere in the cluster: its gateway's node id and its number there."""

    gateway: str
    conn: int

    def encode(self) -> bytes:
        return f"{self.gateway} {self.conn}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> PeerKey:
        gateway, _, conn = raw.decode().rpartition(" ")
        if not gateway or not conn.isdigit():
            raise BadEntry(f"bad peer key {raw!r}")
        return cls(gateway, int(conn))


def encode_claims(claims: Claims) -> bytes:
    return json.dumps(
        [claims.room, claims.participant, claims.name, claims.role, claims.issued_at],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def decode_claims(raw: bytes) -> Claims:
    try:
        room, participant, name, role, issued_at = json.loads(raw)
        return Claims(
            room=str(room),
            participant=str(participant),
            name=str(name),
            role=str(role),
            issued_at=int(issued_at),
        )
    except (ValueError, TypeError) as exc:
        raise BadEntry(f"bad claims: {exc}") from exc


# -- inbound: gateways -> owner -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    """A connection to `board` was accepted by its gateway (token checked there)."""

    board: str
    peer: PeerKey
    claims: Claims


@dataclass(frozen=True, slots=True)
class Received:
    """One y-websocket frame a connection sent (checked for shape by the gateway).

    It carries the sender's claims too: a new owner that never saw the `Opened` (the old
    owner processed it, then died) can still judge the frame under the right identity.
    """

    board: str
    peer: PeerKey
    claims: Claims
    data: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    board: str
    peer: PeerKey


@dataclass(frozen=True, slots=True)
class Call:
    """An HTTP request only the room's owner can answer, forwarded by a gateway."""

    gateway: str
    call_id: str
    request: dict[str, Any]  # method, path, query_string, headers (see forward.py)
    body: bytes


Inbound = Opened | Received | Closed | Call


def encode_inbound(entry: Inbound, claims_bytes: bytes | None = None) -> Fields:
    """`claims_bytes` lets a gateway reuse one connection's encoded claims for every frame."""
    if isinstance(entry, Received):
        return {
            b"t": b"f",
            b"b": entry.board.encode(),
            b"p": entry.peer.encode(),
            b"i": claims_bytes or encode_claims(entry.claims),
            b"d": entry.data,
        }
    if isinstance(entry, Opened):
        return {
            b"t": b"o",
            b"b": entry.board.encode(),
            b"p": entry.peer.encode(),
            b"i": claims_bytes or encode_claims(entry.claims),
        }
    if isinstance(entry, Closed):
        return {b"t": b"c", b"b": entry.board.encode(), b"p": entry.peer.encode()}
    return {
        b"t": b"q",
        b"g": entry.gateway.encode(),
        b"k": entry.call_id.encode(),
        b"h": json.dumps(entry.request, separators=(",", ":")).encode(),
        b"d": entry.body,
    }


def decode_inbound(fields: Fields) -> Inbound:
    try:
        kind = fields[b"t"]
        if kind == b"f":
            return Received(
                fields[b"b"].decode(),
                PeerKey.decode(fields[b"p"]),
                decode_claims(fields[b"i"]),
                fields[b"d"],
            )
        if kind == b"o":
            return Opened(
                fields[b"b"].decode(), PeerKey.decode(fields[b"p"]), decode_claims(fields[b"i"])
            )
        if kind == b"c":
            return Closed(fields[b"b"].decode(), PeerKey.decode(fields[b"p"]))
        if kind == b"q":
            request = json.loads(fields[b"h"])
            if not isinstance(request, dict):
                raise BadEntry("call request is not an object")
            return Call(fields[b"g"].decode(), fields[b"k"].decode(), request, fields[b"d"])
    except (KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadEntry(f"bad inbound entry: {exc!r}") from exc
    raise BadEntry(f"unknown inbound entry kind {fields.get(b't')!r}")


# -- outbound: owner -> every gateway (room-wide) and owner -> one gateway ------------------


@dataclass(frozen=True, slots=True)
class Relayed:
    """A relay frame of a room's shared board for every connection but `skip`."""

    board: str
    owner: str  # the owner's node id
    epoch: int
    skip: PeerKey | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Delivered:
    """A frame for some connections of one gateway, in this order among its entries."""

    board: str
    owner: str
    epoch: int
    conns: tuple[int, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class CloseConnection:
    board: str
    owner: str
    epoch: int
    conn: int
    code: int
    reason: str
    last_words: bytes | None


@dataclass(frozen=True, slots=True)
class Reply:
    call_id: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Wake:
    """Nothing to deliver: the gateway's reader re-reads its list of streams."""


Outbound = Relayed | Delivered | CloseConnection | Reply | Wake


def encode_outbound(entry: Outbound) -> Fields:
    if isinstance(entry, Relayed):
        return {
            b"t": b"r",
            b"b": entry.board.encode(),
            b"n": entry.owner.encode(),
            b"e": str(entry.epoch).encode(),
            b"s": entry.skip.encode() if entry.skip else b"",
            b"d": entry.data,
        }
    if isinstance(entry, Delivered):
        return {
            b"t": b"d",
            b"b": entry.board.encode(),
            b"n": entry.owner.encode(),
            b"e": str(entry.epoch).encode(),
            b"c": ",".join(map(str, entry.conns)).encode(),
            b"d": entry.data,
        }
    if isinstance(entry, CloseConnection):
        fields = {
            b"t": b"x",
            b"b": entry.board.encode(),
            b"n": entry.owner.encode(),
            b"e": str(entry.epoch).encode(),
            b"c": str(entry.conn).encode(),
            b"k": str(entry.code).encode(),
            b"r": entry.reason.encode(),
        }
        if entry.last_words is not None:
            fields[b"d"] = entry.last_words
        return fields
    if isinstance(entry, Reply):
        head = {"status": entry.status, "headers": entry.headers}
        return {
            b"t": b"a",
            b"k": entry.call_id.encode(),
            b"h": json.dumps(head, separators=(",", ":")).encode(),
            b"d": entry.body,
        }
    return {b"t": b"w"}


def decode_outbound(fields: Fields) -> Outbound:
    try:
        kind = fields[b"t"]
        if kind == b"r":
            skip = fields[b"s"]
            return Relayed(
                fields[b"b"].decode(),
                fields[b"n"].decode(),
                int(fields[b"e"]),
                PeerKey.decode(skip) if skip else None,
                fields[b"d"],
            )
        if kind == b"d":
            return Delivered(
                fields[b"b"].decode(),
                fields[b"n"].decode(),
                int(fields[b"e"]),
                tuple(int(c) for c in fields[b"c"].split(b",")),
                fields[b"d"],
            )
        if kind == b"x":
            return CloseConnection(
                fields[b"b"].decode(),
                fields[b"n"].decode(),
                int(fields[b"e"]),
                int(fields[b"c"]),
                int(fields[b"k"]),
                fields[b"r"].decode(),
                fields.get(b"d"),
            )
        if kind == b"a":
            head = json.loads(fields[b"h"])
            return Reply(
                fields[b"k"].decode(),
                int(head["status"]),
                [(str(k), str(v)) for k, v in head["headers"]],
                fields[b"d"],
            )
        if kind == b"w":
            return Wake()
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadEntry(f"bad outbound entry: {exc!r}") from exc
    raise BadEntry(f"unknown outbound entry kind {fields.get(b't')!r}")
