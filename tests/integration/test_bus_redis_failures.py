"""Redis-only failure modes: a restart under running consumers, and a key of the wrong type."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import decode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import RedisEffectStore, SetKey
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import DeadLetter, Message, Plan
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SystemClock
from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.services.runtime import MemoryHealthWriter, ServiceRuntime


def plan(n: int) -> Plan:
    return Plan(
        msg_id=f"m{n}",
        ts_event=n,
        ts_init=n,
        source="test",
        plan_id=f"plan-{n}",
        kind=PlanKind.OPEN,
        symbol="ETHUSDT",
        side=PositionSide.SHORT,
        action=PlanAction.OPEN,
        qty=Decimal("0.01"),
        stop_price=Decimal("3100"),
        created_at=n,
        expires_at=n + 60_000,
    )


async def test_consumers_survive_a_redis_restart_and_lose_nothing(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r", fsync="always").start()
    keys, clock = Keys("restart:"), SystemClock()
    client = aioredis.Redis.from_url(server.url, socket_connect_timeout=1)
    bus = Bus(RedisTransport(client), clock, keys)
    effects = RedisEffectStore(client, keys)
    seen: list[str] = []
    done = asyncio.Event()

    async def handle(message: Message, delivery: Delivery) -> None:
        assert isinstance(message, Plan)
        if await effects.apply_once(
            message.plan_id, [SetKey(keys.prefix + "last", message.plan_id)]
        ):
            seen.append(message.plan_id)
        if len(seen) == 100:
            done.set()

    workers = [
        StreamConsumer(
            bus,
            [keys.apply_plan],
            "apply-layer",
            f"w{i}",
            handle,
            config=ConsumerConfig(
                block_ms=50, reclaim_idle_ms=200, reclaim_interval_ms=100, max_backoff_s=0.2
            ),
        )
        for i in range(2)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        await bus.publish_many(keys.apply_plan, [plan(i) for i in range(50)])
        server.restart()  # same port, same AOF directory
        publisher = aioredis.Redis.from_url(server.url)
        await Bus(RedisTransport(publisher), clock, keys).publish_many(
            keys.apply_plan, [plan(i) for i in range(50, 100)]
        )
        await publisher.aclose()
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await client.aclose()
        server.stop()
    assert sorted(seen) == sorted(f"plan-{i}" for i in range(100))
    assert len(seen) == 100
    assert sum(w.stats.reconnects for w in workers) >= 1


async def test_key_of_the_wrong_redis_type_dead_letters_and_the_service_keeps_running(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    clock = SystemClock()
    bus = Bus(RedisTransport(redis_client), clock, keys)
    handled: list[str] = []

    async def read_position(message: Message, delivery: Delivery) -> None:
        assert isinstance(message, Plan)
        await redis_client.hgetall(keys.position(message.symbol))  # WRONGTYPE if a string
        handled.append(message.plan_id)

    c = StreamConsumer(
        bus,
        [keys.apply_plan],
        "g",
        "c",
        read_position,
        config=ConsumerConfig(block_ms=0, max_failures=2),
    )
    await c.start()
    await redis_client.set(keys.position("ETHUSDT"), "not a hash")
    await bus.publish(keys.apply_plan, plan(1))
    for _ in range(3):
        await c.poll(0)
    await redis_client.delete(keys.position("ETHUSDT"))
    await bus.publish(keys.apply_plan, plan(2))
    await c.poll(0)
    assert handled == ["plan-2"]
    ((_, fields),) = await redis_client.xrange(keys.dead)
    letter = decode(fields[b"msg"])
    assert isinstance(letter, DeadLetter) and "WRONGTYPE" in letter.reason


async def test_runtime_heartbeats_counts_and_reports_a_dead_loop(keys: Keys) -> None:
    from quantum_trader.bus.memory_transport import MemoryTransport
    from quantum_trader.services.runtime import ServiceLoopEnded

    clock = SystemClock()
    bus = Bus(MemoryTransport(clock.now_ms), clock, keys)
    health = MemoryHealthWriter()

    async def explode(message: Message, delivery: Delivery) -> None:
        raise ConnectionResetError("socket gone for good")

    c = StreamConsumer(
        bus,
        [keys.apply_plan],
        "g",
        "c",
        explode,
        config=ConsumerConfig(block_ms=10, max_backoff_s=0.01),
    )
    runtime = ServiceRuntime(
        "apply-layer", clock, keys, health, consumers=[c], heartbeat_interval_s=0.01
    )
    task = asyncio.create_task(runtime.run())
    await bus.publish(keys.apply_plan, plan(1))
    await asyncio.wait_for(_until(lambda: keys.health("apply-layer") in health.beats), 5)
    runtime.stop_event.set()
    await asyncio.wait_for(task, 5)
    beat = decode(health.beats[keys.health("apply-layer")])
    assert beat.status == "stopped"  # type: ignore[union-attr]
    assert c.stats.reconnects >= 1

    async def boom() -> None:
        raise RuntimeError("consumer crashed")

    c2 = StreamConsumer(bus, [keys.apply_plan], "g2", "c", explode)
    c2.run = lambda stop: boom()  # type: ignore[method-assign,assignment]
    dead = ServiceRuntime("exit-brain", clock, keys, health, consumers=[c2])
    try:
        await asyncio.wait_for(dead.run(), 5)
    except ServiceLoopEnded as exc:
        assert "consumer crashed" in str(exc)
    else:
        raise AssertionError("a dead loop must be reported")


async def _until(condition: object) -> None:
    while not condition():  # type: ignore[operator]
        await asyncio.sleep(0)


async def test_a_store_refusing_writes_is_an_outage_not_a_bad_message(
    own_redis_client: aioredis.Redis,
) -> None:
    """Out of memory (``noeviction``): the handler's write fails; the message is neither
    counted as a failure nor dead-lettered — it stays pending and is handled once Redis
    takes writes again."""
    client, keys = own_redis_client, Keys("oom:")
    bus = Bus(RedisTransport(client), SystemClock(), keys)
    effects = RedisEffectStore(client, keys)
    seen: list[str] = []

    async def handle(message: Message, delivery: Delivery) -> None:
        assert isinstance(message, Plan)
        if await effects.apply_once(message.plan_id, [SetKey(keys.prefix + "x", "1")]):
            seen.append(message.plan_id)

    consumer = StreamConsumer(
        bus, [keys.apply_plan], "apply-layer", "w", handle, config=ConsumerConfig(max_failures=1)
    )
    await consumer.start()
    await bus.publish_many(keys.apply_plan, [plan(1), plan(2)])
    await client.config_set("maxmemory", "1")
    for _ in range(3):  # more than max_failures: a handler bug would be dead-lettered now
        try:
            await consumer.poll(block_ms=10)
        except Exception as exc:
            assert "OOM" in str(exc)
    assert seen == [] and consumer.stats.failed == 0
    assert await client.xlen(keys.dead) == 0
    assert await client.hlen(keys.bus_failures) == 0
    await client.config_set("maxmemory", "0")
    await consumer.poll(block_ms=10)
    assert seen == ["plan-1", "plan-2"]
    assert await client.xpending(keys.apply_plan, "apply-layer") == {
        "pending": 0, "min": None, "max": None, "consumers": [],
    }  # fmt: skip
