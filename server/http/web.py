"""The browser client (web/dist): its pages and assets, with strict security headers."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything the page loads comes from this server; the only other origin is the
# WebSocket back to it. No inline script or style, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def find_web_dist() -> Path | None:
    """The built client: inside the installed package, else web/dist of a checkout."""
    package = Path(__file__).resolve().parent.parent  # server/
    for candidate in (package / "web_dist", package.parent / "web" / "dist"):
        if (candidate / "index.html").is_file():
            return candidate
    return None


class SecurityHeaders:
    """Adds the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def web_routes(dist: Path | None) -> list[Route | Mount]:
    if dist is None:

        async def not_built(request: Request) -> Response:
            return JSONResponse(
                {
                    "error": "web_client_not_built",
                    "message": "the browser client is not built: run `npm run build` in web/",
                },
                status_code=404,
            )

        return [Route("/", not_built)]

    index = dist / "index.html"

    async def page(request: Request) -> Response:
        # The page must be revalidated so a new release is picked up at once.
        return FileResponse(index, headers={"cache-control": "no-cache"})

    routes: list[Route | Mount] = [
        Route("/", page),
        Route("/join/{code}", page),
        Route("/room/{room_id}", page),
    ]
    if (dist / "assets").is_dir():
        routes.append(Mount("/assets", app=StaticFiles(directory=dist / "assets"), name="assets"))
    return routes
