"""What an HTTP request that fails below the API turns into: JSON, never a plain-text 500.

A failing database (unreachable, locked, disk full) is not a bug in Koprade: the client gets
`503 storage_unavailable` and may try again, and the log says what the database answered.
Anything else that escapes a handler is a bug: `500 internal_error`, logged with its
traceback (Starlette's ServerErrorMiddleware re-raises it to uvicorn, which logs it).
"""

from __future__ import annotations

import logging

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse

from server.storage.store import StorageError

log = logging.getLogger("koprade.api")

#: Exceptions that mean "the database did not do it": the store wraps its own in
#: StorageError; the rest can come from code that talks to the engine directly.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    StorageError,
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


async def storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("%s %s -> 503 storage unavailable: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {
            "error": "storage_unavailable",
            "message": "the database is not available right now; try again shortly",
        },
        status_code=503,
        headers={"retry-after": "5"},
    )


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s -> 500 (%s)", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(
        {"error": "internal_error", "message": "an unexpected error in the server; it is logged"},
        status_code=500,
    )
