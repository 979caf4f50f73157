"""Apply-layer latency: plan taken → entry order submitted (p50/p99) and plans/s, with 100
symbols and mostly duplicate plans, against the in-process simulated exchange on a real
Redis — beside the raw Redis round trip (PING) measured in the same run."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import redis.asyncio as aioredis
from _common import redis_server, report

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import Plan, derive_id
from quantum_trader.clock import SimClock
from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.universe import default_universe
from quantum_trader.services.apply_service import apply_consumer, build_apply_layer

SYMBOLS = 100
ROUNDS = 5
COPIES = 8  # each distinct plan is delivered this many times (redeliveries, storms)
T0 = 1_704_067_200_000


def universe() -> dict:
    base = default_universe()["ETHUSDT"]
    return {f"SYM{i:03d}USDT": replace(base, symbol=f"SYM{i:03d}USDT") for i in range(SYMBOLS)}


def plan(symbol: str, n: int, now: int) -> Plan:
    plan_id = derive_id("bench", symbol, n)
    return Plan(
        msg_id=plan_id,
        ts_event=now,
        ts_init=now,
        source="bench",
        plan_id=plan_id,
        kind=PlanKind.OPEN,
        symbol=symbol,
        side=PositionSide.LONG,
        action=PlanAction.OPEN,
        qty=Decimal("0.010"),
        stop_price=Decimal("2900.00"),
        reference_price=Decimal("3000"),
        leverage=5,
        created_at=now,
        expires_at=now + 3_600_000,
    )


async def redis_rtt_ms(client: aioredis.Redis, n: int = 2000) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await client.ping()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


async def main() -> None:
    server = redis_server()
    try:
        client = aioredis.Redis.from_url(server.url)
        rtt = await redis_rtt_ms(client)
        clock = SimClock(T0)
        instruments = universe()
        sim = SimExchange(MatchingCore(instruments, seed=1, start_ms=T0), clock=clock)
        for symbol in instruments:
            sim.set_price(symbol, Decimal("3000"))
        keys = Keys("bench:")
        bus = Bus(RedisTransport(client), clock, keys, maxlen=None)
        layer = build_apply_layer(
            exchange=sim,
            bus=bus,
            redis=client,
            clock=clock,
            instruments=instruments,
            symbols=list(instruments),
            config=ApplyConfig(cooldown_ms=0),
            limits=GateLimits(
                max_open_positions=SYMBOLS + 1, max_gross_exposure=Decimal("10000000")
            ),
        )
        consumer = apply_consumer(layer, "bench-1", ConsumerConfig(batch=100, block_ms=0))
        await consumer.start()
        total, elapsed = 0, 0.0
        for r in range(ROUNDS):
            plans = [plan(s, r, clock.now_ms()) for s in instruments for _ in range(COPIES)]
            await bus.publish_many(keys.apply_plan, plans)
            t = time.perf_counter()
            while await consumer.poll(0):
                pass
            elapsed += time.perf_counter() - t
            total += len(plans)
            for symbol in instruments:  # flat again for the next round (and its stops gone)
                sim.close_position_by_hand(symbol)
                for order in await sim.open_orders(symbol):
                    sim.cancel_by_hand(symbol, order.client_order_id)
            await layer.ledger.client.delete(*[keys.position(s) for s in instruments])
            await layer.ledger.client.delete(keys.positions)
            clock.advance(60)
        await client.aclose()
    finally:
        server.stop()
    latencies = sorted(layer.latency_ms["open"])
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    rate = total / elapsed
    print(f"redis PING round trip    p50 {rtt:.3f} ms")
    print(
        f"plan → order submitted   p50 {p50:.3f} ms   p99 {p99:.3f} ms  ({len(latencies)} orders)"
    )
    print(
        f"plans handled            {rate:,.0f} plans/s ({total} plans, "
        f"{total - len(latencies)} duplicates or skips)"
    )
    print(f"outcomes                 {dict(layer.decisions)}")
    report(
        "apply_latency",
        p99,
        rtt,
        "ms (p99 plan→order vs redis rtt)",
        p50_ms=round(p50, 3),
        p99_ms=round(p99, 3),
        plans_per_s=round(rate, 1),
        redis_rtt_ms=round(rtt, 3),
    )


if __name__ == "__main__":
    asyncio.run(main())
