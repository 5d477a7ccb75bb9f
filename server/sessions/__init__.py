"""Sessions over time: named snapshots, templates, retention and deletion of rooms, and
the data export (docs/data-protection.md). One module per service; `Sessions` builds them."""

from server.sessions.service import Sessions

__all__ = ["Sessions"]
