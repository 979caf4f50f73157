"""Scale: ~400 USDⓈ-M perpetuals on 1m bars served by one host — CPU seconds per market
hour per service process, beside the bare cost of moving the same bars through Redis,
measured in the same run; and one apply layer's plan→order latency as the number of
symbols it holds grows.

1. The system: ``quantum run --processes``' orchestration (``ops.stepped.SteppedRun``:
   every service its own process, real Redis, the simulated exchange over its HTTP
   front, stepped accelerated time) on ``scale_universe(N)`` — the 22 packaged
   perpetuals and derived ones. CPU is utime + stime from ``/proc/<pid>/stat`` just
   before the processes stop, counted from the end of the first bar (start-up and the
   warm-up the first bar wakes are shown apart).
2. The bare cost: the same number of bar messages (the real encoded ``MarketBar``s)
   XADDed in one pipeline per bar, read back by as many consumer groups as read the
   market stream (XREADGROUP in batches of the consumers' size) and XACKed — the
   loop's own CPU plus the redis-server's. Beside it, the feed's own cost: the market
   feed building and publishing the same bars with a driver that moves no exchange.
3. Apply latency: one apply layer on a real Redis and the in-process simulated exchange,
   holding 25 … 400 symbols of the same universe, plan taken → entry order submitted.

The orchestrator's watchdog restarts a service that beats no heartbeat for
``hung_after_s``; the signal engine replays every symbol's klines inside its first
poll, which at 400 symbols outlasts the default 6 s, so the run here allows longer.

    .venv/bin/python bench/scale_symbols.py [--symbols 400] [--hours 1]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import redis.asyncio as aioredis
from _common import redis_server, report
from apply_latency import COPIES, T0, redis_rtt_ms

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import encode
from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.bus.groups import topology
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import FIELD, RedisTransport
from quantum_trader.bus.schemas import Plan, derive_id
from quantum_trader.clock import SimClock
from quantum_trader.config import load_settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.scale_universe import ScaleUniverse, scale_universe
from quantum_trader.ops.stepped.faults import RunConfig
from quantum_trader.ops.stepped.processes import cpu_seconds
from quantum_trader.ops.stepped.run import SteppedRun
from quantum_trader.services.apply_service import apply_consumer, build_apply_layer
from quantum_trader.services.market_feed import MarketFeed, bar_message

HUNG_AFTER_S = 900.0  # see the module docstring: the 400-symbol warm-up outlasts 6 s
SETTLE_S = 180.0  # the first bar waits for the warm-up it wakes
P99_BUDGET_MS = 2.0
MIN_SAMPLES = 400  # entries per apply-latency size (rounds of one entry per symbol)


def _per_hour(seconds: float, bars: int) -> float:
    return seconds / bars * 60 if bars else 0.0


async def system_run(universe: ScaleUniverse, hours: float, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qt-scale-") as tmp:
        config = RunConfig(
            symbols=universe.symbols,
            hours=hours,
            seed=seed,
            data_dir=Path(tmp) / "run",
            settle_timeout_s=SETTLE_S,
            hung_after_s=HUNG_AFTER_S,
            specs=universe.specs,
            instruments=universe.instruments,
        )
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            if done == 1 or done % 10 == 0 or done == total:
                wall = time.monotonic() - started
                print(f"  market minute {done}/{total}  ({wall:.0f} s)", file=sys.stderr)

        settings = load_settings(data_dir=Path(tmp) / "var")
        run = SteppedRun(config, settings=settings, run_id="bench", on_step=progress)
        return (await run.run()).to_json()


def _klines(universe: ScaleUniverse, bars: int, seed: int) -> list[list[Kline]]:
    """Bar by bar, every symbol's kline (as the feed would publish them)."""
    market = generate_market(universe.specs, bars, MarketConfig(seed=seed, start_ms=T0))
    ticks = {s: universe.instruments[s].tick_size for s in universe.symbols}
    return [
        [market.bars[s].bar_at(i, tick_size=ticks[s]) for s in universe.symbols]
        for i in range(bars)
    ]


def _cpu_now(server_pid: int) -> float:
    return time.process_time() + (cpu_seconds(server_pid) or 0.0)


async def bare_cost(universe: ScaleUniverse, bars: int, seed: int) -> dict[str, float]:
    """XADD + XREADGROUP + XACK of the run's bar messages, per market stream group."""
    klines = _klines(universe, bars + 1, seed)
    payloads = [[encode(bar_message(k, k.close_time + 1)) for k in row] for row in klines[:bars]]
    keys = Keys("bare:")
    stream, batch = keys.market, ConsumerConfig().batch
    groups = topology(keys)[stream]
    server = redis_server()
    try:
        client = aioredis.Redis.from_url(server.url)
        for group in groups:
            await client.xgroup_create(stream, group, id="0", mkstream=True)
        assert server.process is not None
        pid = server.process.pid
        client_0, redis_0 = time.process_time(), cpu_seconds(pid) or 0.0
        for row in payloads:
            async with client.pipeline(transaction=False) as pipe:
                for payload in row:
                    pipe.xadd(stream, {FIELD: payload}, maxlen=1_000_000, approximate=True)
                await pipe.execute()
            for group in groups:
                while True:
                    reply = await client.xreadgroup(group, "bare-1", {stream: ">"}, count=batch)
                    if not reply:
                        break
                    ids = [entry_id for entry_id, _ in reply[0][1]]
                    await client.xack(stream, group, *ids)
        used_client = time.process_time() - client_0
        used_redis = (cpu_seconds(pid) or 0.0) - redis_0
        await client.aclose()
    finally:
        server.stop()
    return {"client": used_client, "redis": used_redis, "groups": len(groups)}


class StillDriver:
    """A market driver that moves no exchange: what is left is the feed's own work."""

    async def set_price(self, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
        return None

    async def bar(self, kline: Kline, mark: Kline | None = None) -> None:
        return None


async def feed_cost(universe: ScaleUniverse, bars: int, seed: int) -> dict[str, float]:
    """The market feed stepping the same bars onto a real Redis, no exchange behind it."""
    market = generate_market(universe.specs, bars + 1, MarketConfig(seed=seed, start_ms=T0))
    ticks = {s: universe.instruments[s].tick_size for s in universe.symbols}
    server = redis_server()
    try:
        client = aioredis.Redis.from_url(server.url)
        bus = Bus(RedisTransport(client), SimClock(T0), Keys("feed:"), 1_000_000)
        feed = MarketFeed(StillDriver(), bus, market.bars, ticks)
        assert server.process is not None
        pid = server.process.pid
        client_0, redis_0 = time.process_time(), cpu_seconds(pid) or 0.0
        for i in range(1, bars + 1):
            await feed.step(i)
        used_client = time.process_time() - client_0
        used_redis = (cpu_seconds(pid) or 0.0) - redis_0
        await client.aclose()
    finally:
        server.stop()
    return {"client": used_client, "redis": used_redis}


def _entry(symbol: str, inst: Instrument, price: Decimal, n: int, now: int) -> Plan:
    """A long entry of twice the minimum notional, stopped 3 % below."""
    qty = (inst.min_notional * 2 / price / inst.step_size).to_integral_value(ROUND_UP)
    plan_id = derive_id("scale", symbol, n)
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
        qty=max(inst.min_qty, qty * inst.step_size),
        stop_price=inst.round_price(price * Decimal("0.97")),
        reference_price=price,
        leverage=5,
        created_at=now,
        expires_at=now + 3_600_000,
    )


async def apply_latency(universe: ScaleUniverse, held: int) -> dict[str, float]:
    """p50/p99 plan taken → entry order submitted, one apply layer holding ``held``
    symbols (every round opens one position on each, with duplicate copies)."""
    symbols = list(universe.symbols[:held])
    instruments = {s: universe.instruments[s] for s in symbols}
    prices = {s: universe.specs[s].start_price for s in symbols}
    rounds = max(3, math.ceil(MIN_SAMPLES / held))
    server = redis_server()
    try:
        client = aioredis.Redis.from_url(server.url)
        clock = SimClock(T0)
        sim = SimExchange(MatchingCore(instruments, seed=1, start_ms=T0), clock=clock)
        for symbol in symbols:
            sim.set_price(symbol, prices[symbol])
        keys = Keys("bench:")
        bus = Bus(RedisTransport(client), clock, keys, maxlen=None)
        layer = build_apply_layer(
            exchange=sim,
            bus=bus,
            redis=client,
            clock=clock,
            instruments=instruments,
            symbols=symbols,
            config=ApplyConfig(cooldown_ms=0),
            limits=GateLimits(max_open_positions=held + 1, max_gross_exposure=Decimal(10**9)),
        )
        consumer = apply_consumer(layer, "bench-1", ConsumerConfig(batch=100, block_ms=0))
        await consumer.start()
        for r in range(rounds):
            now = clock.now_ms()
            plans = [
                _entry(s, instruments[s], prices[s], r, now) for s in symbols for _ in range(COPIES)
            ]
            await bus.publish_many(keys.apply_plan, plans)
            while await consumer.poll(0):
                pass
            for symbol in symbols:  # flat again for the next round (and its stops gone)
                sim.close_position_by_hand(symbol)
                for order in await sim.open_orders(symbol):
                    sim.cancel_by_hand(symbol, order.client_order_id)
            await client.delete(*[keys.position(s) for s in symbols], keys.positions)
            clock.advance(60)
        rtt = await redis_rtt_ms(client, 500)
        await client.aclose()
    finally:
        server.stop()
    latencies = sorted(layer.latency_ms["open"])
    return {
        "symbols": held,
        "orders": len(latencies),
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[max(0, math.ceil(len(latencies) * 0.99) - 1)], 3),
        "redis_rtt_ms": round(rtt, 3),
    }


def _table(run: dict[str, Any], bars: int) -> tuple[dict[str, float], float]:
    per_hour = {k: _per_hour(v, bars) for k, v in run["cpu_seconds_bars"].items()}
    total = sum(per_hour.values())
    print(f"\n{'process':<18}{'CPU s/mkt h':>12}{'share':>8}{'start-up CPU s':>16}")
    for name, value in sorted(per_hour.items(), key=lambda kv: -kv[1]):
        start_up = run["cpu_seconds"][name] - run["cpu_seconds_bars"][name]
        share = value / total if total else 0.0
        print(f"{name:<18}{value:>12.2f}{share:>8.1%}{start_up:>16.2f}")
    print(f"{'total':<18}{total:>12.2f}")
    return per_hour, total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=400, help="perpetuals (1–999)")
    parser.add_argument("--hours", type=float, default=1.0, help="market hours of 1m bars")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--apply-sizes", default="25,100,200,400", help="symbols one apply layer holds"
    )
    args = parser.parse_args()
    if args.hours <= 0:
        parser.error("--hours must be positive, e.g. --hours 1")
    sizes = sorted({int(x) for x in args.apply_sizes.split(",") if x.strip()})
    universe = scale_universe(max(args.symbols, *sizes))
    system = ScaleUniverse(
        {s: universe.instruments[s] for s in universe.symbols[: args.symbols]},
        {s: universe.specs[s] for s in universe.symbols[: args.symbols]},
    )
    n = len(system.symbols)
    print(f"system: {n} symbols x 1m bars, {args.hours:g} market hours, stepped", file=sys.stderr)
    wall = time.monotonic()
    run = await system_run(system, args.hours, args.seed)
    wall = time.monotonic() - wall
    bars = int(run["cpu_bars"])
    print(
        f"\n{n} symbols, {bars} bars counted (after the first), run {wall:.0f} s wall, "
        f"{len(run['stalled_bars'])} stalled bars, {run['violations_total']} violations, "
        f"{run['trades']['entry_orders']} entry orders"
    )
    per_hour, total = _table(run, bars)
    bare = await bare_cost(system, bars, args.seed)
    bare_hour = _per_hour(bare["client"] + bare["redis"], bars)
    feed = await feed_cost(system, bars, args.seed)
    feed_hour = _per_hour(feed["client"], bars)
    print(
        f"\nbare loop, {bars * n:,} bar messages: XADD + XREADGROUP + XACK x "
        f"{bare['groups']:.0f} groups   {bare_hour:.2f} CPU s/mkt h "
        f"(loop {_per_hour(bare['client'], bars):.2f} + redis {_per_hour(bare['redis'], bars):.2f})"
    )
    print(
        f"feed alone (bar messages + XADD, no exchange)   {feed_hour:.2f} CPU s/mkt h "
        f"(+ redis {_per_hour(feed['redis'], bars):.2f})"
    )
    print(f"system / bare: {total / bare_hour:.1f}x" if bare_hour else "system / bare: n/a")
    print("\napply layer: plan taken → entry order submitted")
    latency = []
    for held in sizes:
        row = await apply_latency(universe, held)
        latency.append(row)
        print(
            f"  {held:>4} symbols   p50 {row['p50_ms']:.3f} ms   p99 {row['p99_ms']:.3f} ms"
            f"   ({row['orders']} orders, redis rtt {row['redis_rtt_ms']:.3f} ms)"
        )
    within = [r["symbols"] for r in latency if r["p99_ms"] < P99_BUDGET_MS]
    largest = max(within) if within else 0
    print(f"  largest symbol count with p99 < {P99_BUDGET_MS:g} ms: {largest or 'none'}")
    report(
        "scale_symbols",
        total,
        bare_hour,
        "CPU s per market hour (system vs bare XADD+XREADGROUP+XACK)",
        symbols=n,
        market_hours=args.hours,
        bars_counted=bars,
        wall_s=round(wall, 1),
        cpu_s_per_market_hour={k: round(v, 3) for k, v in per_hour.items()},
        start_up_cpu_s={
            k: round(run["cpu_seconds"][k] - run["cpu_seconds_bars"][k], 3) for k in per_hour
        },
        feed_cpu_s_per_market_hour=round(feed_hour, 3),
        stalled_bars=len(run["stalled_bars"]),
        violations=run["violations_total"],
        apply_latency=latency,
        apply_p99_under_2ms_symbols=largest,
    )


if __name__ == "__main__":
    asyncio.run(main())
