"""Signed tokens: who a connection is, for which room, with which role.

`base64url(payload).base64url(HMAC-SHA256(secret, payload))` with a compact JSON payload.
Small enough to write here with the standard library; clients treat tokens as opaque.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from server.crdt.awareness import Identity

TOKEN_VERSION = 1
#: Who a connection is in its room; `ROLES` lists them.
Role = Literal["facilitator", "participant", "observer"]
ROLES: tuple[Role, ...] = ("facilitator", "participant", "observer")
#: How long a co-facilitator invite link works.
INVITE_SECONDS = 7 * 24 * 3600
_MAX_TOKEN_LENGTH = 2048


class InvalidToken(Exception):
    """The token is missing, malformed, forged or of an unknown version."""


@dataclass(frozen=True, slots=True)
class Claims:
    room: str
    participant: str
    name: str
    role: str
    issued_at: int

    @property
    def identity(self) -> Identity:
        return Identity(participant=self.participant, name=self.name, role=self.role)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Decode unpadded base64url, accepting only the one spelling `_b64encode` produces.

    The last character of a part carries a few bits past the data's end (2 or 4), which
    the decoder ignores: without this check one token had several spellings that verified.
    """
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


class TokenSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the token secret must be at least 16 bytes")
        self._secret = secret

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def issue(self, room: str, participant: str, name: str, role: str) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        return self._sign(
            {
                "v": TOKEN_VERSION,
                "room": room,
                "sub": participant,
                "name": name,
                "role": role,
                "iat": int(time.time()),
            }
        )

    def issue_invite(self, room: str) -> str:
        """A facilitator invite: joining with it gives a facilitator token for `room`."""
        return self._sign(
            {
                "v": TOKEN_VERSION,
                "kind": "invite",
                "room": room,
                "role": "facilitator",
                "exp": int(time.time()) + INVITE_SECONDS,
            }
        )

    def verify_invite(self, token: str | None) -> str:
        """The room a valid, unexpired invite is for; raises InvalidToken."""
        data = self._payload(token)
        room = data.get("room")
        if data.get("kind") != "invite" or not isinstance(room, str):
            raise InvalidToken("not an invite")
        expires = data.get("exp")
        if not isinstance(expires, int) or expires < time.time():
            raise InvalidToken("the invite has expired")
        return room

    def _sign(self, payload_data: dict[str, Any]) -> str:
        payload = json.dumps(payload_data, separators=(",", ":"), ensure_ascii=False).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._signature(payload))}"

    def _payload(self, token: str | None) -> dict[str, Any]:
        if not token:
            raise InvalidToken("missing token")
        if len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise InvalidToken("malformed token")
        encoded_payload, encoded_signature = token.split(".")
        try:
            payload = _b64decode(encoded_payload)
            signature = _b64decode(encoded_signature)
        except (binascii.Error, ValueError) as exc:
            raise InvalidToken("malformed token") from exc
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise InvalidToken("bad token signature")
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise InvalidToken("malformed token payload") from exc
        if not isinstance(data, dict):
            raise InvalidToken("malformed token payload")
        if data.get("v") != TOKEN_VERSION:
            raise InvalidToken("unsupported token version")
        return data

    def verify(self, token: str | None) -> Claims:
        data = self._payload(token)
        try:
            claims = Claims(
                room=str(data["room"]),
                participant=str(data["sub"]),
                name=str(data["name"]),
                role=str(data["role"]),
                issued_at=int(data["iat"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidToken("malformed token payload") from exc
        if claims.role not in ROLES:
            raise InvalidToken("unknown role in token")
        return claims


def load_or_create_secret(data_dir: Path, configured: str | None) -> bytes:
    """The configured secret, else <data_dir>/secret.key, created (mode 0600) on first start."""
    if configured:
        return configured.encode()
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode()
    # O_EXCL: two processes starting at once must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)
    return secret
