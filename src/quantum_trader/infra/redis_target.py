"""The Redis a command works on: the configured one, else the data directory's embedded
server if one runs, else a private one for the command — reachable, or one line saying
what to fix."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quantum_trader.config import Settings, mask_url
from quantum_trader.infra.embedded_redis import EmbeddedRedis, read_state
from quantum_trader.infra.redis_connect import master_client, sentinel_url, uses_sentinel


@dataclass
class RedisTarget:
    client: aioredis.Redis
    url: str
    embedded: bool  # a server this data directory runs (ours, or `quantum redis start`'s)


@contextlib.asynccontextmanager
async def redis_target(settings: Settings) -> AsyncIterator[RedisTarget]:
    """The configured Redis; else the data directory's embedded server if one is running
    (`quantum redis start`, or another command's); else a private one for this command.
    One data directory never gets a second server: they would share one AOF file."""
    url = settings.redis_url or (sentinel_url(settings) if uses_sentinel(settings) else None)
    server: EmbeddedRedis | None = None
    if not url:
        running = read_state(settings.data_dir / "redis")
        if running is not None:
            url = str(running["url"])
        else:
            server = EmbeddedRedis(settings.data_dir / "redis").start()
            url = server.url
    client = master_client(settings, url, socket_connect_timeout=5.0)
    try:
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            fix = (
                "QUANTUM_REDIS__SENTINELS / QUANTUM_REDIS__MASTER_NAME"
                if uses_sentinel(settings)
                else "QUANTUM_REDIS_URL (unset it to use an embedded redis-server)"
            )
            raise ValueError(
                f"Redis at {mask_url(url)} is unreachable ({type(exc).__name__}): start it, "
                f"or fix {fix}"
            ) from None
        configured = bool(settings.redis_url) or uses_sentinel(settings)
        yield RedisTarget(client, url, embedded=not configured)
    finally:
        await client.aclose()
        if server is not None:
            server.stop()


@contextlib.asynccontextmanager
async def redis_for(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    async with redis_target(settings) as target:
        yield target.client
