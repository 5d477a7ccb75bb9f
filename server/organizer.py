"""The organizer key: what guards lab-wide data, and room creation beyond loopback.

Lab-wide data (every room's figures in GET /api/stats, templates saved from real workshops)
always needs the key. When the operator configures none (--organizer-key /
KOPRADE_ORGANIZER_KEY), one is generated on first start into <data_dir>/organizer.key (mode
0600, kept across restarts) and printed with a start-page link that carries it, so whoever
started the server is let in at once (as Jupyter does with its token).

Creating rooms: a configured key is always required (the operator asked for it); the
generated one only when the server listens beyond loopback, so a facilitator running Koprade
on their own laptop just opens the page, while a server on the lab's network does not let
every passer-by create rooms.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_FILE = "organizer.key"
HEADER = "x-organizer-key"


@dataclass(frozen=True)
class OrganizerAccess:
    key: str
    #: True when the key was generated into the data directory, not configured.
    generated: bool
    #: True when the server listens on loopback addresses only.
    loopback_only: bool

    @classmethod
    def for_server(cls, data_dir: Path, configured: str | None, host: str) -> OrganizerAccess:
        if configured:
            return cls(configured, generated=False, loopback_only=is_loopback(host))
        return cls(load_or_create_key(data_dir), generated=True, loopback_only=is_loopback(host))

    @property
    def key_needed_to_create_rooms(self) -> bool:
        return not self.generated or not self.loopback_only

    def accepts(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.key.encode())


def is_loopback(host: str) -> bool:
    """Whether binding to `host` only accepts connections from this machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def load_or_create_key(data_dir: Path) -> str:
    """<data_dir>/organizer.key, created (mode 0600) on first start."""
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
