"""The storage layer's error, in a module of its own so that both ``store.py`` and the
modules it uses (``fencing.py``) can raise it without importing each other."""

from __future__ import annotations


class StorageError(Exception):
    """The database failed or is in a state this version cannot work with."""
