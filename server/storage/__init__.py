"""Koprade storage: rooms, participants and room documents in SQLite or PostgreSQL."""

from server.storage.store import (
    CodeTaken,
    RoomRecord,
    RoomSummary,
    StorageError,
    Store,
    StoredDocument,
)
from server.storage.writer import UpdateWriter

__all__ = [
    "CodeTaken",
    "RoomRecord",
    "RoomSummary",
    "StorageError",
    "Store",
    "StoredDocument",
    "UpdateWriter",
]
