"""A Redis that may drop the system's state is refused before real money trades."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from quantum_trader.infra.redis_checks import check_redis, read_problems, redis_problems


def test_each_unsafe_setting_is_named_with_its_fix() -> None:
    assert redis_problems("noeviction", "yes", "") == []
    assert redis_problems("noeviction", "no", "3600 1") == []  # RDB snapshots persist
    (evicting,) = redis_problems("volatile-lru", "yes", "")
    assert "maxmemory-policy is volatile-lru" in evicting and "noeviction" in evicting
    (volatile,) = redis_problems("noeviction", "no", "")
    assert "persistence is off" in volatile and "appendonly yes" in volatile


async def test_an_evicting_redis_is_refused_for_real_money_and_a_warning_in_paper(
    redis_client: aioredis.Redis,
) -> None:
    assert await read_problems(redis_client) == []
    before = (await redis_client.config_get("maxmemory-policy"))["maxmemory-policy"]
    await redis_client.config_set("maxmemory-policy", "allkeys-lru")
    said: list[str] = []
    try:
        with pytest.raises(ValueError, match="unsafe Redis: maxmemory-policy is allkeys-lru"):
            await check_redis(redis_client, True, said.append)
        await check_redis(redis_client, False, said.append)
    finally:
        await redis_client.config_set("maxmemory-policy", before)
    assert len(said) == 1 and said[0].startswith("warning: Redis maxmemory-policy")
