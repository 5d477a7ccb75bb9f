"""Identifiers people see or type: room ids, join codes, participant ids."""

from __future__ import annotations

import re
import secrets

# No 0/O and 1/I: the code is read off a projector and typed on a tablet.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 6
_ROOM_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
ROOM_ID_LENGTH = 12
ROOM_ID_PATTERN = re.compile(rf"^[{_ROOM_ALPHABET}]{{{ROOM_ID_LENGTH}}}$")


def new_room_id() -> str:
    return "".join(secrets.choice(_ROOM_ALPHABET) for _ in range(ROOM_ID_LENGTH))


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_participant_id() -> str:
    return "p_" + secrets.token_hex(6)


def normalize_code(raw: str) -> str:
    """Upper-case and drop spaces and dashes, so "k7m-2qx" finds K7M2QX."""
    return re.sub(r"[\s\-]", "", raw).upper()


def is_room_id(value: str) -> bool:
    return bool(ROOM_ID_PATTERN.match(value))


# -- boards: a room's shared board and its participants' private boards ----------------------

#: A participant's private board (silent brainstorming) is stored and loaded as
#: "<room id>/<participant id>"; the shared board's id is the room's.
PRIVATE_SEPARATOR = "/"


def private_board_id(room_id: str, participant: str) -> str:
    return f"{room_id}{PRIVATE_SEPARATOR}{participant}"


def room_of_board(board_id: str) -> str:
    """The room a board belongs to: itself, or the room of a private board."""
    return board_id.partition(PRIVATE_SEPARATOR)[0]


def private_owner(board_id: str) -> str | None:
    """The participant whose private board this is; None for a room's shared board."""
    return board_id.partition(PRIVATE_SEPARATOR)[2] or None
