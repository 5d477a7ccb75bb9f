"""Tokens and join codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.ids import CODE_ALPHABET, is_room_id, new_code, new_room_id, normalize_code
from server.tokens import InvalidToken, TokenSigner, load_or_create_secret


def test_issue_and_verify_round_trip() -> None:
    signer = TokenSigner(b"s" * 32)
    claims = signer.verify(signer.issue("room1", "p_1", "Līga Bērziņa", "facilitator"))
    assert (claims.room, claims.participant, claims.name, claims.role) == (
        "room1",
        "p_1",
        "Līga Bērziņa",
        "facilitator",
    )


@pytest.mark.parametrize("token", [None, "", "abc", "a.b.c", "!!!.???", "e30.e30"])
def test_garbage_tokens_are_refused(token: str | None) -> None:
    with pytest.raises(InvalidToken):
        TokenSigner(b"s" * 32).verify(token)


def test_a_token_from_another_secret_is_refused() -> None:
    token = TokenSigner(b"a" * 32).issue("r", "p", "n", "participant")
    with pytest.raises(InvalidToken, match="signature"):
        TokenSigner(b"b" * 32).verify(token)


def test_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / "data", None)
    assert load_or_create_secret(tmp_path / "data", None) == first
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(tmp_path / "data", "configured-secret") == b"configured-secret"


def test_codes_are_easy_to_type() -> None:
    codes = {new_code() for _ in range(200)}
    assert all(len(code) == 6 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert not set("01OI") & set(CODE_ALPHABET)
    assert normalize_code(" k7m-2qx ") == "K7M2QX"
    assert is_room_id(new_room_id()) and not is_room_id("../etc/passwd")


def _respellings(part: str) -> list[str]:
    """Other spellings of one base64url part that decode to the same bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    import base64

    def decode(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    same = []
    for char in alphabet:
        other = part[:-1] + char
        if other != part and decode(other) == decode(part):
            same.append(other)
    return same


def test_a_token_has_exactly_one_spelling() -> None:
    signer = TokenSigner(b"s" * 32)
    token = signer.issue("room1", "p_1", "Anna", "participant")
    payload, signature = token.split(".")
    spellings = [f"{payload}.{other}" for other in _respellings(signature)]
    spellings += [f"{other}.{signature}" for other in _respellings(payload)]
    spellings += [
        f"{payload}={'=' * 0}.{signature}",
        f"{payload}.{signature}=",
        f"{payload}.{signature}==",
    ]
    assert _respellings(signature), "a 32-byte signature leaves padding bits to play with"
    for spelling in spellings:
        with pytest.raises(InvalidToken, match="malformed"):
            signer.verify(spelling)
    invite = signer.issue_invite("room1")
    invite_payload, invite_signature = invite.split(".")
    for other in _respellings(invite_signature):
        with pytest.raises(InvalidToken, match="malformed"):
            signer.verify_invite(f"{invite_payload}.{other}")
    assert signer.verify_invite(invite) == "room1"
