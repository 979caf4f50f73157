"""The supervisor fails safe: an exit-path service that stops beating switches entries
off (REDUCE_ONLY, reason service_down:<name>) until it is healthy again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio as aioredis

from quantum_trader.bus.codec import decode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Event, Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.ops.supervisor import ServiceSpec, Supervisor
from quantum_trader.services.runtime import RedisHealthWriter, ServiceRuntime
from tests.integration.apply.rig import make_rig


async def next_event(
    redis: aioredis.Redis,
    keys: Keys,
    last: list[str],
    match: Callable[[Event], bool],
    timeout_s: float = 10.0,
) -> Event:
    """Block on the events stream (XREAD BLOCK) until an event matches."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        reply = await redis.xread({keys.events: last[0]}, block=100, count=100)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last[0] = entry_id
                event = decode(fields[b"msg"])
                if isinstance(event, Event) and match(event):
                    return event
    raise AssertionError("no matching event in time")


async def test_exit_brain_down_switches_to_reduce_only_and_back_after_restart(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    rig = await make_rig(redis_client, keys, cooldown_ms=0)
    broken = {"on": False}

    async def handle(message: Message, delivery: Delivery) -> None:
        return None

    def build() -> ServiceRuntime:
        consumer = StreamConsumer(
            rig.bus, [keys.market], "exit-brain", "eb-1", handle, config=ConsumerConfig(block_ms=20)
        )
        if broken["on"]:

            async def crash(stop: asyncio.Event) -> None:
                raise RuntimeError("exit brain crashed at start")

            consumer.run = crash  # type: ignore[method-assign]
        return ServiceRuntime(
            "exit-brain",
            rig.clock,
            keys,
            RedisHealthWriter(redis_client),
            consumers=[consumer],
            heartbeat_interval_s=0.02,
            heartbeat_ttl_ms=150,
        )

    supervisor = Supervisor(
        [ServiceSpec("exit-brain", build)],
        redis_client,
        rig.bus,
        down_after_ms=300,
        watch_interval_s=0.02,
        backoff_initial_s=0.2,
        backoff_max_s=0.2,
    )
    task = asyncio.create_task(supervisor.run())
    last = ["0-0"]
    try:
        await next_event(redis_client, keys, last, lambda e: e.kind == "service_started")
        broken["on"] = True
        supervisor.kill("exit-brain")
        down = await next_event(
            redis_client,
            keys,
            last,
            lambda e: (
                e.kind == "risk_mode_changed"
                and e.risk_mode is not None
                and e.risk_mode.value == "REDUCE_ONLY"
            ),
        )
        assert "service_down:exit-brain" in down.detail
        restarted = await next_event(
            redis_client, keys, last, lambda e: e.kind == "service_restart"
        )
        assert "exit-brain" in restarted.detail

        c = rig.consumer("apply-1")
        await c.start()
        await rig.bus.publish(keys.apply_plan, rig.open_plan("ETHUSDT", 1))
        await rig.drain(c)
        (skipped,) = await rig.results()
        assert (skipped.executed, skipped.reason) == (False, "risk_reduce_only")

        broken["on"] = False  # the next restart comes up healthy
        await next_event(
            redis_client,
            keys,
            last,
            lambda e: (
                e.kind == "risk_mode_changed"
                and e.risk_mode is not None
                and e.risk_mode.value == "NORMAL"
            ),
        )
        assert not await redis_client.exists(keys.risk_supervisor)
        await rig.bus.publish(keys.apply_plan, rig.open_plan("ETHUSDT", 2))
        await rig.drain(c)
        assert [r.executed for r in await rig.results()] == [False, True]
        assert supervisor.records["exit-brain"].restarts >= 2
    finally:
        supervisor.stop()
        await task
