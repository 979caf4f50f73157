"""Two sharded apply-layer processes (``sharding.shards`` = 2, each preferring one
shard): each takes its own shard; one is SIGSTOPped mid-order and the other holds its
shard within ``lease_ms + renew_ms`` and serves its lane; woken, the stopped one serves
nothing it lost, asks for its shard back and gets it. The exchange's order history shows
at most one entry order per plan, and every plan has one result.

Real processes (forked from the zygote, as ``quantum service apply-layer`` runs them),
a real redis-server, the simulated exchange over HTTP through ccxt.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import redis.asyncio as aioredis

from quantum_trader.bus.codec import decode, encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import FIELD
from quantum_trader.bus.schemas import ApplyResult
from quantum_trader.config import load_settings
from quantum_trader.domain.enums import OrderType
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer
from quantum_trader.exchange.sim.http.faults import HttpFaultProfile, HttpFaults
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops.service_main import ServiceSetup
from quantum_trader.ops.stepped.processes import ServiceProcesses
from quantum_trader.runtime.follow_clock import publish_time
from quantum_trader.services.entry_gate import EXECUTOR_GROUP
from tests.integration.apply.rig import PRICES
from tests.integration.ops.test_executor_processes import plan_for, until

T0 = 1_700_000_040_000
LEASE_MS, RENEW_MS = 1_000, 250
SERVICE = "apply-layer"
# with 2 shards: ETHUSDT, BNBUSDT are shard 0; BTCUSDT, SOLUSDT, XRPUSDT, DOGEUSDT 1
FIRST, LATER = ("ETHUSDT", "BTCUSDT", "SOLUSDT"), ("BNBUSDT", "XRPUSDT", "DOGEUSDT")


async def test_a_stopped_owners_shard_moves_and_comes_back_and_each_plan_enters_once(
    tmp_path: Path, redis_server: EmbeddedRedis, keys: Keys
) -> None:
    sim = SimExchange(MatchingCore(seed=7, start_ms=T0))
    for symbol, price in PRICES.items():
        sim.set_price(symbol, Decimal(price))
    server = SimHttpServer(sim, weight_limit=10**9)
    url = await server.start()
    redis = aioredis.Redis.from_url(redis_server.url)
    clock_key = f"test:{keys.prefix}clock"

    def setup(prefer: int) -> ServiceSetup:
        settings = load_settings(
            redis_url=redis_server.url,
            key_prefix=keys.prefix,
            data_dir=tmp_path / "var",
            trading_symbols=list(PRICES),
            metrics={"base_port": 0},
            heartbeat_interval_ms=250,
            heartbeat_ttl_ms=1_000,
            reclaim_interval_ms=500,
            sharding={"shards": 2, "lease_ms": LEASE_MS, "renew_ms": RENEW_MS, "prefer": [prefer]},
        )
        return ServiceSetup(settings, url, tuple(PRICES), clock_key, "shards")

    first, second = (
        ServiceProcesses([SERVICE], setup(0)),
        ServiceProcesses([f"{SERVICE}#2"], setup(1)),
    )
    now = T0

    async def owner_pid(shard: int) -> int | None:
        value = (await redis.get(keys.shard(SERVICE, shard)) or b"").decode()
        pids = [*first.pids.values(), *second.pids.values()]
        return next((pid for pid in pids if f"-{pid}-" in value), None)

    async def owners_are(zero: int, one: int) -> bool:
        return await owner_pid(0) == zero and await owner_pid(1) == one

    plans = [plan_for(sim, symbol, 1, now) for symbol in (*FIRST, *LATER)]
    try:
        await publish_time(redis, clock_key, now)
        first.start_all()
        second.start_all()
        a, b = first.pids[SERVICE], second.pids[f"{SERVICE}#2"]

        async def own_shards() -> bool:
            return await owners_are(a, b)

        await until(redis, keys, own_shards, "each process holding its preferred shard")
        # every exchange request now takes 300 ms: b can be stopped mid-order
        server.faults = HttpFaults(HttpFaultProfile(latency_ms=300), seed=1)
        for plan in plans[: len(FIRST)]:
            await redis.xadd(keys.entry_lane(plan.symbol, 2), {FIELD: encode(plan)})

        async def b_mid_order() -> bool:
            async for key in redis.scan_iter(f"{keys.prefix}plan:done:*"):
                if f"-{b}-" in (await redis.get(key) or b"").decode():
                    return True
            return False

        await until(redis, keys, b_mid_order, "b holding a reservation")
        assert second.pause(f"{SERVICE}#2")
        stopped_at = time.monotonic()

        async def a_holds_both() -> bool:
            return await owners_are(a, a)

        await until(redis, keys, a_holds_both, "a taking the stopped process's shard", 10)
        moved_s = time.monotonic() - stopped_at
        assert moved_s <= (LEASE_MS + RENEW_MS) / 1000 + 1.0, moved_s
        for plan in plans[len(FIRST) :]:  # b's shard is served while b is stopped
            await redis.xadd(keys.entry_lane(plan.symbol, 2), {FIELD: encode(plan)})
        now += 1_000  # market time moves on: what b left pending is adopted
        await publish_time(redis, clock_key, now)

        async def answered(count: int) -> object:
            async def check() -> bool:
                return bool(await redis.xlen(keys.apply_result) >= count)

            return check

        await until(redis, keys, await answered(len(plans)), "every plan answered", 60)
        second.resume(f"{SERVICE}#2")  # b wakes holding a lease that is gone
        await until(redis, keys, own_shards, "b asking for its shard back and getting it", 20)
        for stream in (keys.apply_plan_shard(0), keys.apply_plan_shard(1)):
            pending = await redis.xpending(stream, EXECUTOR_GROUP)
            assert pending["pending"] == 0
        results = [decode(f[FIELD]) for _, f in await redis.xrange(keys.apply_result)]
    finally:
        await asyncio.gather(asyncio.to_thread(first.stop_all), asyncio.to_thread(second.stop_all))
        await redis.aclose()
        await server.stop()

    entries = [
        o
        for o in sim.core.all_orders()
        if o.type is OrderType.MARKET and not o.reduce_only and o.client_order_id.startswith("qe")
    ]
    placed = Counter(o.client_order_id for o in entries)
    assert not placed or max(placed.values()) == 1, placed.most_common(3)
    answered_plans = Counter(r.plan_id for r in results if isinstance(r, ApplyResult))
    assert answered_plans == Counter({p.plan_id: 1 for p in plans})
    executed = [r for r in results if isinstance(r, ApplyResult) and r.executed]
    assert len(executed) == len(entries) >= len(plans) - 1  # b's one in hand may be dropped
    # a clean stop released every lease
    async with aioredis.Redis.from_url(redis_server.url) as after:
        assert not await after.exists(keys.shard(SERVICE, 0), keys.shard(SERVICE, 1))
