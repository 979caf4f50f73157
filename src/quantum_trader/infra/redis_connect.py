"""The one way a process gets a Redis client for the system's primary.

With ``redis.sentinels`` configured the client comes from
``redis.asyncio.sentinel.Sentinel(...).master_for(redis.master_name)``: its pool asks the
sentinels for the primary's address on every new connection, and drops a connection
whose server answers as a replica (``READONLY`` becomes a ``ConnectionError``), so after a
failover the next command of every component lands on the promoted replica. What that
command sees meanwhile (``ConnectionError``, ``TimeoutError``, ``ReadOnlyError``) the
callers ride out: the bus consumer reconnects with backoff on its ``Clock``, periodic jobs
and heartbeats try again at their next turn (see docs/redis-failover.md).

Without sentinels it is ``from_url`` on the one URL, exactly as before: the embedded
server of a paper run, or the operator's ``redis_url``.

With sentinels, ``redis_url`` (if set) gives only the primary's user, password, database
and TLS (``rediss://``); its host and port are never dialled. ``redis.password`` is the
password when the URL carries none.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from quantum_trader.config import Settings

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_TIMEOUT_S = 1.0  # one sentinel's answer; a dead or cut-off one is skipped after it
# The retry redis-py gives a ``from_url`` client (10 tries, 10 ms doubling up to 1 s),
# made explicit because a Sentinel-built pool has none by default.
RETRY_TRIES, RETRY_BASE_S, RETRY_CAP_S = 10, 0.01, 1.0


def uses_sentinel(settings: Settings) -> bool:
    return bool(settings.redis.sentinels)


def sentinel_url(settings: Settings) -> str:
    """What names the primary in messages and run records: ``redis+sentinel://
    h1:26379,h2:26379/NAME`` (no secrets). It is a label: nothing connects to it."""
    return f"{SENTINEL_SCHEME}://{','.join(settings.redis.sentinels)}/{settings.redis.master_name}"


def master_client(settings: Settings, url: str | None = None, **options: Any) -> aioredis.Redis:
    """An asyncio client for the primary: through Sentinel when configured, else
    ``from_url(url or settings.redis_url)``. ``options`` are connection options
    (``socket_connect_timeout``, ``decode_responses``…) for either."""
    if not uses_sentinel(settings):
        return aioredis.Redis.from_url(_plain_url(settings, url), **options)
    sentinel = AsyncSentinel(
        settings.redis.addresses(), sentinel_kwargs=_sentinel_options(settings, options)
    )
    retry = AsyncRetry(ExponentialWithJitterBackoff(RETRY_CAP_S, RETRY_BASE_S), RETRY_TRIES)
    client: SentinelMaster = sentinel.master_for(
        settings.redis.master_name,
        redis_class=SentinelMaster,
        **{"retry": retry, **_master_options(settings), **options},
    )
    client.sentinels = sentinel
    return client


def master_client_sync(settings: Settings, url: str | None = None, **options: Any) -> redis.Redis:
    """The same primary for a command's blocking client (``quantum kill-switch``…)."""
    if not uses_sentinel(settings):
        return redis.Redis.from_url(_plain_url(settings, url), **options)
    sentinel = Sentinel(
        settings.redis.addresses(), sentinel_kwargs=_sentinel_options(settings, options)
    )
    retry = Retry(ExponentialWithJitterBackoff(RETRY_CAP_S, RETRY_BASE_S), RETRY_TRIES)
    client: SentinelMasterSync = sentinel.master_for(
        settings.redis.master_name,
        redis_class=SentinelMasterSync,
        **{"retry": retry, **_master_options(settings), **options},
    )
    client.sentinels = sentinel
    return client


class SentinelMaster(aioredis.Redis):
    """The primary's client; closing it also closes its connections to the sentinels."""

    sentinels: AsyncSentinel | None = None

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if self.sentinels is not None:
            sentinel, self.sentinels = self.sentinels, None
            await sentinel.aclose()


class SentinelMasterSync(redis.Redis):
    """The blocking twin of :class:`SentinelMaster`."""

    sentinels: Sentinel | None = None

    def close(self) -> None:
        super().close()
        if self.sentinels is not None:
            sentinel, self.sentinels = self.sentinels, None
            sentinel.close()


def _plain_url(settings: Settings, url: str | None) -> str:
    chosen = url or settings.redis_url
    if not chosen:
        raise ValueError("no Redis: set QUANTUM_REDIS_URL or QUANTUM_REDIS__SENTINELS")
    return chosen


def _sentinel_options(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    secret = settings.redis.sentinel_password
    timeout = options.get("socket_connect_timeout", SENTINEL_TIMEOUT_S)
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": SENTINEL_TIMEOUT_S,
        **({"password": secret.get_secret_value()} if secret else {}),
    }


def _master_options(settings: Settings) -> dict[str, Any]:
    """User, password, database and TLS of the primary: from ``redis_url`` if it is a
    ``redis://`` / ``rediss://`` URL, the password else from ``redis.password``."""
    found: dict[str, Any] = {}
    url = settings.redis_url or ""
    if url.startswith(("redis://", "rediss://")):
        parsed = dict(parse_url(url))
        found = {k: parsed[k] for k in ("username", "password", "db") if parsed.get(k)}
        if url.startswith("rediss://"):
            found["ssl"] = True
    if "password" not in found and settings.redis.password is not None:
        found["password"] = settings.redis.password.get_secret_value()
    return found
