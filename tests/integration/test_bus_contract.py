"""The bus contract, run unchanged against the in-memory and the Redis transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import decode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import (
    EffectStore,
    HashSet,
    MemoryEffectStore,
    RedisEffectStore,
    SetKey,
)
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.memory_transport import MemoryTransport
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import DeadLetter, Message, Plan
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SimClock
from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide


@dataclass
class Rig:
    bus: Bus
    effects: EffectStore
    clock: SimClock
    keys: Keys
    seen: list[str] = field(default_factory=list)

    async def age_pending(self, stream: str, group: str, owner: str, ms: int) -> None:
        """Let ``ms`` pass for pending entries: the sim clock, or Redis's idle counter."""
        self.clock.advance(ms / 1000)
        transport = self.bus.transport
        if isinstance(transport, RedisTransport):
            for p in await transport.client.xpending_range(stream, group, "-", "+", 100):
                await transport.client.xclaim(
                    stream,
                    group,
                    owner,
                    0,
                    [p["message_id"]],
                    idle=int(p["time_since_delivered"]) + ms,
                )


def plan(n: int) -> Plan:
    return Plan(
        msg_id=f"m{n}",
        ts_event=n,
        ts_init=n,
        source="test",
        plan_id=f"plan-{n}",
        kind=PlanKind.OPEN,
        symbol="BTCUSDT",
        side=PositionSide.LONG,
        action=PlanAction.OPEN,
        qty=Decimal("0.001"),
        stop_price=Decimal("30000"),
        created_at=n,
        expires_at=n + 60_000,
    )


@pytest.fixture(params=["memory", "redis"])
async def rig(request: pytest.FixtureRequest, keys: Keys) -> AsyncIterator[Rig]:
    clock = SimClock(1_700_000_000_000)
    if request.param == "memory":
        yield Rig(
            Bus(MemoryTransport(clock.now_ms), clock, keys), MemoryEffectStore(keys), clock, keys
        )
        return
    server = request.getfixturevalue("redis_server")
    client = aioredis.Redis.from_url(server.url)
    yield Rig(Bus(RedisTransport(client), clock, keys), RedisEffectStore(client, keys), clock, keys)
    await client.aclose()


def consumer(rig: Rig, name: str, handler: object = None, **cfg: int) -> StreamConsumer:
    async def record(message: Message, delivery: Delivery) -> None:
        assert isinstance(message, Plan)
        if await rig.effects.apply_once(message.plan_id, [SetKey(f"{rig.keys.prefix}x", "1")]):
            rig.seen.append(message.plan_id)

    return StreamConsumer(
        rig.bus,
        [rig.keys.apply_plan],
        "apply-layer",
        name,
        handler or record,  # type: ignore[arg-type]
        expect={rig.keys.apply_plan: (Plan,)},
        config=ConsumerConfig(block_ms=0, reclaim_idle_ms=1_000, reclaim_interval_ms=0, **cfg),
    )


async def test_published_messages_are_consumed_once_and_acknowledged(rig: Rig) -> None:
    c = consumer(rig, "c1")
    await c.start()
    await rig.bus.publish_many(rig.keys.apply_plan, [plan(i) for i in range(250)])
    while await c.poll(0):
        pass
    assert rig.seen == [f"plan-{i}" for i in range(250)]
    assert await rig.bus.transport.pending_count(rig.keys.apply_plan, "apply-layer") == 0


async def test_consumer_killed_mid_message_is_reclaimed_and_the_effect_happens_once(
    rig: Rig,
) -> None:
    dying = consumer(rig, "dying")
    await dying.start()
    await rig.bus.publish(rig.keys.apply_plan, plan(1))
    # The dying consumer reads the message and then "crashes" before handling/acking it.
    taken = await rig.bus.transport.read([rig.keys.apply_plan], "apply-layer", "dying", 10, 0)
    assert len(taken) == 1
    survivor = consumer(rig, "survivor")
    await survivor.start()
    assert await survivor.poll(0) == 0  # not idle long enough yet: still the dying one's
    await rig.age_pending(rig.keys.apply_plan, "apply-layer", "dying", 1_500)
    assert await survivor.poll(0) == 1
    assert rig.seen == ["plan-1"]
    # A redelivery of the same plan (e.g. the dead consumer's) changes nothing.
    await rig.bus.publish(rig.keys.apply_plan, plan(1))
    await survivor.poll(0)
    assert rig.seen == ["plan-1"]
    assert await rig.bus.transport.pending_count(rig.keys.apply_plan, "apply-layer") == 0


async def test_undecodable_message_goes_to_dead_letters_and_the_loop_goes_on(rig: Rig) -> None:
    c = consumer(rig, "c1")
    await c.start()
    await rig.bus.transport.publish(rig.keys.apply_plan, b'{"type":"apply.plan"}')
    await rig.bus.publish(rig.keys.apply_plan, plan(2))
    while await c.poll(0):
        pass
    assert rig.seen == ["plan-2"]
    assert c.stats.dead_lettered == 1
    letters = await dead_letters(rig)
    assert letters[0].reason.startswith("invalid: Object missing required field")
    assert letters[0].source_stream == rig.keys.apply_plan
    assert letters[0].raw == '{"type":"apply.plan"}'


async def test_handler_failing_n_times_is_dead_lettered_then_acknowledged(rig: Rig) -> None:
    calls: list[str] = []

    async def broken(message: Message, delivery: Delivery) -> None:
        calls.append(delivery.entry_id)
        raise RuntimeError("boom")

    c = consumer(rig, "c1", broken, max_failures=3)
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, plan(3))
    for _ in range(5):
        await c.poll(0)
    assert len(calls) == 3
    letters = await dead_letters(rig)
    assert len(letters) == 1 and "handler failed 3x" in letters[0].reason
    assert await rig.bus.transport.pending_count(rig.keys.apply_plan, "apply-layer") == 0


async def test_idempotent_effect_applies_writes_and_marker_atomically(rig: Rig) -> None:
    writes = [HashSet(f"{rig.keys.prefix}h", (("a", "1"), ("b", "2")))]
    assert await rig.effects.apply_once("e1", writes) is True
    assert await rig.effects.apply_once("e1", writes) is False
    assert await rig.effects.is_done("e1")


async def dead_letters(rig: Rig) -> list[DeadLetter]:
    transport = rig.bus.transport
    if isinstance(transport, MemoryTransport):
        raw = [p for _, p in transport.entries(rig.keys.dead)]
    else:
        assert isinstance(transport, RedisTransport)
        raw = [f[b"msg"] for _, f in await transport.client.xrange(rig.keys.dead)]
    letters = [decode(r) for r in raw]
    assert all(isinstance(x, DeadLetter) for x in letters)
    return letters  # type: ignore[return-value]
