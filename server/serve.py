"""Running the app under uvicorn, with limits that agree with the app's own."""

from __future__ import annotations

import logging
import socket

import uvicorn

from server.app import create_app
from server.config import Settings
from server.logs import configure_logging

log = logging.getLogger("koprade.serve")


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        # uvicorn's own Sans-I/O implementation on the `websockets` protocol library.
        ws="websockets-sansio",
        # uvicorn closes larger frames with 1009 before they reach the app.
        ws_max_size=settings.max_message_size,
        # Compression costs CPU per connection per message; Yjs updates are small binaries
        # and one relay is sent to every connection as the same bytes.
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=None,
        log_level=settings.log_level,
        timeout_graceful_shutdown=10,
    )


class AnnouncingServer(uvicorn.Server):
    """Prints the real URL once bound: with --port 0 the port is only known then."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"Koprade listening on {self.url}", flush=True)

    @property
    def url(self) -> str:
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"


async def serve(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format)
    server = AnnouncingServer(uvicorn_config(settings))
    await server.serve()
    return 0 if server.started else 1
