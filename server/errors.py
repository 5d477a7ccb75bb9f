"""The one error type a request can end in: an HTTP status, a slug and a message.

Raised by the API modules and by the services behind them (facilitation commands, sessions);
`server.api.api_error_handler` turns it into `{"error": slug, "message": text, ...}`.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra
