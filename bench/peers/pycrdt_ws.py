"""pycrdt-websocket peer for the benchmark: in memory, every URL path is a room.

Usage: HOST=127.0.0.1 PORT=1234 .venv-peers/bin/python peers/pycrdt_ws.py
Prints "listening ws://HOST:PORT" once uvicorn is bound, so the runner can wait for it.
"""

import asyncio
import os

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer, exception_logger


async def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "1234"))
    # exception_logger logs and swallows per-connection errors (e.g. a client that
    # disconnects mid-send) instead of letting them take the whole server down.
    websocket_server = WebsocketServer(exception_handler=exception_logger)
    app = ASGIServer(websocket_server)
    # Compression off: browsers offer permessage-deflate and uvicorn accepts it by default, but the
    # load generator does not offer it (see docs/benchmarks.md), so this only documents intent.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        ws_per_message_deflate=False,
        # Do not wait for the websocket tasks on SIGTERM (see below).
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    async with websocket_server:
        serve = asyncio.create_task(server.serve())
        # uvicorn sets `started` after the socket is bound.
        while not server.started and not serve.done():
            await asyncio.sleep(0.05)
        if server.started:
            print(f"listening ws://{host}:{port}", flush=True)
        await serve
        # After a run with many connections, stopping the rooms' task groups can hang; the
        # documents are in memory only, so there is nothing to save: leave right away.
        os._exit(0)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        # uvicorn re-raises the SIGINT/SIGTERM it caught after a graceful shutdown.
        pass
