"""Real Koprade servers for tests: in-process uvicorn, or a separate process to kill."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from server.config import Settings
from server.serve import AnnouncingServer, uvicorn_config

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RoomInfo:
    room: str
    code: str
    token: str
    data: dict[str, Any]


class ApiMixin:
    url: str
    #: Whether `create_room` sends the organizer key (needed where one is configured, as
    #: in cluster mode); off by default, as the existing tests expect.
    create_with_key = False

    @property
    def organizer_key(self) -> str:
        raise NotImplementedError

    @property
    def organizer_headers(self) -> dict[str, str]:
        """The header lab-wide data needs (GET /api/stats, saved templates)."""
        return {"x-organizer-key": self.organizer_key}

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]

    async def create_room(self, title: str = "Workshop", **extra: Any) -> RoomInfo:
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.post(
                "/api/rooms",
                json={"title": title, **extra},
                headers=self.organizer_headers if self.create_with_key else None,
            )
        assert response.status_code == 201, response.text
        data = response.json()
        return RoomInfo(data["room"], data["code"], data["facilitator_token"], data)

    async def join(self, code: str, name: str, **extra: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.post("/api/join", json={"code": code, "name": name, **extra})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def command(self, room: str, token: str, command: str, **args: Any) -> httpx.Response:
        """POST a facilitation command (docs/facilitation.md); the response as it came."""
        async with httpx.AsyncClient(base_url=self.url) as http:
            return await http.post(
                f"/api/rooms/{room}/commands",
                json={"command": command, **args},
                headers={"authorization": f"Bearer {token}"},
            )

    async def export_board(self, room: str, token: str) -> dict[str, Any]:
        """The room's JSON export (docs/protocol.md, section 4), as the token may see it."""
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.get(
                f"/api/rooms/{room}/export",
                params={"format": "json"},
                headers={"authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ok(self, room: str, token: str, command: str, **args: Any) -> dict[str, Any]:
        """A command that must succeed."""
        response = await self.command(room, token, command, **args)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


class InProcessServer(ApiMixin):
    """uvicorn serving the real app on an ephemeral 127.0.0.1 port in the test's loop."""

    def __init__(self, settings: Settings, app_host: str | None = None) -> None:
        """`app_host`: the address the app believes it is bound to (e.g. "0.0.0.0", for its
        rules about other interfaces) while the test still serves it on 127.0.0.1 only."""
        self.settings = replace(settings, host="127.0.0.1", port=0)
        config = uvicorn_config(replace(self.settings, host=app_host or self.settings.host))
        config.host = self.settings.host
        self.server = AnnouncingServer(config)
        self.server.config.log_config = None
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    @property
    def app(self) -> Any:
        return self.server.config.app

    @property
    def services(self) -> Any:
        return self.app.state.koprade

    @property
    def organizer_key(self) -> str:
        return str(self.services.organizer.key)

    async def start(self) -> InProcessServer:
        self._task = asyncio.ensure_future(self.server.serve())
        deadline = time.monotonic() + 10
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("server stopped during startup")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 10 s")
            await asyncio.sleep(0.01)
        self.url = self.server.url
        return self

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        await asyncio.wait_for(self._task, 20)
        self._task = None


class ServerProcess(ApiMixin):
    """`python -m server serve` as a child process, for restarts, SIGTERM and kill -9."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None = None,
        *extra_args: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra_args = list(extra_args)
        self.env = env or {}
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []
        self._pump: threading.Thread | None = None

    def start(self, port: int = 0, timeout: float = 20) -> ServerProcess:
        command = [
            sys.executable, "-m", "server", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--data-dir", str(self.data_dir), *self.extra_args,
        ]  # fmt: skip
        if self.database_url:
            command += ["--database-url", self.database_url]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            found = re.search(r"Koprade listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                self._drain()
                return self
        self.kill()
        raise RuntimeError("server process did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        """Keep reading the child's output so it never blocks on a full pipe."""

        def pump() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()

    @property
    def organizer_key(self) -> str:
        """The configured key, else the one the server generated into its data directory."""
        configured = self.env.get("KOPRADE_ORGANIZER_KEY")
        if "--organizer-key" in self.extra_args:
            configured = self.extra_args[self.extra_args.index("--organizer-key") + 1]
        return configured or (self.data_dir / "organizer.key").read_text().strip()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A blocking JSON POST, for tests that drive a synchronous API (Playwright's)."""
        response = httpx.post(self.url + path, json=body, timeout=10)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.terminate()

    def terminate(self, timeout: float = 20) -> bool:
        """SIGTERM; True when the server reported a complete, graceful shutdown.

        uvicorn re-raises the signal after its graceful shutdown, so the exit status is
        -SIGTERM either way; the log line is what tells a clean stop from a crash.
        """
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        if self._pump is not None:
            self._pump.join(timeout)  # the last lines are read once the pipe closes
        return any("all accepted updates are stored" in line for line in self.output)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
