"""The Redis client of a cluster-mode process, and its health check for `/healthz`.

`create_app` makes one client per process (`Services.redis`, None outside cluster mode) and
closes it when the app stops; everything in the process shares its connection pool.
"""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

#: How long `/healthz` waits for Redis before it reports the process unavailable.
HEALTH_TIMEOUT = 1.0
#: How long a new connection may take to open (and a health check to reconnect).
CONNECT_TIMEOUT = 2.0
#: The key `/healthz?deep` writes to prove that Redis accepts writes, per node.
HEALTH_KEY = "koprade:health:{node}"


def connect_redis(url: str) -> Redis:
    """A client for `url`; it connects on first use (a pool, reconnecting as needed).

    No socket read timeout: stream reads block for their own BLOCK time. Callers that must
    not wait long bound their own calls (as `redis_problem` does).
    """
    return Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, health_check_interval=5)


async def redis_problem(
    redis: Redis, *, node: str | None, deep: bool = False, timeout: float = HEALTH_TIMEOUT
) -> str | None:
    """None when Redis answers PING within `timeout`, else why not.

    `deep` also writes a short-lived key: a Redis out of memory (`maxmemory` with
    `noeviction`) or a read-only replica still answers PING but refuses the stream writes
    that cluster mode lives on.
    """
    try:
        async with asyncio.timeout(timeout):
            await redis.ping()
            if deep:
                key = HEALTH_KEY.format(node=node or "-")
                await redis.set(key, str(time.time()), ex=60)
    except TimeoutError:
        return f"Redis did not answer within {timeout:g} s"
    except (RedisError, OSError) as exc:
        return f"Redis is unavailable ({type(exc).__name__}): {exc}"
    return None
