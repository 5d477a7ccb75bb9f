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
        # uvloop (a dependency through uvicorn[standard]) when importable, else asyncio's own
        # loop. Only `run()` below uses it: `serve()` runs in whatever loop it is awaited in.
        loop="auto",
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


def run(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM in a new event loop of uvicorn's choice (uvloop if installed).

    uvloop's transports and scheduler do the per-frame work (one socket write per message
    per client, the wake-ups) in C; on the many-rooms benchmark that cut the server's CPU
    per delivered update by 10-16 % in back-to-back runs (docs/benchmarks.md).
    """
    configure_logging(settings.log_level, settings.log_format)
    server = AnnouncingServer(uvicorn_config(settings))
    server.run()
    return 0 if server.started else 1


async def serve(settings: Settings) -> int:
    """Serve in the running event loop (for embedding; the command line uses `run`)."""
    configure_logging(settings.log_level, settings.log_format)
    server = AnnouncingServer(uvicorn_config(settings))
    await server.serve()
    return 0 if server.started else 1
