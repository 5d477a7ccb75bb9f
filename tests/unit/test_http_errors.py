"""The one mapping from errors to HTTP (server/http/errors.py): every domain error kind gets
its status and the JSON `{error, message}` body; a failing database is 503; anything else
is a JSON 500, never plain text."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from server import errors
from server.http.errors import (
    STATUS,
    BodyTooLarge,
    UnsupportedMediaType,
    exception_handlers,
    status_of,
)
from server.storage.store import StorageError

KINDS = [
    (errors.Malformed, 400),
    (errors.Unauthenticated, 401),
    (errors.Refused, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (BodyTooLarge, 413),
    (UnsupportedMediaType, 415),
    (errors.Invalid, 422),
    (errors.Unavailable, 503),
]


def app_raising(exc: BaseException) -> httpx.AsyncClient:
    """A client of an app with the server's exception handlers whose `/` raises `exc`."""

    async def endpoint(request: Request) -> None:
        raise exc

    app = Starlette(routes=[Route("/", endpoint)], exception_handlers=exception_handlers())
    # As uvicorn does, the client gets the 500 response; the exception is logged.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def test_every_kind_has_a_status() -> None:
    kinds = {kind for kind, _ in KINDS}
    assert set(STATUS) == kinds
    assert all(issubclass(kind, errors.DomainError) for kind in kinds)


@pytest.mark.parametrize(("kind", "status"), KINDS)
async def test_each_kind_is_its_status_with_the_json_body(
    kind: type[errors.DomainError], status: int
) -> None:
    error = kind("some_slug", "what went wrong", field="title")
    assert status_of(error) == status
    response = await app_raising(error).get("/")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "some_slug", "message": "what went wrong", "field": "title"}


def test_a_subclass_takes_its_nearest_listed_kind() -> None:
    class SnapshotGone(errors.NotFound):
        pass

    assert status_of(SnapshotGone("snapshot_not_found", "no such snapshot")) == 404
    assert status_of(errors.DomainError("unknown", "a bare domain error")) == 500


@pytest.mark.parametrize("exc", [StorageError("disk full"), OperationalError("x", {}, None)])
async def test_a_failing_database_is_503_storage_unavailable(exc: BaseException) -> None:
    response = await app_raising(exc).get("/")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "storage_unavailable"
    assert set(response.json()) == {"error", "message"}


async def test_any_other_exception_is_a_json_500() -> None:
    response = await app_raising(RuntimeError("a bug")).get("/")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "error": "internal_error",
        "message": "an unexpected error in the server; it is logged",
    }


async def test_unknown_endpoints_and_methods_are_json() -> None:
    client = app_raising(RuntimeError())
    missing = await client.get("/nowhere")
    assert missing.json() == {"error": "not_found", "message": "no such endpoint"}
    response = await client.post("/")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
