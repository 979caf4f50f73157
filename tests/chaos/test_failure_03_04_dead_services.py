"""FAILURES #3 and #4.

#3 "an executor dead for 17 h, crash-loops (6,568 restarts), unnoticed" — no heartbeat
watchdog, no alert, no fail-safe.
#4 "consumer loops stopped while the process looked alive; messages stuck pending on a
dead consumer; group broken after a Redis restart" — no reclaim (XAUTOCLAIM), no
reconnect, loop exit not treated as fatal.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.schemas import Message, Plan
from quantum_trader.bus.transport import Delivery
from quantum_trader.domain.enums import PlanAction
from quantum_trader.runtime.supervisor import ServiceRecord, ServiceSpec, Supervisor
from quantum_trader.services.runtime import (
    MemoryHealthWriter,
    RedisHealthWriter,
    ServiceLoopEnded,
    ServiceRuntime,
)
from tests.chaos.conftest import open_position
from tests.integration.apply.rig import ApplyRig


async def test_failure_03_crash_looping_executor_is_restarted_reported_and_fails_safe(
    rig: ApplyRig,
) -> None:
    position = await open_position(rig, "SOLUSDT")
    builds = 0
    looping = asyncio.Event()

    def build() -> ServiceRuntime:
        nonlocal builds
        builds += 1
        if builds >= 4:
            looping.set()
        consumer = rig.consumer(f"crashing-{builds}")

        async def crash(stop: asyncio.Event) -> None:
            raise RuntimeError("executor crashed on start")

        consumer.run = crash  # type: ignore[method-assign]
        # Its heartbeat never reaches Redis: the supervisor sees a silent service.
        return ServiceRuntime(
            "apply-layer",
            rig.clock,
            rig.keys,
            MemoryHealthWriter(),
            consumers=[consumer],
            heartbeat_interval_s=0,
        )

    supervisor = Supervisor(
        [ServiceSpec("apply-layer", build)],
        rig.redis,
        rig.bus,
        down_after_ms=0,
        backoff_initial_s=0,
        backoff_max_s=0,
        crash_loop_restarts=3,
        watch_interval_s=0,
    )
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(looping.wait(), 10)
        down = await supervisor.check_health()
    finally:
        supervisor.stop()
        await asyncio.wait_for(task, 10)
    assert supervisor.restarts >= 3 and supervisor.records["apply-layer"].crash_loop
    assert down == ("service_down:apply-layer",)
    state = json.loads(await rig.redis.get(rig.keys.risk_supervisor))
    assert state["mode"] == "REDUCE_ONLY" and state["reasons"] == ["service_down:apply-layer"]
    kinds = [e.kind for e in await rig.events()]
    assert "crash_loop" in kinds and "service_restart" in kinds
    assert "risk_mode_changed" in kinds
    (loop_event,) = [e for e in await rig.events() if e.kind == "crash_loop"]
    assert loop_event.severity == "critical" and "executor crashed" in loop_event.detail

    # Fail-safe: entries stop, exits go on.
    c = rig.consumer("healthy")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan("ETHUSDT", 5))
    await rig.bus.publish(
        rig.keys.apply_exit,
        rig.close_plan("SOLUSDT", position.position_id, PlanAction.FULL_CLOSE),
    )
    await rig.drain(c)
    by_action = {r.action: r for r in await rig.results()}
    assert by_action[PlanAction.OPEN].reason == "risk_reduce_only"
    assert by_action[PlanAction.FULL_CLOSE].executed


async def test_failure_03_heartbeat_watchdog_flags_a_silent_service_and_lifts_on_recovery(
    rig: ApplyRig,
) -> None:
    def never_started() -> ServiceRuntime:
        raise AssertionError("not run in this test")

    supervisor = Supervisor(
        [ServiceSpec("exit-brain", never_started)], rig.redis, rig.bus, down_after_ms=0
    )
    supervisor.records = {"exit-brain": ServiceRecord(supervisor.specs[0])}
    brain = ServiceRuntime("exit-brain", rig.clock, rig.keys, RedisHealthWriter(rig.redis))
    brain.status = "running"
    await brain.beat()
    assert await supervisor.check_health() == ()
    assert not await rig.redis.exists(rig.keys.risk_supervisor)
    await rig.redis.delete(rig.keys.health("exit-brain"))  # the heartbeat TTL ran out
    assert await supervisor.check_health() == ("service_down:exit-brain",)
    assert await rig.redis.exists(rig.keys.risk_supervisor)
    await brain.beat()
    assert await supervisor.check_health() == ()
    assert not await rig.redis.exists(rig.keys.risk_supervisor)
    modes = [e.risk_mode for e in await rig.events() if e.kind == "risk_mode_changed"]
    assert [m.value for m in modes if m] == ["REDUCE_ONLY", "NORMAL"]


def _plan(rig: ApplyRig, n: int) -> Plan:
    return rig.open_plan("ETHUSDT", n)


async def test_failure_04_pending_on_a_dead_consumer_is_reclaimed_by_a_live_one(
    rig: ApplyRig,
) -> None:
    stream, seen = rig.keys.apply_plan, []

    async def handle(message: Message, delivery: Delivery) -> None:
        assert isinstance(message, Plan)
        seen.append(message.plan_id)

    async def die(message: Message, delivery: Delivery) -> None:
        raise ConnectionResetError("process killed mid-message")

    def consumer(name: str, handler: object, idle_ms: int) -> StreamConsumer:
        return StreamConsumer(
            rig.bus,
            [stream],
            "g",
            name,
            handler,  # type: ignore[arg-type]
            config=ConsumerConfig(block_ms=0, reclaim_idle_ms=idle_ms, reclaim_interval_ms=0),
        )

    dead = consumer("dead", die, 3_600_000)
    await dead.start()
    await rig.bus.publish_many(stream, [_plan(rig, n) for n in range(3)])
    with pytest.raises(ConnectionResetError):
        await dead.poll(0)
    assert await rig.bus.transport.pending_count(stream, "g") == 3  # stuck on "dead"

    live = consumer("live", handle, 0)  # idle threshold already passed
    await live.start()
    while await live.poll(0):
        pass
    assert live.stats.reclaimed == 3
    assert sorted(seen) == sorted(_plan(rig, n).plan_id for n in range(3))
    assert await rig.bus.transport.pending_count(stream, "g") == 0


async def test_failure_04_group_destroyed_under_a_running_loop_is_recreated(
    rig: ApplyRig,
) -> None:
    stream, seen = rig.keys.apply_plan, asyncio.Event()

    async def handle(message: Message, delivery: Delivery) -> None:
        seen.set()

    c = StreamConsumer(rig.bus, [stream], "g", "c1", handle, config=ConsumerConfig(block_ms=20))
    await c.start()
    await rig.redis.xgroup_destroy(stream, "g")  # what a Redis restart without AOF does
    stop = asyncio.Event()
    task = asyncio.create_task(c.run(stop))
    await rig.bus.publish(stream, _plan(rig, 1))
    try:
        await asyncio.wait_for(seen.wait(), 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    groups = await rig.redis.xinfo_groups(stream)
    assert [g["name"] for g in groups] in (["g"], [b"g"])
    assert await rig.bus.transport.pending_count(stream, "g") == 0


async def test_failure_04_a_consumer_loop_that_dies_ends_the_service_loudly(
    rig: ApplyRig,
) -> None:
    c = rig.consumer("c1")

    async def died(stop: asyncio.Event) -> None:
        raise RuntimeError("loop exited")

    c.run = died  # type: ignore[method-assign]
    runtime = ServiceRuntime(
        "apply-layer", rig.clock, rig.keys, MemoryHealthWriter(), consumers=[c]
    )
    with pytest.raises(ServiceLoopEnded, match="loop exited"):
        await asyncio.wait_for(runtime.run(), 10)
    assert runtime.status == "stopped"
