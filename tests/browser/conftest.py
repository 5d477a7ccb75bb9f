"""Browser tests: the real Koprade server in a subprocess, Debian's Chromium via Playwright.

Requirements: `apt-get install chromium` (/usr/bin/chromium, override with KOPRADE_CHROMIUM)
and the `playwright` Python package (its own browser downloads are never used). The client
must be built (`npm ci && npm run build` in web/); axe-core comes from web/node_modules.

Outside CI the tests skip when Chromium or Playwright are missing; with CI=true (or
KOPRADE_REQUIRE_BROWSER=1) they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("KOPRADE_CHROMIUM", "/usr/bin/chromium")
REQUIRE = (
    os.environ.get("CI", "").lower() == "true" or os.environ.get("KOPRADE_REQUIRE_BROWSER") == "1"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
EXPECT_TIMEOUT_MS = 10_000

try:
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
except ImportError:  # reported by the `browser` fixture / the test module
    pass


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: end-to-end test in a real browser")


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(reason + " (CI=true / KOPRADE_REQUIRE_BROWSER=1: browser tests must run)")
    pytest.skip(reason)


# ------------------------------------------------------------------------------ the server


def start_server(data_dir: Path, port: int = 0) -> ServerProcess:
    """`python -m server serve` on 127.0.0.1 (the shared test helper), web client built."""
    if not (WEB / "dist" / "index.html").is_file():
        pytest.fail("web/dist is not built: run `npm ci && npm run build` in web/")
    return ServerProcess(data_dir).start(port=port)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server as a subprocess for the whole session; stopped by PID at the end."""
    proc = start_server(tmp_path_factory.mktemp("koprade-data"))
    try:
        yield proc
    finally:
        proc.terminate()


# ------------------------------------------------------------------------------ the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Playwright's sync API runs its own event loop while it is open: closing it at the
    end of the module lets the asyncio tests that follow run their loops."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the `playwright` Python package is not installed")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_context(browser: Any, server: ServerProcess) -> Iterator[Any]:
    """Factory for isolated browser contexts (separate sessionStorage = separate people)."""
    contexts: list[Any] = []

    def make(**kwargs: Any) -> Any:
        options: dict[str, Any] = {
            "base_url": server.url,
            "locale": "lv-LV",
            "viewport": {"width": 1366, "height": 768},
        }
        options.update(kwargs)
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def watch_errors(page: Any) -> list[str]:
    """Collect console errors and CSP violations of a page."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None,
    )
    return errors
