"""Real SQLite failures for tests: another connection holding the database's write lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def write_lock(database: Path) -> Iterator[None]:
    """Hold SQLite's write lock from another connection (as another process would) until the
    block ends: the server's commits wait out their busy timeout and fail meanwhile."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()
