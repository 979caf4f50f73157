"""The supervisor fails safe: an exit-path service that stops beating switches entries
off (REDUCE_ONLY, reason service_down:<name>) until it is healthy again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import redis.asyncio as aioredis

from quantum_trader.bootstrap import system_parts
from quantum_trader.bus.codec import decode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Event, Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.config import load_settings
from quantum_trader.runtime.supervisor import ServiceSpec, Supervisor
from quantum_trader.services.journal import Journal
from quantum_trader.services.runtime import RedisHealthWriter, ServiceRuntime
from tests.integration.apply.rig import PRICES, make_rig


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


async def test_panic_flatten_closes_every_position_once_when_no_exit_path_works(
    redis_client: aioredis.Redis, keys: Keys, tmp_path: Path
) -> None:
    rig = await make_rig(redis_client, keys)
    c = rig.consumer("opener")
    await c.start()
    for n, symbol in enumerate(("ETHUSDT", "SOLUSDT")):
        await rig.bus.publish(keys.apply_plan, rig.open_plan(symbol, n))
    await rig.drain(c)
    assert len(await rig.exchange.positions()) == 2
    parts = system_parts(
        load_settings(data_dir=tmp_path),
        exchange=rig.exchange,
        bus=rig.bus,
        redis=redis_client,
        clock=rig.clock,
        instruments=rig.layer.instruments,
        symbols=list(PRICES),
        journal=Journal(f"sqlite:///{tmp_path / 'j.sqlite'}"),
    )

    def always_down() -> ServiceRuntime:
        async def crash(stop: asyncio.Event) -> None:
            raise RuntimeError("apply layer cannot start")

        consumer = StreamConsumer(rig.bus, [keys.apply_plan], "apply-layer", "a", parts.flatten)  # type: ignore[arg-type]
        consumer.run = crash  # type: ignore[method-assign]
        return ServiceRuntime(
            "apply-layer",
            rig.clock,
            keys,
            RedisHealthWriter(redis_client),
            consumers=[consumer],
            heartbeat_interval_s=0.02,
        )

    supervisor = Supervisor(
        [ServiceSpec("apply-layer", always_down)],
        redis_client,
        rig.bus,
        down_after_ms=100,
        watch_interval_s=0.02,
        backoff_initial_s=0.05,
        backoff_max_s=0.05,
        panic_flatten_after_s=0.3,
        flatten=parts.flatten,
    )
    task = asyncio.create_task(supervisor.run())
    last = ["0-0"]
    try:
        event = await next_event(redis_client, keys, last, lambda e: e.kind == "panic_flatten")
        assert "closed 2 positions" in event.detail
        await next_event(redis_client, keys, last, lambda e: e.kind == "service_restart")
    finally:
        supervisor.stop()
        await task
    assert [p for p in await rig.exchange.positions() if p.qty > 0] == []
    flattens = [e for e in await rig.events() if e.kind == "panic_flatten"]
    assert len(flattens) == 1  # once, not on every watch round
    parts.journal.close()
