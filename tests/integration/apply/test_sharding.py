"""Executors sharded by symbol: each places only its own shards' plans; a dead owner's
shard moves to a survivor, which serves what the dead one left pending; a stale owner
(its lease lost while it was stopped, then continued) is refused — by the entry gate's
script with ``not_shard_owner``, on the exit path right before the exchange — and hands
the plan to the owner's lane: nothing is placed twice, nothing is lost.

Real Redis, the in-process simulated exchange; lease rounds and polls driven by hand.
With 2 shards, ETHUSDT and BNBUSDT are shard 0; BTCUSDT, SOLUSDT, XRPUSDT, DOGEUSDT 1.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace

from quantum_trader.bus.codec import encode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.schemas import Plan
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import steady_clock
from quantum_trader.decide import reasons
from quantum_trader.decide.shards import shard_of
from quantum_trader.domain.enums import OrderType, PlanAction
from quantum_trader.observability.service_metrics import ServiceCollector
from quantum_trader.operator_settings import ShardingSettings
from quantum_trader.services.apply_layer import ApplyLayer
from quantum_trader.services.apply_service import (
    apply_consumer,
    build_apply_layer,
    build_apply_service,
)
from quantum_trader.services.entry_gate import EXECUTOR_GROUP, Fence, Lease
from quantum_trader.services.shard_lanes import ShardLanes
from tests.integration.apply.rig import PRICES, ApplyRig

SHARD_0 = ("ETHUSDT", "BNBUSDT")
SHARD_1 = ("BTCUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
HOUR_MS = 3_600_000


def executor(
    rig: ApplyRig, owner: str, prefer: tuple[int, ...], *, lease_ms: int = 3000
) -> tuple[ApplyLayer, StreamConsumer]:
    layer = build_apply_layer(
        exchange=rig.exchange,
        bus=rig.bus,
        redis=rig.redis,
        clock=rig.clock,
        instruments=rig.layer.instruments,
        symbols=list(PRICES),
        owner=owner,
        sharding=ShardingSettings(
            shards=2, prefer=prefer, lease_ms=lease_ms, renew_ms=lease_ms // 4
        ),
    )
    layer.source = owner  # whose result is whose
    return layer, apply_consumer(layer, owner, ConsumerConfig(batch=10, block_ms=0))


def lanes(layer: ApplyLayer) -> ShardLanes:
    assert layer.lanes is not None
    return layer.lanes


async def pair(rig: ApplyRig, *, lease_ms: int = 3000) -> tuple[
    tuple[ApplyLayer, StreamConsumer], tuple[ApplyLayer, StreamConsumer]
]:  # fmt: skip
    """Executor a prefers shard 0, b shard 1; after a few rounds each holds its own."""
    a, b = executor(rig, "a", (0,), lease_ms=lease_ms), executor(rig, "b", (1,), lease_ms=lease_ms)
    for _, consumer in (a, b):
        await consumer.start()
    for _ in range(3):
        for layer, _ in (a, b):
            await lanes(layer).leases.round()
    assert lanes(a[0]).leases.held_shards() == (0,)
    assert lanes(b[0]).leases.held_shards() == (1,)
    for layer, _ in (a, b):  # both alive: neither adopts the other's pending
        key = rig.keys.consumer_alive(EXECUTOR_GROUP, layer.owner)
        await rig.bus.transport.mark_alive(key, HOUR_MS)
    return a, b


def entry_orders(rig: ApplyRig) -> Counter[str]:
    return Counter(o.client_order_id for o in rig.orders(entries_only=True))


async def publish_entries(rig: ApplyRig, symbols: tuple[str, ...], n: int = 1) -> list[Plan]:
    plans = [rig.open_plan(symbol, n) for symbol in symbols]
    for plan in plans:
        await rig.bus.publish(rig.keys.entry_lane(plan.symbol, 2), plan)
    return plans


async def test_two_executors_on_two_shards_each_place_only_their_symbols(
    rig: ApplyRig,
) -> None:
    (a, ca), (b, cb) = await pair(rig)
    plans = await publish_entries(rig, tuple(PRICES))
    await rig.drain(ca, cb)
    results = await rig.results()
    assert Counter(r.plan_id for r in results) == Counter({p.plan_id: 1 for p in plans})
    assert all(r.executed for r in results)
    owners = {r.symbol: r.source for r in results}
    assert owners == {s: ("a" if s in SHARD_0 else "b") for s in PRICES}
    assert sorted(entry_orders(rig).values()) == [1] * len(PRICES)
    assert a.decisions[reasons.NOT_SHARD_OWNER] == b.decisions[reasons.NOT_SHARD_OWNER] == 0
    assert set(ca.streams) == {
        rig.keys.apply_exit,
        rig.keys.apply_plan,
        rig.keys.apply_exit_shard(0),
        rig.keys.apply_plan_shard(0),
    }


async def test_plans_on_the_shared_intake_reach_their_shards_owner(rig: ApplyRig) -> None:
    """A publisher that does not route by shard (an operator's close, a plan written
    before sharding) still reaches the owner: whoever reads it hands it on."""
    (a, ca), (_, cb) = await pair(rig)
    btc = rig.open_plan("BTCUSDT", 1)
    await rig.bus.publish(rig.keys.apply_plan, btc)
    await rig.drain(ca)  # only a reads: not its shard, onto shard 1's lane
    assert await rig.results() == [] and a.decisions[reasons.NOT_SHARD_OWNER] == 1
    await rig.drain(cb)
    position = await rig.layer.ledger.read("BTCUSDT")
    assert position is not None
    close = rig.close_plan("BTCUSDT", position.position_id, PlanAction.FULL_CLOSE)
    await rig.bus.publish(rig.keys.apply_exit, close)
    await rig.drain(ca, cb)
    assert [(r.action, r.source, r.executed) for r in await rig.results()] == [
        (PlanAction.OPEN, "b", True),
        (PlanAction.FULL_CLOSE, "b", True),
    ]
    for stream in (rig.keys.apply_plan, rig.keys.apply_exit, rig.keys.apply_plan_shard(1)):
        assert await rig.bus.transport.pending_count(stream, EXECUTOR_GROUP) == 0


async def test_a_dead_owners_shard_moves_within_lease_plus_renew_and_its_pending_is_served(
    rig: ApplyRig,
) -> None:
    lease_ms = 1000
    (a, ca), (b, _) = await pair(rig, lease_ms=lease_ms)
    died_at = steady_clock().now_ms()  # b's last renewal was the pairing's last round
    plans = await publish_entries(rig, SHARD_1)
    exit_plan = rig.close_plan("SOLUSDT", "SOLUSDT:none", PlanAction.FULL_CLOSE)
    await rig.bus.publish(rig.keys.exit_lane("SOLUSDT", 2), exit_plan)
    lane_1 = [rig.keys.apply_exit_shard(1), rig.keys.apply_plan_shard(1)]
    taken = await rig.bus.transport.read(lane_1, EXECUTOR_GROUP, b.owner, 10, 0)
    assert len(taken) == len(plans) + 1  # b read them, then died before handling any
    await rig.redis.delete(rig.keys.consumer_alive(EXECUTOR_GROUP, b.owner))  # lapsed
    ca.orphans_after_ms = 0  # as the runtime sets it (its heartbeat TTL, long past here)

    moved = asyncio.Event()
    leases = lanes(a).leases
    gain = leases.on_gain

    async def gained(shard: int) -> None:
        assert gain is not None
        await gain(shard)
        moved.set()

    leases.on_gain = gained
    stop = asyncio.Event()
    keeping = asyncio.create_task(leases.run(stop))
    try:
        await asyncio.wait_for(moved.wait(), timeout=(lease_ms + lease_ms // 4) / 1000 + 1.0)
        took = steady_clock().now_ms() - died_at
        await rig.drain(ca)
    finally:
        stop.set()
        await keeping
    assert took <= lease_ms + lease_ms // 4 + 400, took
    assert leases.held_shards() == (0, 1)
    results = await rig.results()
    assert {r.plan_id for r in results} == {p.plan_id for p in [*plans, exit_plan]}
    assert {r.source for r in results} == {"a"}
    (closed,) = [r for r in results if r.plan_id == exit_plan.plan_id]
    assert closed.reason == reasons.NO_POSITION  # judged (nothing open), not lost
    assert sorted(entry_orders(rig).values()) == [1] * len(SHARD_1)
    for lane in lane_1:
        assert await rig.bus.transport.pending_count(lane, EXECUTOR_GROUP) == 0


async def stale(rig: ApplyRig, b: ApplyLayer, a: ApplyLayer) -> None:
    """b is stopped (SIGSTOP) long enough for its lease on shard 1 to run out; a takes
    the shard. b has noticed nothing: it still reads shard 1's lanes."""
    claim = lanes(b).leases.held[1]
    await rig.redis.delete(claim.key)  # what PX does lease_ms after b's last renewal
    await lanes(a).leases.round()
    assert lanes(a).leases.held_shards() == (0, 1)
    assert lanes(b).leases.held_shards() == (1,)


async def test_a_stale_owner_is_refused_by_the_gate_and_its_entry_placed_once_by_the_owner(
    rig: ApplyRig,
) -> None:
    (a, ca), (b, cb) = await pair(rig)
    await stale(rig, b, a)
    (plan,) = await publish_entries(rig, ("XRPUSDT",))
    await rig.drain(cb)  # b continues first: the gate's script refuses it
    assert b.decisions[reasons.NOT_SHARD_OWNER] == 1
    assert lanes(b).leases.held_shards() == ()  # it stopped serving shard 1 at once
    assert rig.keys.apply_plan_shard(1) not in cb.streams
    assert entry_orders(rig) == Counter() and await rig.results() == []
    await rig.drain(ca, cb)
    (result,) = await rig.results()
    assert result.plan_id == plan.plan_id and result.executed and result.source == "a"
    assert sorted(entry_orders(rig).values()) == [1]


async def reserve(rig: ApplyRig, b: ApplyLayer, symbol: str) -> tuple[Plan, Lease]:
    """b passes the gate for a plan (its reservation), as its ``open`` does first."""
    plan = rig.open_plan(symbol, 1)
    assert plan.qty is not None and plan.reference_price is not None
    now = rig.clock.now_ms()
    mine = Lease(plan.plan_id, "qe-x", plan.side, plan.qty * plan.reference_price, now, b.owner)
    verdict = await b.gate.check_and_reserve(
        plan_id=plan.plan_id,
        symbol=plan.symbol,
        side=plan.side,
        notional=mine.notional,
        expires_at=plan.expires_at,
        lease=mine,
        now=now,
        shard=lanes(b).leases.held[1],
    )
    assert verdict.lease is not None
    return plan, verdict.lease


async def test_a_stale_owner_woken_between_its_gate_and_its_order_gives_the_entry_up(
    rig: ApplyRig,
) -> None:
    """b passed the gate and was stopped before placing; woken after losing the shard,
    its last check before the order gives the reservation up (nothing was placed), and
    the plan, handed to the lane, is entered once by the shard's owner."""
    (a, ca), (b, _) = await pair(rig)
    plan, lease = await reserve(rig, b, "DOGEUSDT")
    await stale(rig, b, a)
    fence = await b.gate.fence(plan.plan_id, plan.symbol, lease, lanes(b).leases.held[1])
    assert fence is Fence.NOT_SHARD_OWNER
    assert not await rig.redis.exists(rig.keys.plan_done(plan.plan_id))  # given up
    assert not await rig.redis.exists(rig.keys.inflight(plan.symbol))
    await lanes(b).hand_back(plan, Delivery("any", "0-1", encode(plan)))
    await rig.drain(ca)
    (result,) = await rig.results()
    assert result.executed and result.source == "a"
    assert sorted(entry_orders(rig).values()) == [1]


async def test_a_stale_owners_reservation_is_taken_over_by_the_shards_owner(
    rig: ApplyRig,
) -> None:
    """b reserved, then was stopped past its lease; it is alive (it beats again), but the
    shard is a's: a takes the reservation over (new token) and, finding no order, places
    none (b might still send its own); b, woken with the plan in hand, is refused by the
    gate and can no longer place. No entry, one result saying why."""
    (a, ca), (b, _) = await pair(rig)
    plan, lease = await reserve(rig, b, "DOGEUSDT")
    await stale(rig, b, a)
    lane = rig.keys.entry_lane(plan.symbol, 2)
    await rig.bus.publish(lane, plan)  # a redelivery reaches the owner
    await rig.drain(ca)
    (result,) = await rig.results()
    assert (result.source, result.executed, result.reason) == ("a", False, reasons.OWNER_LOST)
    await b.handle(plan, Delivery(lane, "0-1", encode(plan)))  # b wakes with it in hand
    assert b.decisions[reasons.NOT_SHARD_OWNER] == 1
    assert not await b.gate.still_ours(plan.plan_id, lease)  # its token was superseded
    await rig.drain(ca)  # the copy b handed back: a duplicate now
    assert len(await rig.results()) == 1 and entry_orders(rig) == Counter()


async def test_a_stale_owner_never_sends_an_exit_and_the_owner_closes_once(
    rig: ApplyRig,
) -> None:
    (a, ca), (b, cb) = await pair(rig)
    await publish_entries(rig, ("SOLUSDT",))
    await rig.drain(cb)
    position = await rig.layer.ledger.read("SOLUSDT")
    assert position is not None
    await stale(rig, b, a)
    close = rig.close_plan("SOLUSDT", position.position_id, PlanAction.FULL_CLOSE)
    await rig.bus.publish(rig.keys.exit_lane("SOLUSDT", 2), close)
    await rig.drain(cb)  # b reads it first: refused before it touches the exchange
    assert b.decisions[reasons.NOT_SHARD_OWNER] == 1
    closes = [o for o in rig.orders() if o.type is OrderType.MARKET and o.reduce_only]
    assert closes == []
    await rig.drain(ca, cb)
    results = [r for r in await rig.results() if r.action is PlanAction.FULL_CLOSE]
    assert [(r.source, r.executed) for r in results] == [("a", True)]
    closes = [o for o in rig.orders() if o.type is OrderType.MARKET and o.reduce_only]
    assert len(closes) == 1 and closes[0].executed_qty == position.qty
    assert await rig.layer.ledger.read("SOLUSDT") is None


async def test_unsharded_is_exactly_one_lane_and_sharded_names_the_shards_held(
    rig: ApplyRig,
) -> None:
    plain = build_apply_layer(
        exchange=rig.exchange,
        bus=rig.bus,
        redis=rig.redis,
        clock=rig.clock,
        instruments=rig.layer.instruments,
        symbols=list(PRICES),
        sharding=ShardingSettings(),
    )
    assert plain.lanes is None
    assert apply_consumer(plain, "x").streams == [rig.keys.apply_exit, rig.keys.apply_plan]
    assert {rig.keys.entry_lane(s, 1) for s in PRICES} == {rig.keys.apply_plan}
    assert {shard_of(s, 2) for s in SHARD_1} == {1} and {shard_of(s, 2) for s in SHARD_0} == {0}

    sharded, _ = executor(rig, "a", (0,))
    runtime = build_apply_service(sharded, sharded.owner)
    await lanes(sharded).leases.round()  # alone: it covers both shards
    assert runtime.heartbeat().shards == (0, 1)
    assert set(runtime.consumers[0].streams) >= {
        rig.keys.apply_plan_shard(1),
        rig.keys.apply_exit_shard(1),
    }
    parts = SimpleNamespace(apply_layers=[])
    collector = ServiceCollector("apply-layer", runtime, parts)  # type: ignore[arg-type]
    held = {
        s.labels["service"]: s.value
        for family in collector.collect()
        if family.name == "quantum_shards_held"
        for s in family.samples
    }
    assert held == {"apply-layer": 2.0}
    assert collector.health()[0]["shards"] == [0, 1]
    await runtime.on_stopped[0]()  # a clean stop releases both leases
    assert not await rig.redis.exists(rig.keys.shard("apply-layer", 0))
    assert runtime.heartbeat().shards == ()
