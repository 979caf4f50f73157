"""Wiring of the apply layer as a service: one consumer that reads the exit lane first.

Exit plans travel on their own stream (``apply.exit``) which the consumer reads before
the entry stream (``apply.plan``), so an entry storm cannot delay an exit; the entry
stream is read in small batches so an exit waits for at most a few entries.

With ``sharding.shards`` > 1 the executor also keeps shard leases
(``services/shard_lease.py``) and reads, besides the shared intake, the lanes of the
shards it holds (``services/shard_lanes.py``), exit lanes first as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.schemas import Plan
from quantum_trader.clock import Clock
from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.domain.instruments import Instrument
from quantum_trader.exchange.interface import Exchange
from quantum_trader.operator_settings import ShardingSettings
from quantum_trader.services.apply_layer import ApplyLayer
from quantum_trader.services.durability import Durability
from quantum_trader.services.entry_gate import EXECUTOR_GROUP, RedisEntryGate
from quantum_trader.services.ledger import RedisLedger
from quantum_trader.services.order_router import OrderRouter
from quantum_trader.services.protective_stop import ProtectiveStops
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime
from quantum_trader.services.shard_lanes import ShardLanes
from quantum_trader.services.shard_lease import ShardLeases

GROUP = EXECUTOR_GROUP
APPLY_BATCH = 10  # plans per read: an exit waits behind at most this many entries


def build_apply_layer(
    *,
    exchange: Exchange,
    bus: Bus,
    redis: aioredis.Redis,
    clock: Clock,
    instruments: Mapping[str, Instrument],
    symbols: Sequence[str],
    limits: GateLimits = GateLimits(),
    config: ApplyConfig = ApplyConfig(),
    owner: str | None = None,
    epoch: str | None = None,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 200,
    sharding: ShardingSettings | None = None,
) -> ApplyLayer:
    """``owner``: the executor's consumer name (default: unique to this process);
    ``wait_replicas`` / ``wait_timeout_ms``: the WAIT before orders and after finishes
    (``redis.wait_replicas``; 0: none); ``sharding`` with more than one shard: the
    executor serves the shards whose leases it holds (their owner is ``owner``)."""
    router = OrderRouter(exchange, clock)
    ledger = RedisLedger(redis, bus.keys)
    layer = ApplyLayer(
        exchange=exchange,
        router=router,
        ledger=ledger,
        gate=RedisEntryGate(redis, bus.keys, symbols, limits, epoch),
        stops=ProtectiveStops(router, ledger, bus, clock),
        effects=RedisEffectStore(redis, bus.keys),
        bus=bus,
        client=redis,
        clock=clock,
        instruments=instruments,
        config=config,
        durability=Durability(redis, bus.keys.durability_fence, wait_replicas, wait_timeout_ms),
    )
    if owner:
        layer.owner = owner
    if sharding is not None and sharding.shards > 1:
        leases = ShardLeases(redis, bus.keys, GROUP, layer.owner, sharding)
        layer.lanes = ShardLanes(leases, redis, bus.keys, GROUP)
    return layer


def apply_consumer(
    layer: ApplyLayer, consumer_name: str, config: ConsumerConfig | None = None
) -> StreamConsumer:
    keys, lanes = layer.bus.keys, layer.lanes
    exits, entries = [keys.apply_exit], [keys.apply_plan]
    for shard in lanes.leases.held_shards() if lanes else ():  # held before it was built
        exit_lane, entry_lane = lanes.lanes(shard)  # type: ignore[union-attr]
        exits, entries = [*exits, exit_lane], [*entries, entry_lane]
    every = [*exits, *entries, *(lanes.all_lanes() if lanes else ())]
    consumer = StreamConsumer(
        layer.bus,
        [*exits, *entries],
        GROUP,
        consumer_name,
        layer.handle,
        expect=dict.fromkeys(every, (Plan,)),
        priority=exits,
        config=config or ConsumerConfig(batch=APPLY_BATCH),
    )
    if lanes is not None:
        lanes.consumer = consumer
    return consumer


def build_apply_service(
    layer: ApplyLayer,
    consumer_name: str,
    heartbeat_interval_s: float = 1.0,
    config: ConsumerConfig | None = None,
) -> ServiceRuntime:
    """``config``'s batch is capped at ``APPLY_BATCH``: the exit stream is read first at
    every read, so an exit waits behind at most that many entry plans."""
    if config is not None:
        config = replace(config, batch=min(config.batch, APPLY_BATCH))
    runtime = ServiceRuntime(
        "apply-layer",
        layer.clock,
        layer.bus.keys,
        RedisHealthWriter(layer.client),
        consumers=[apply_consumer(layer, consumer_name, config)],
        heartbeat_interval_s=heartbeat_interval_s,
    )
    if layer.lanes is not None:
        leases = layer.lanes.leases

        async def keep_leases() -> None:  # until the service stops; real time
            leases.timer = runtime.timer
            await leases.run(runtime.stop_event)

        runtime.jobs = [PeriodicJob("shard-leases", 0.0, keep_leases)]
        runtime.held_shards = leases.held_shards
        runtime.on_stopped.append(leases.release_all)
    return runtime
