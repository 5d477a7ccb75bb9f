"""The `koprade` command line, run as a separate process against a real data directory."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.servers import ROOT

TIMEOUT = 120


def koprade(
    *args: str, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `python -m server ARGS`; text output."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def koprade_bytes(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m server ARGS` with binary stdin/stdout (exports of pictures, imports)."""
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        capture_output=True,
        input=stdin,
        timeout=TIMEOUT,
        env={**os.environ},
    )
