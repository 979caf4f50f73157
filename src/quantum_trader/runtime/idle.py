"""Is the pipeline idle? Every consumer group has read every entry and acknowledged it.

Stepped paper runs advance the market only when nothing is left in flight, so a run is
as fast as the machine allows and still deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from quantum_trader.bus.redis_transport import as_text


async def groups_idle(redis: aioredis.Redis, groups: Mapping[str, Sequence[str]]) -> bool:
    for stream, names in groups.items():
        try:
            info = await redis.xinfo_stream(stream)
            group_info = {as_text(g["name"]): g for g in await redis.xinfo_groups(stream)}
        except ResponseError:
            continue  # the stream does not exist yet: nothing was published to it
        last = as_text(info["last-generated-id"])
        for name in names:
            g = group_info.get(name)
            if g is None:
                continue
            if int(g["pending"]) > 0 or as_text(g["last-delivered-id"]) != last:
                return False
    return True
