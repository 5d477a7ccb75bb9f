"""Reading requests: JSON bodies (bounded in size and depth) and the server's public URL."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from server import safejson
from server.errors import Malformed
from server.http.errors import BodyTooLarge, UnsupportedMediaType
from server.services import Services

MAX_BODY_BYTES = 64 * 1024


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request's JSON object, read up to `limit` bytes and parsed with a bounded depth."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("unsupported_media_type", "send the body as application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge("body_too_large", f"the body must be at most {limit} bytes")
    try:
        data = safejson.loads(body)
    except safejson.InvalidJson as exc:
        message = "the body is nested too deeply" if exc.too_deep else "the body is not valid JSON"
        raise Malformed("invalid_json", message) from exc
    if not isinstance(data, dict):
        raise Malformed("invalid_json", "the body must be a JSON object")
    return data


async def optional_body(request: Request) -> dict[str, Any]:
    """A JSON body where one is optional: none at all reads as {}."""
    if not request.headers.get("content-type") and not request.headers.get("content-length"):
        return {}
    if request.headers.get("content-length") == "0":
        return {}
    return await json_body(request)


def base_url(request: Request, services: Services) -> str:
    if services.settings.public_url:
        return services.settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def no_store(response: Response) -> Response:
    response.headers["cache-control"] = "no-store"
    return response
