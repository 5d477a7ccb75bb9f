"""Startup checks of `koprade serve`'s cluster settings, and this process's node id.

Cluster mode (`--redis-url`, docs/cluster.md) runs several processes on one set of rooms,
so everything that must be the same in all of them has to be given explicitly: the
PostgreSQL database (every process must see the same rows), the token secret (a token
issued by one process is checked by another) and the organizer key (a key generated into
each data directory would differ per process). `check_cluster_settings` refuses a start
without them, and one whose Redis does not answer, with one line saying what to do; the
command line prints it as `koprade: error: ...` and exits with status 2.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit

from server.config import Settings

#: How long the startup check waits for Redis to connect and answer PING.
REDIS_STARTUP_TIMEOUT = 3.0
#: A node id names the process in lease rows (128 characters) and Redis keys.
NODE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_MIN_SECRET_LENGTH = 16


class ConfigError(Exception):
    """The settings cannot work; the message says why and what to give instead."""


def default_node_id() -> str:
    """`<host>-<pid>-<4 hex>`: unique per process, and tells an operator which one it is."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64].strip(".-_") or "node"
    return f"{host}-{os.getpid()}-{secrets.token_hex(2)}"


def with_node_id(settings: Settings) -> Settings:
    """The settings with a generated node id in cluster mode when none was given."""
    if settings.cluster and settings.node_id is None:
        return replace(settings, node_id=default_node_id())
    return settings


def redact_url(url: str) -> str:
    """The URL without its password (in the authority or a `password=` query parameter)."""
    try:
        parts = urlsplit(url)
        shown = url
        if parts.password is not None:
            user = parts.username or ""
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            port = f":{parts.port}" if parts.port is not None else ""
            shown = shown.replace(f"//{parts.netloc}", f"//{user}:***@{host}{port}", 1)
        if "password" in parts.query.lower():
            query = [
                (key, "***" if key.lower() == "password" else value)
                for key, value in parse_qsl(parts.query, keep_blank_values=True)
            ]
            shown = shown.replace(f"?{parts.query}", f"?{urlencode(query, safe='*')}", 1)
        return shown
    except ValueError:  # not even a URL (a bad port, a broken IPv6 host): show none of it
        return "<unparsable URL>"


def check_cluster_settings(settings: Settings, *, ping_redis: bool = True) -> None:
    """Raise ConfigError if `koprade serve` must not start with these settings.

    `--workers N` needs N >= 1, and N > 1 needs cluster mode. Cluster mode needs a
    PostgreSQL database, an explicit secret and organizer key, a valid node id (when one
    is given) and, unless `ping_redis` is false, a Redis that answers PING.
    """
    if settings.workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {settings.workers})")
    if not settings.cluster:
        if settings.workers > 1:
            raise ConfigError(
                f"--workers {settings.workers} needs cluster mode: give --redis-url (with a "
                "PostgreSQL --database-url, --secret and --organizer-key); without it, "
                "several processes would each hold their own copy of a room"
            )
        return
    _check_database(settings.database_url)
    if not settings.secret:
        raise ConfigError(
            "cluster mode needs an explicit shared --secret (or KOPRADE_SECRET): a secret "
            "generated into each data directory would differ per process, and a token "
            "issued by one process would fail on another"
        )
    if len(settings.secret.encode()) < _MIN_SECRET_LENGTH:
        raise ConfigError(f"--secret must be at least {_MIN_SECRET_LENGTH} bytes long")
    if not settings.organizer_key:
        raise ConfigError(
            "cluster mode needs an explicit shared --organizer-key (or "
            "KOPRADE_ORGANIZER_KEY): a key generated into each data directory would differ "
            "per process, and the organizer link of one would be refused by the others"
        )
    if settings.node_id is not None and not NODE_ID_PATTERN.fullmatch(settings.node_id):
        raise ConfigError(
            f"--node-id {settings.node_id!r} is not a valid node id: 1 to 100 letters, "
            "digits, '.', '_' or '-', starting with a letter or digit"
        )
    if ping_redis:
        assert settings.redis_url is not None  # settings.cluster
        check_redis(settings.redis_url)


def _check_database(database_url: str | None) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    why = (
        "every process must see the same rows, and SQLite is a file that only one machine's "
        "processes can open (and one writer at a time)"
    )
    if not database_url:
        raise ConfigError(
            "cluster mode needs a PostgreSQL --database-url (postgresql+asyncpg://USER@HOST/DB), "
            f"not the default SQLite file: {why}"
        )
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"--database-url is not a database URL: {exc}") from exc
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        raise ConfigError(f"cluster mode cannot use SQLite ({url.drivername}): {why}")
    if backend != "postgresql" or driver != "asyncpg":
        raise ConfigError(
            f"cluster mode needs a postgresql+asyncpg:// --database-url, not {url.drivername}://"
        )


def check_redis(url: str, timeout: float = REDIS_STARTUP_TIMEOUT) -> None:
    """Raise ConfigError unless the Redis at `url` answers PING within `timeout` seconds."""
    import redis

    where = redact_url(url)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:  # not a redis://, rediss:// or unix:// URL
        raise ConfigError(f"--redis-url {where} is not a Redis URL: {exc}") from exc
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise ConfigError(f"cannot reach Redis at {where}: {exc}") from exc
    finally:
        client.close()
