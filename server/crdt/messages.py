"""The y-websocket wire protocol as a Sans-I/O codec.

`decode_message` turns one binary WebSocket frame into a typed message or raises
`ProtocolError`; the `encode_*` helpers build outgoing frames with pycrdt's own encoders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pycrdt import (
    Encoder,
    create_awareness_message,
    create_update_message,
)
from pycrdt._sync import create_sync_step1_message, create_sync_step2_message

from server.crdt.errors import ProtocolError
from server.crdt.lib0 import Reader


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3
    #: Koprade's own server -> client messages: a varstring holding JSON
    #: (docs/facilitation.md). Stock y-websocket clients ignore unknown types.
    KOPRADE = 100


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    update: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


Message = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessMessage | QueryAwareness

# What Yjs sends for "nothing new": zero structs, zero deletions.
EMPTY_UPDATE = b"\x00\x00"


def decode_message(frame: bytes) -> Message:
    """Decode one y-websocket frame. Raises ProtocolError for anything malformed."""
    if not frame:
        raise ProtocolError("empty frame")
    reader = Reader(frame)
    kind = reader.var_uint()
    message: Message
    if kind == MessageType.SYNC:
        sync_type = reader.var_uint()
        payload = reader.var_bytes()
        if sync_type == SyncType.STEP1:
            message = SyncStep1(payload)
        elif sync_type == SyncType.STEP2:
            message = SyncStep2(payload)
        elif sync_type == SyncType.UPDATE:
            message = SyncUpdate(payload)
        else:
            raise ProtocolError(f"unknown sync message type {sync_type}")
    elif kind == MessageType.AWARENESS:
        message = AwarenessMessage(reader.var_bytes())
    elif kind == MessageType.QUERY_AWARENESS:
        message = QueryAwareness()
    else:
        raise ProtocolError(f"unknown message type {kind}")
    reader.expect_end()
    return message


def encode_sync_step1(state_vector: bytes) -> bytes:
    return create_sync_step1_message(state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    return create_sync_step2_message(update)


def encode_update(update: bytes) -> bytes:
    return create_update_message(update)


def encode_awareness(awareness_update: bytes) -> bytes:
    return create_awareness_message(awareness_update)


def encode_koprade(payload: dict[str, Any]) -> bytes:
    encoder = Encoder()
    encoder.write_var_uint(MessageType.KOPRADE)
    # ASCII only: pycrdt's write_var_string prefixes the length in characters, not bytes
    # (0.14.13), so any non-ASCII text would corrupt the frame.
    encoder.write_var_string(json.dumps(payload, separators=(",", ":")))
    return encoder.to_bytes()


def encode_query_awareness() -> bytes:
    return bytes([MessageType.QUERY_AWARENESS])
