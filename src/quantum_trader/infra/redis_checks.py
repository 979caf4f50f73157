"""Refuse a Redis that may silently drop the system's state, before real money trades.

An evicting ``maxmemory-policy`` (``allkeys-*``, and ``volatile-*``: plan marks, leases
and cooldowns carry TTLs) drops the kill switch, plan-done marks or whole streams with
their consumer groups when memory runs short; a Redis with neither AOF nor RDB snapshots
forgets every position and plan mark on a restart. In demo and live mode such a Redis is
refused, naming the setting to change; in paper mode it is a warning.
"""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quantum_trader.bus.redis_transport import as_text

SAFE_POLICY = "noeviction"


def redis_problems(policy: str, appendonly: str, save: str) -> list[str]:
    """What is unsafe about a Redis with these ``CONFIG`` values, each with its fix."""
    problems = []
    if policy != SAFE_POLICY:
        problems.append(
            f"maxmemory-policy is {policy}: under memory pressure Redis would evict the kill "
            "switch, plan marks and streams; set `maxmemory-policy noeviction` (redis.conf "
            "or CONFIG SET)"
        )
    if appendonly != "yes" and not save.strip():
        problems.append(
            "persistence is off (appendonly no, no save points): a restart would forget every "
            "position and plan mark; set `appendonly yes` (redis.conf or CONFIG SET)"
        )
    return problems


async def read_problems(redis: aioredis.Redis) -> list[str] | None:
    """The problems of the connected Redis; None if its CONFIG cannot be read (managed
    services often disable the command)."""
    try:
        values = {}
        for name in ("maxmemory-policy", "appendonly", "save"):
            reply = await redis.config_get(name)
            values[name] = as_text(next(iter(reply.values()), "")) if reply else ""
    except RedisError:
        return None
    return redis_problems(values["maxmemory-policy"], values["appendonly"], values["save"])


async def check_redis(redis: aioredis.Redis, real_money: bool, say: Callable[[str], None]) -> None:
    """Raise ``ValueError`` for an unsafe Redis when ``real_money``; else say why it is."""
    problems = await read_problems(redis)
    if problems is None:
        say(
            "warning: cannot read Redis CONFIG; make sure maxmemory-policy is noeviction "
            "and persistence (appendonly yes) is on"
        )
        return
    if problems and real_money:
        raise ValueError("unsafe Redis: " + "; ".join(problems))
    for problem in problems:
        say(f"warning: Redis {problem}")
