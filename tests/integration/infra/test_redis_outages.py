"""What a careful system does when Redis cannot promise a write (real redis-server).

* A write WAIT finds on fewer replicas than ``redis.wait_replicas`` (here: a server with
  none): the entry's order is not placed (``not_durable``, the lease released), an exit
  still goes out, and every short count is a metric.
* A handler that loses Redis mid-message (``ConnectionError``, ``TimeoutError``: a
  failover in progress) is an outage, not the message's fault: it is handled again after
  a reconnect with backoff, never counted towards the dead-letter stream.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from quantum_trader.bootstrap import system_parts
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SystemClock
from quantum_trader.config import load_settings
from quantum_trader.decide import reasons
from quantum_trader.domain.enums import PlanAction
from quantum_trader.observability.metrics import apply_families
from quantum_trader.services.durability import (
    ENTRY_RESERVATION,
    EXIT_RESERVATION,
    PLAN_FINISH,
)
from quantum_trader.services.journal import Journal
from tests.integration.apply.rig import PRICES, make_rig
from tests.integration.infra.sentinel_rig import poll


async def test_an_entry_short_of_replicas_is_not_placed_and_an_exit_still_goes_out(
    redis_client: aioredis.Redis, keys: Keys, tmp_path: Path
) -> None:
    rig = await make_rig(redis_client, keys, cooldown_ms=0)
    assert (await rig.layer.open(rig.open_plan("SOLUSDT", 1))).executed  # no WAIT asked
    settings = load_settings(data_dir=tmp_path, redis={"wait_replicas": 1, "wait_timeout_ms": 50})
    journal = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    parts = system_parts(
        settings,
        exchange=rig.exchange,
        bus=rig.bus,
        redis=redis_client,
        clock=rig.clock,
        instruments=rig.layer.instruments,
        symbols=list(PRICES),
        journal=journal,
    )
    try:
        parts.build("apply-layer")
        (layer,) = parts.apply_layers
        assert layer.durability is not None and layer.durability.replicas == 1

        plan = rig.open_plan("ETHUSDT", 2)
        outcome = await layer.open(plan)
        assert (outcome.executed, outcome.reason) == (False, reasons.NOT_DURABLE)
        assert not [o for o in rig.orders(entries_only=True) if o.symbol == "ETHUSDT"]
        assert not await redis_client.exists(keys.inflight("ETHUSDT"))  # lease released
        assert [r.reason for r in await rig.results() if r.plan_id == plan.plan_id] == [
            reasons.NOT_DURABLE
        ]
        assert layer.durability.last_acked == 0

        position = await layer.ledger.read("SOLUSDT")
        assert position is not None
        close = rig.close_plan("SOLUSDT", position.position_id, PlanAction.FULL_CLOSE)
        closed = await layer.exit(close)
        assert closed.executed  # exits are never blocked by a short WAIT
        assert await layer.ledger.read("SOLUSDT") is None
        assert layer.durability.short == {ENTRY_RESERVATION: 1, EXIT_RESERVATION: 1, PLAN_FINISH: 1}

        (family,) = [f for f in apply_families(parts, {}) if f.name.endswith("not_durable")]
        assert {
            s.labels["write"]: s.value for s in family.samples if s.name.endswith("_total")
        } == {
            ENTRY_RESERVATION: 1,
            EXIT_RESERVATION: 1,
            PLAN_FINISH: 1,
        }
    finally:
        journal.close()


async def test_a_handler_that_loses_redis_is_retried_after_a_reconnect_never_dead_lettered(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    bus = Bus(RedisTransport(redis_client), SystemClock(), keys)
    outages: list[Exception] = [
        RedisConnectionError("Connection closed by server."),
        RedisTimeoutError("Timeout reading from socket"),
        RedisConnectionError("No master found for 'quantum'"),
        RedisConnectionError("The previous master is now a slave"),
    ]  # more than max_failures: counted as failures they would dead-letter the plan
    handled: list[str] = []

    async def handle(message: Message, delivery: Delivery) -> None:
        if outages:
            raise outages.pop(0)
        handled.append(message.msg_id)

    consumer = StreamConsumer(
        bus,
        [keys.apply_plan],
        "apply-layer",
        "c",
        handle,
        config=ConsumerConfig(block_ms=20, max_failures=2, max_backoff_s=0.05),
    )
    rig = await make_rig(redis_client, keys)
    plan = rig.open_plan("ETHUSDT", 1)
    await bus.publish(keys.apply_plan, plan)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await poll("the plan handled", lambda: handled or task.done())
    finally:
        stop.set()
        await task
    assert handled == [plan.msg_id]
    assert consumer.stats.reconnects == 4 and consumer.stats.failed == 0
    assert consumer.stats.dead_lettered == 0 and not await redis_client.xlen(keys.dead)
    assert not await redis_client.exists(keys.bus_failures)
    assert not (await redis_client.xpending(keys.apply_plan, "apply-layer"))["pending"]


async def test_a_primary_without_its_replica_holds_messages_back_and_never_dead_letters(
    own_redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """``min-replicas-to-write 1`` and no replica: every write is refused (NOREPLICAS).
    The consumer backs off and handles the message once writes work again."""
    keys = Keys("norepl:")
    bus = Bus(RedisTransport(own_redis_client), SystemClock(), keys)
    handled: list[str] = []

    async def handle(message: Message, delivery: Delivery) -> None:
        await own_redis_client.set(keys.prefix + "effect", message.msg_id)
        handled.append(message.msg_id)

    consumer = StreamConsumer(
        bus,
        [keys.apply_plan],
        "apply-layer",
        "c",
        handle,
        config=ConsumerConfig(block_ms=20, max_failures=1, max_backoff_s=0.05),
    )
    await consumer.start()
    rig = await make_rig(own_redis_client, keys)
    plan = rig.open_plan("ETHUSDT", 1)
    await bus.publish(keys.apply_plan, plan)
    await own_redis_client.config_set("min-replicas-to-write", "1")
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        refused = "redis refuses writes, backing off"
        await poll("writes refused a few times", lambda: caplog.text.count(refused) >= 3)
        assert not handled and not task.done()
        await own_redis_client.config_set("min-replicas-to-write", "0")
        await poll("the plan handled", lambda: handled or task.done())
    finally:
        await own_redis_client.config_set("min-replicas-to-write", "0")
        stop.set()
        await task
    assert handled == [plan.msg_id]
    assert consumer.stats.dead_lettered == 0 and not await own_redis_client.xlen(keys.dead)
