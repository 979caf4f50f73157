"""Exit latency: a mark price crosses a position's stop → the exit brain proposes the
close → the apply layer submits the reduce-only order; p50/p99 with 50 open positions,
on a real Redis against the in-process simulated exchange — beside the raw Redis round
trip (PING) measured in the same run."""

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
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import MarketBar, Plan, derive_id
from quantum_trader.clock import SimClock
from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide
from quantum_trader.domain.orders import Order, OrderRequest
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.universe import default_universe
from quantum_trader.services.apply_service import apply_consumer, build_apply_layer
from quantum_trader.services.exit_brain import ExitBrain

POSITIONS = 50
ROUNDS = 4
T0 = 1_704_067_200_000


class TimedExchange(SimExchange):
    """Records when each reduce-only market order reaches the exchange."""

    submitted: dict[str, float]

    async def create_order(self, request: OrderRequest) -> Order:
        order = await super().create_order(request)
        if request.reduce_only and request.type.value == "MARKET":
            self.submitted[request.symbol] = time.perf_counter()
        return order


def one_minute(symbol: str, opened: int, now: int, high: str, low: str, close: str) -> MarketBar:
    """A closed 1m bar opening at 3000."""
    return MarketBar(
        msg_id=derive_id("bar", symbol, opened, close),
        ts_event=now,
        ts_init=now,
        source="bench",
        symbol=symbol,
        interval="1m",
        open_time=opened,
        close_time=opened + 59_999,
        open=Decimal(3000),
        high=Decimal(high),
        low=Decimal(low),
        close=Decimal(close),
        volume=Decimal(1),
    )


async def main() -> None:
    server = redis_server()
    base = default_universe()["ETHUSDT"]
    instruments = {f"S{i:02d}USDT": replace(base, symbol=f"S{i:02d}USDT") for i in range(POSITIONS)}
    samples: list[float] = []
    try:
        client = aioredis.Redis.from_url(server.url)
        rtts = []
        for _ in range(2000):
            t = time.perf_counter()
            await client.ping()
            rtts.append((time.perf_counter() - t) * 1000)
        rtt = statistics.median(rtts)
        for r in range(ROUNDS):
            clock = SimClock(T0 + r * 86_400_000)
            sim = TimedExchange(
                MatchingCore(instruments, seed=r, start_ms=clock.now_ms()), clock=clock
            )
            sim.submitted = {}
            keys = Keys(f"bench{r}:")
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
                    max_open_positions=POSITIONS + 1, max_gross_exposure=Decimal("10000000")
                ),
            )
            apply = apply_consumer(layer, "a1", ConsumerConfig(batch=10, block_ms=0))
            brain = ExitBrain(layer.ledger, RedisEffectStore(client, keys), bus, clock, instruments)
            market = StreamConsumer(
                bus,
                [keys.market],
                "exit-brain",
                "e1",
                brain.handle,
                config=ConsumerConfig(batch=100, block_ms=0),
            )
            await apply.start()
            await market.start()
            for n, symbol in enumerate(instruments):  # features first, then one long each
                sim.set_price(symbol, Decimal("3000"))
                for m in range(20):
                    t = T0 + r * 86_400_000 + m * 60_000
                    await bus.publish(keys.market, one_minute(symbol, t, t, "3003", "2997", "3000"))
                now = clock.now_ms()
                plan_id = derive_id("entry", r, n)
                await bus.publish(
                    keys.apply_plan,
                    Plan(
                        msg_id=plan_id,
                        ts_event=now,
                        ts_init=now,
                        source="bench",
                        plan_id=plan_id,
                        kind=PlanKind.OPEN,
                        symbol=symbol,
                        side=PositionSide.LONG,
                        action=PlanAction.OPEN,
                        qty=Decimal("0.100"),
                        stop_price=Decimal("2940.00"),
                        reference_price=Decimal(3000),
                        leverage=5,
                        created_at=now,
                        expires_at=now + 3_600_000,
                    ),
                )
            while await market.poll(0) + await apply.poll(0):
                pass
            for symbol in instruments:  # a bar closes through each stop, one at a time
                now = clock.now_ms()
                t = time.perf_counter()
                opened = T0 + r * 86_400_000 + 20 * 60_000
                crossing = one_minute(symbol, opened, now, "3000", "2925", "2930")
                await bus.publish(keys.market, crossing)
                await market.poll(0)
                await apply.poll(0)
                samples.append((sim.submitted[symbol] - t) * 1000)
        await client.aclose()
    finally:
        server.stop()
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"redis PING round trip          p50 {rtt:.3f} ms")
    print(
        f"bar closes through stop → exit order p50 {p50:.3f} ms   p99 {p99:.3f} ms "
        f"({len(samples)} exits, {POSITIONS} open positions)"
    )
    report(
        "exit_latency",
        p99,
        rtt,
        "ms (p99 trigger→order vs redis rtt)",
        p50_ms=round(p50, 3),
        p99_ms=round(p99, 3),
        redis_rtt_ms=round(rtt, 3),
    )


if __name__ == "__main__":
    asyncio.run(main())
