"""The state-loss fault keeps, as evidence, only the malformed entries that every group
of their stream dead-lettered before the flush (a stream's groups read at their own
pace: what one group had not read yet went with the flush, unread by it)."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport, as_text
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SimClock
from quantum_trader.ops.chaos.store_faults import StoreFaults
from quantum_trader.runtime.safety_state import SafetyStore


async def test_garbage_one_group_had_not_read_goes_with_the_flush(
    own_redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    keys = Keys(prefix="sf:")
    bus = Bus(RedisTransport(own_redis_client), SimClock(1_000), keys)
    fills = keys.fills
    for group in ("ledger", "risk-guard"):
        await own_redis_client.xgroup_create(fills, group, id="0", mkstream=True)
    both = as_text(await own_redis_client.xadd(fills, {"msg": "not json {"}))
    one = as_text(await own_redis_client.xadd(fills, {"msg": "not json either {"}))
    none = as_text(await own_redis_client.xadd(fills, {"payload": "x"}))
    for entry, groups in ((both, ("ledger", "risk-guard")), (one, ("risk-guard",))):
        for group in groups:
            delivery = Delivery(fills, entry, b"not json {", 1)
            await bus.dead_letter(delivery, group=group, consumer="c", reason="bad", failures=0)
    faults = StoreFaults(
        own_redis_client, keys, SafetyStore(tmp_path, keys.prefix), "sf:clock", lambda: 5_000
    )
    garbage = [(fills, both), (fills, one), (fills, none)]

    await faults.lose_state(garbage)

    assert garbage == [(fills, both)]
    assert {d.original_id for d in faults.kept.dead} == {both, one}
    assert await own_redis_client.dbsize() == 0
    assert faults.halts == [(5_000, 2**62)]
