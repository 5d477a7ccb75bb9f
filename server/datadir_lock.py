"""One server per data directory: an exclusive lock on <data_dir>/koprade.lock.

Two servers on one data directory would each load a room into their own memory and relay
only to their own clients, so people in one workshop would see different boards. `koprade
serve` therefore takes an exclusive `flock` on a file in the directory before it binds its
port. The kernel holds the lock for the open file and drops it when the process ends, however
it ends (kill -9 included), so a crash never leaves a stale lock behind. The file also holds
the holder's PID, read only to name it in the refusal.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "koprade.lock"


class DataDirectoryInUse(Exception):
    """Another process holds the data directory's lock."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        holder = f"PID {pid}" if pid is not None else "another process"
        super().__init__(
            f"another Koprade server ({holder}) is already serving the data directory "
            f"{data_dir}; stop it first, or give this one another --data-dir"
        )
        self.data_dir = data_dir
        self.pid = pid


class DataDirLock:
    """The exclusive lock on a data directory, held until `release()` or process exit."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.path = self.data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DataDirectoryInUse naming the holder's PID."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirectoryInUse(self.data_dir, pid) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)  # no PID left behind to mislead a reader
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    """The PID the holder wrote, if it has written it yet."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdecimal() else None
