"""The metrics service's scrape: Redis holding a day's worth of streams (bars, results,
repair events, dead letters), the exporter's ``/metrics`` body built again and again with
a few new entries between scrapes — beside the same scrape re-reading the tallied streams
in full every time (what reading them without a cursor costs), same run."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import redis.asyncio as aioredis
from _common import redis_server, report
from prometheus_client import CollectorRegistry, generate_latest

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import ApplyResult, Event
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SimClock
from quantum_trader.domain.enums import PlanAction
from quantum_trader.observability.metrics_redis import RedisCollector
from quantum_trader.ops.service_main import SERVICES

RESULTS = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
SCRAPES = 30
T0 = 1_700_000_000_000


def result(n: int) -> ApplyResult:
    return ApplyResult(
        msg_id=f"r{n}", ts_event=T0, ts_init=T0, source="bench", plan_id=f"p{n}",
        symbol="BTCUSDT", action=PlanAction.FULL_CLOSE if n % 2 else PlanAction.OPEN,
        executed=True, reason="executed", client_order_id=f"x{n}",
    )  # fmt: skip


def repair(n: int) -> Event:
    return Event(
        msg_id=f"e{n}", ts_event=T0, ts_init=T0, source="bench", kind="reconcile_repair",
        evidence={"repair": "DropGhost"},
    )  # fmt: skip


async def grow(bus: Bus, redis: aioredis.Redis, start: int, count: int) -> None:
    keys = bus.keys
    await bus.publish_many(keys.apply_result, [result(n) for n in range(start, start + count)])
    await redis.hset(
        keys.exit_latency, mapping={f"x{n}": "120" for n in range(start, start + count)}
    )
    await bus.publish_many(keys.events, [repair(n) for n in range(start, start + count // 4)])
    for n in range(start, start + max(1, count // 20)):
        delivery = Delivery(keys.fills, f"{n}-0", b"garbage")
        await bus.dead_letter(delivery, group="ledger", consumer="c", reason="not JSON", failures=0)


async def scrape_ms(collector: RedisCollector, registry: CollectorRegistry) -> float:
    started = time.perf_counter()
    await collector.refresh()
    generate_latest(registry)
    return (time.perf_counter() - started) * 1000


async def main() -> None:
    server = redis_server()
    redis = aioredis.Redis.from_url(server.url)
    keys = Keys("bench:")
    bus = Bus(RedisTransport(redis), SimClock(T0), keys, None)
    try:
        await grow(bus, redis, 0, RESULTS)
        ours, full = RedisCollector(redis, keys, SERVICES), RedisCollector(redis, keys, SERVICES)
        registries = []
        for c in (ours, full):
            registry = CollectorRegistry()
            registry.register(c)
            registries.append(registry)
        first = await scrape_ms(ours, registries[0])
        timings: dict[str, list[float]] = {"ours": [], "full": []}
        for n in range(SCRAPES):
            await grow(bus, redis, RESULTS + n * 20, 20)
            timings["ours"].append(await scrape_ms(ours, registries[0]))
            for tally in full.state.tallies.tallies:  # forget the cursors: read it all again
                tally.cursor = "0-0"
                tally.reset()
            timings["full"].append(await scrape_ms(full, registries[1]))
        p50 = {k: statistics.median(v) for k, v in timings.items()}
        print(f"first scrape (catching up {RESULTS:,} results): {first:.1f} ms")
        print(f"scrape p50: incremental {p50['ours']:.2f} ms, re-reading {p50['full']:.2f} ms")
        report(
            "metrics_scrape", p50["ours"], p50["full"], "ms per scrape (p50)",
            results=RESULTS, scrapes=SCRAPES, first_scrape_ms=round(first, 1),
        )  # fmt: skip
    finally:
        await redis.aclose()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
