"""The supervisor, the service runtime and the consumers time restarts, backoff, crash
loops, silence and heartbeats on a clock they are given: here a simulated one, moved by
the test, so every duration is exact and nothing waits for real time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SimClock
from quantum_trader.runtime.supervisor import ServiceSpec, Supervisor
from quantum_trader.services.runtime import MemoryHealthWriter, RedisHealthWriter, ServiceRuntime

T0 = 1_700_000_000_000


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the loop run (Redis replies in flight) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0)


async def settle(rounds: int = 200) -> None:
    """Give every ready task its turn, so a test can show that nothing more happens."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def clocks_and_bus(redis: aioredis.Redis, keys: Keys) -> tuple[SimClock, Bus]:
    """The timer the test moves, and a bus on a market clock of its own (standing still)."""
    return SimClock(T0), Bus(RedisTransport(redis), SimClock(T0), keys)


async def handle(message: Message, delivery: Delivery) -> None:
    return None


def service(bus: Bus, timer: SimClock, name: str, crash: Callable[[], object]) -> ServiceRuntime:
    """A service whose one consumer loop runs ``crash`` (a coroutine that raises)."""
    consumer = StreamConsumer(bus, [bus.keys.market], name, f"{name}-1", handle)

    async def run(stop: asyncio.Event) -> None:
        await crash()  # type: ignore[misc]

    consumer.run = run  # type: ignore[method-assign]
    return ServiceRuntime(name, bus.clock, bus.keys, MemoryHealthWriter(), [consumer], timer=timer)


def supervisor_for(
    bus: Bus, redis: aioredis.Redis, timer: SimClock, build: Callable[[], ServiceRuntime]
) -> Supervisor:
    return Supervisor(
        [ServiceSpec("apply-layer", build)],
        redis,
        bus,
        timer=timer,
        backoff_initial_s=0.05,
        backoff_max_s=0.4,
        crash_loop_restarts=5,
        crash_loop_window_s=60,
        watch_interval_s=3600,  # out of the way: the tests call check_health themselves
    )


async def test_restart_backoff_doubles_to_its_cap_and_a_crash_loop_is_reported_on_the_clock(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    timer, bus = clocks_and_bus(redis_client, keys)

    async def at_once() -> None:
        raise RuntimeError("cannot start")

    supervisor = supervisor_for(
        bus, redis_client, timer, lambda: service(bus, timer, "apply-layer", at_once)
    )
    record = supervisor.records["apply-layer"]
    task = asyncio.create_task(supervisor.run())
    wakes = []
    try:
        for restarts in range(1, 7):
            await until(lambda n=restarts: record.restarts == n, f"restart {restarts}")
            await until(lambda: timer.next_deadline() not in (None, T0 + 3_600_000), "backoff")
            wake = timer.next_deadline()
            assert wake is not None
            wakes.append(wake - T0)
            timer.set(wake - 1)
            await settle()
            assert record.restarts == restarts  # not one millisecond early
            assert record.crash_loop is (restarts >= 5)
            timer.set(wake)
    finally:
        supervisor.stop()
        await asyncio.wait_for(task, 10)
    # 50, 100, 200, 400 ms, then capped at 400: each wake is the last one plus the pause.
    assert wakes == [50, 150, 350, 750, 1150, 1550]
    reported = [e for e in await bus_events(redis_client, keys) if e == "crash_loop"]
    assert reported == ["crash_loop"]  # once, when it began


async def test_a_service_that_ran_longer_than_the_window_restarts_after_the_first_pause(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    timer, bus = clocks_and_bus(redis_client, keys)
    builds = 0

    async def crash() -> None:
        if builds == 4:  # the fourth start runs 61 s, then fails
            await timer.sleep(61)
        raise RuntimeError("failed")

    def build() -> ServiceRuntime:
        nonlocal builds
        builds += 1
        runtime = service(bus, timer, "apply-layer", crash)
        runtime.heartbeat_interval_s = 3600
        return runtime

    supervisor = supervisor_for(bus, redis_client, timer, build)
    record = supervisor.records["apply-layer"]
    task = asyncio.create_task(supervisor.run())
    try:
        for wake in (50, 150, 350):
            await until(lambda at=wake: timer.next_deadline() == T0 + at, f"pause until {wake}")
            timer.set(T0 + wake)
        await until(lambda: timer.next_deadline() == T0 + 350 + 61_000, "the long run")
        timer.set(T0 + 61_350)
        # A fresh failure: 50 ms, not the 400 ms the earlier crashes had reached.
        await until(lambda: timer.next_deadline() == T0 + 61_400, "the first pause again")
        assert record.restarts == 4 and not record.crash_loop
    finally:
        supervisor.stop()
        await asyncio.wait_for(task, 10)


async def test_silence_counts_on_the_clock_and_the_fail_safe_lifts_on_the_next_beat(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    timer, bus = clocks_and_bus(redis_client, keys)
    supervisor = Supervisor(
        [ServiceSpec("exit-brain", lambda: service(bus, timer, "exit-brain", handle_never))],
        redis_client,
        bus,
        timer=timer,
        down_after_ms=5_000,
    )
    assert await supervisor.check_health() == ()  # silent since now
    timer.advance(4.999)
    assert await supervisor.check_health() == ()
    assert not await redis_client.exists(keys.risk_supervisor)
    timer.advance(0.001)
    assert await supervisor.check_health() == ("service_down:exit-brain",)
    assert await redis_client.exists(keys.risk_supervisor)
    brain = ServiceRuntime("exit-brain", bus.clock, keys, RedisHealthWriter(redis_client))
    brain.status = "running"
    await brain.beat()
    assert await supervisor.check_health() == ()
    assert not await redis_client.exists(keys.risk_supervisor)


async def test_a_consumer_loop_that_stops_turning_is_stalled_after_the_ttl_on_the_timer(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    timer, bus = clocks_and_bus(redis_client, keys)
    consumer = StreamConsumer(
        bus, [keys.market], "exit-brain", "eb-1", handle, config=ConsumerConfig(block_ms=0)
    )
    runtime = ServiceRuntime(
        "exit-brain",
        bus.clock,
        keys,
        MemoryHealthWriter(),
        [consumer],
        heartbeat_ttl_ms=500,
        timer=timer,
    )
    consumer.timer = timer
    await consumer.start()
    await consumer.poll()
    timer.advance(0.5)
    assert runtime.stalled() == []
    timer.advance(0.001)
    assert runtime.stalled() == ["exit-brain"]
    await consumer.poll()
    assert runtime.stalled() == []


async def test_reconnect_backoff_waits_on_the_timer_and_ends_at_once_on_stop(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    timer, bus = clocks_and_bus(redis_client, keys)
    consumer = StreamConsumer(bus, [keys.market], "exit-brain", "eb-1", handle, timer=timer)
    failures = 0

    async def no_redis(block_ms: int | None = None) -> int:
        nonlocal failures
        failures += 1
        raise ConnectionError("Redis is restarting")

    consumer.poll = no_redis  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await until(lambda: timer.next_deadline() == T0 + 50, "the first reconnect pause")
    assert failures == 1 and consumer.stats.reconnects == 1
    timer.set(T0 + 50)
    await until(lambda: timer.next_deadline() == T0 + 150, "the pause doubled")
    assert failures == 2
    stop.set()
    await asyncio.wait_for(task, 10)  # not parked until the clock moves


async def handle_never() -> None:
    raise AssertionError("not started in this test")


async def bus_events(redis: aioredis.Redis, keys: Keys) -> list[str]:
    from quantum_trader.bus.codec import decode
    from quantum_trader.bus.schemas import Event

    kinds = []
    for _, fields in await redis.xrange(keys.events):
        event = decode(fields[b"msg"])
        if isinstance(event, Event):
            kinds.append(event.kind)
    return kinds
