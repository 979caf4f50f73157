"""Bus throughput: N small messages published → consumed → acknowledged through our bus,
beside a raw redis-py XADD / XREADGROUP / XACK loop with the same batching, same run."""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import redis.asyncio as aioredis
from _common import redis_server, report

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import MarketBar, Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SystemClock

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
PUBLISH_BATCH = 1_000
READ_BATCH = 100


def message(i: int) -> MarketBar:
    return MarketBar(
        msg_id=str(i),
        ts_event=i,
        ts_init=i,
        source="bench",
        symbol="BTCUSDT",
        interval="1m",
        open_time=i * 60_000,
        close_time=i * 60_000 + 59_999,
        open=Decimal("64000.1"),
        high=Decimal("64010.0"),
        low=Decimal("63990.0"),
        close=Decimal("64000.0"),
        volume=Decimal("12.5"),
    )


async def ours(client: aioredis.Redis) -> float:
    keys = Keys("bench-ours:")
    bus = Bus(RedisTransport(client), SystemClock(), keys, maxlen=None)
    count = 0

    async def handle(msg: Message, delivery: Delivery) -> None:
        nonlocal count
        count += 1

    consumer = StreamConsumer(
        bus,
        [keys.market],
        "bench",
        "c1",
        handle,
        config=ConsumerConfig(batch=READ_BATCH, block_ms=0, reclaim_interval_ms=10**9),
    )
    await consumer.start()
    msgs = [message(i) for i in range(N)]
    t0 = time.perf_counter()
    for i in range(0, N, PUBLISH_BATCH):
        await bus.publish_many(keys.market, msgs[i : i + PUBLISH_BATCH])
    while count < N:
        await consumer.poll(0)
    elapsed = time.perf_counter() - t0
    assert await bus.transport.pending_count(keys.market, "bench") == 0
    return N / elapsed


async def baseline(client: aioredis.Redis) -> float:
    stream = "bench-raw:stream"
    await client.xgroup_create(stream, "bench", id="0", mkstream=True)
    payload = b'{"mark_price":"64000.1"}'
    t0 = time.perf_counter()
    for i in range(0, N, PUBLISH_BATCH):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(min(PUBLISH_BATCH, N - i)):
                pipe.xadd(stream, {b"msg": payload})
            await pipe.execute()
    got = 0
    while got < N:
        reply = await client.xreadgroup("bench", "c1", {stream: ">"}, count=READ_BATCH)
        ids = [entry_id for _, entries in reply for entry_id, _ in entries]
        got += len(ids)
        await client.xack(stream, "bench", *ids)
    return N / (time.perf_counter() - t0)


async def main() -> None:
    server = redis_server()
    try:
        client = aioredis.Redis.from_url(server.url)
        base = await baseline(client)
        mine = await ours(client)
        await client.aclose()
    finally:
        server.stop()
    print(f"raw redis-py loop : {base:>10,.0f} msg/s")
    print(f"quantum bus       : {mine:>10,.0f} msg/s  (publish → decode → handle → ack)")
    report("bus_throughput", mine, base, "messages/s", messages=N)


if __name__ == "__main__":
    asyncio.run(main())
