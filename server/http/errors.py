"""The one mapping from errors to HTTP: a status per domain error kind, and the handlers.

Every error a request can end in becomes JSON `{"error": slug, "message": text, ...}`:
domain errors by their kind (`STATUS`), Starlette's own 404/405, a failing database
(`503 storage_unavailable`, with `retry-after`) and anything else (`500 internal_error`),
so no request ever gets a plain-text 500 (docs/protocol.md, "Error slugs").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.errors import (
    Conflict,
    DomainError,
    Gone,
    Invalid,
    Malformed,
    NotFound,
    OwnedElsewhere,
    Refused,
    Unauthenticated,
    Unavailable,
)
from server.storage.store import StorageError

log = logging.getLogger("koprade.api")


class UnsupportedMediaType(Malformed):
    """A body that is not `application/json` (the edge's own kind)."""


class BodyTooLarge(Malformed):
    """A body over the endpoint's limit (the edge's own kind)."""


#: The HTTP status of each kind of domain error (the most specific class listed wins).
STATUS: Mapping[type[DomainError], int] = {
    Malformed: 400,
    Unauthenticated: 401,
    Refused: 403,
    NotFound: 404,
    Gone: 410,
    Conflict: 409,
    BodyTooLarge: 413,
    UnsupportedMediaType: 415,
    Invalid: 422,
    Unavailable: 503,
}

#: Exceptions that mean "the database did not do it": the store wraps its own in
#: StorageError; the rest can come from code that talks to the engine directly.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    StorageError,
    SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
)


def status_of(error: DomainError) -> int:
    """The status of a domain error: its own class's or its nearest listed ancestor's."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_body(error: DomainError) -> dict[str, object]:
    return {"error": error.slug, "message": error.message, **error.extra}


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = status_of(exc)
    log.info("%s %s -> %d %s", request.method, request.url.path, status, exc.slug)
    return JSONResponse(error_body(exc), status_code=status)


_HTTP_ERRORS = {404: ("not_found", "no such endpoint"), 405: ("method_not_allowed", "")}


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404/405 (and other HTTP errors) as JSON like every other error."""
    assert isinstance(exc, HTTPException)
    error, message = _HTTP_ERRORS.get(exc.status_code, ("http_error", ""))
    return JSONResponse(
        {"error": error, "message": message or str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A failing database (unreachable, locked, disk full) is not a bug in Koprade: the
    client may try again, and the log says what the database answered."""
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
    """Anything else is a bug: logged with its traceback (Starlette's ServerErrorMiddleware
    re-raises it to uvicorn, which logs it)."""
    log.error("%s %s -> 500 (%s)", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(
        {"error": "internal_error", "message": "an unexpected error in the server; it is logged"},
        status_code=500,
    )


#: Cluster mode: the header of the 421 that tells `server/cluster/forward.py` to forward the
#: request to the room's owner; it never leaves the server.
OWNED_BY_HEADER = "x-koprade-owned-by"


async def owned_elsewhere(request: Request, exc: Exception) -> JSONResponse:
    """Another process serves the room: 421 Misdirected Request, which the forwarding
    middleware turns into that process's own answer (docs/cluster.md)."""
    assert isinstance(exc, OwnedElsewhere)
    return JSONResponse(
        {"error": "owned_elsewhere", "message": str(exc)},
        status_code=421,
        headers={OWNED_BY_HEADER: exc.room_id},
    )


Handler = Callable[[Request, Exception], Awaitable[Response]]


def exception_handlers() -> dict[type[BaseException] | int, Handler]:
    """The app's exception handlers, most specific first (Starlette picks by class)."""
    return {
        DomainError: domain_error,
        OwnedElsewhere: owned_elsewhere,
        HTTPException: http_error,
        **dict.fromkeys(STORAGE_ERRORS, storage_unavailable),
        Exception: internal_error,
    }
