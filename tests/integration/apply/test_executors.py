"""Several executors on one consumer group never enter one plan twice (invariant 1).

Binance keeps a client order id unique only among *open* orders: a filled market order
frees it, so a second executor that places "the same" order gets a second fill. The
gate therefore records who reserved a plan (its owner) under a fencing token: a copy of
the plan is busy while the owner beats, taken over only once the owner's liveness key
is gone — and a taken-over entry whose order is not on the exchange is never placed,
while the old owner, should it wake, fails its fencing check and places nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.schemas import Plan
from quantum_trader.decide import reasons
from quantum_trader.domain.enums import OrderType, PositionSide
from quantum_trader.domain.order_ids import client_order_id
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.services.apply_layer import ApplyLayer
from quantum_trader.services.apply_service import apply_consumer, build_apply_layer
from quantum_trader.services.entry_gate import EXECUTOR_GROUP, Lease
from tests.integration.apply.rig import PRICES, ApplyRig

HOUR_MS = 3_600_000


def executors(rig: ApplyRig, n: int) -> list[ApplyLayer]:
    rig.layer.owner = "executor-0"
    return [rig.layer] + [
        build_apply_layer(
            exchange=rig.exchange,
            bus=rig.bus,
            redis=rig.redis,
            clock=rig.clock,
            instruments=rig.layer.instruments,
            symbols=list(PRICES),
            owner=f"executor-{i}",
        )
        for i in range(1, n)
    ]


def consumer_of(layer: ApplyLayer) -> StreamConsumer:
    return apply_consumer(layer, layer.owner, ConsumerConfig(batch=10, block_ms=0))


async def beat(rig: ApplyRig, *layers: ApplyLayer) -> None:
    """What each executor's runtime does every heartbeat: its liveness key."""
    for layer in layers:
        key = rig.keys.consumer_alive(EXECUTOR_GROUP, layer.owner)
        await rig.bus.transport.mark_alive(key, HOUR_MS)


def entry_orders(rig: ApplyRig) -> Counter[str]:
    return Counter(o.client_order_id for o in rig.orders(entries_only=True))


async def test_three_executors_racing_on_copies_of_each_plan_enter_each_once(
    rig: ApplyRig,
) -> None:
    layers = executors(rig, 3)
    await beat(rig, *layers)
    consumers = [consumer_of(layer) for layer in layers]
    for c in consumers:
        await c.start()
    plans = [rig.open_plan(symbol, 1) for symbol in PRICES]
    for _ in range(40):  # 40 copies of each plan, interleaved
        for plan in plans:
            await rig.bus.publish(rig.keys.apply_plan, plan)

    async def work(c: StreamConsumer) -> None:
        while await c.poll(0):
            await asyncio.sleep(0)

    await asyncio.gather(*(work(c) for c in consumers))
    await rig.drain(*consumers)

    coids = {client_order_id("e", p.plan_id) for p in plans}
    assert entry_orders(rig) == Counter(dict.fromkeys(coids, 1))
    results = await rig.results()
    assert Counter(r.plan_id for r in results) == Counter({p.plan_id: 1 for p in plans})
    assert all(r.executed for r in results)
    for plan in plans:
        position = await rig.layer.ledger.read(plan.symbol)
        assert position is not None and position.qty == plan.qty


async def reserve_as(layer: ApplyLayer, rig: ApplyRig, symbol: str) -> tuple[Lease, Plan]:
    """``layer`` takes the plan's reservation, as its ``open`` does first."""
    plan = rig.open_plan(symbol, 1)
    assert plan.qty is not None and plan.reference_price is not None
    now = rig.clock.now_ms()
    mine = Lease(
        plan.plan_id,
        client_order_id("e", plan.plan_id),
        plan.side,
        plan.qty * plan.reference_price,
        now,
        layer.owner,
    )
    verdict = await layer.gate.check_and_reserve(
        plan_id=plan.plan_id,
        symbol=symbol,
        side=plan.side,
        notional=mine.notional,
        expires_at=plan.expires_at,
        lease=mine,
        now=now,
    )
    assert verdict.lease is not None and verdict.lease.owner == layer.owner
    assert verdict.lease.token > 0
    return verdict.lease, plan


async def test_a_copy_waits_while_the_owner_beats_and_the_owner_publishes_the_result(
    rig: ApplyRig,
) -> None:
    owner, other = executors(rig, 2)
    await beat(rig, owner)
    _, plan = await reserve_as(owner, rig, "SOLUSDT")
    assert await other.open(plan) == await other.open(plan)
    assert entry_orders(rig) == Counter() and await rig.results() == []
    outcome = await owner.open(plan)  # its own redelivery resumes
    assert outcome.executed
    assert sum(entry_orders(rig).values()) == 1 and len(await rig.results()) == 1


async def test_an_owner_stopped_before_placing_is_taken_over_and_can_no_longer_place(
    rig: ApplyRig,
) -> None:
    """SIGSTOP between reserving and placing: its liveness key expires, another executor
    takes the plan over and finds no order — it places none (the stopped one may wake);
    the woken owner fails its fencing check. No entry, one result saying why."""
    stopped, other = executors(rig, 2)
    await beat(rig, other)  # the stopped owner beats no more
    lease, plan = await reserve_as(stopped, rig, "XRPUSDT")
    outcome = await other.open(plan)
    assert not outcome.executed and outcome.reason == reasons.OWNER_LOST
    assert not await stopped.gate.still_ours(plan.plan_id, lease)
    woken = await stopped.open(plan)
    assert not woken.executed
    assert entry_orders(rig) == Counter()
    (result,) = await rig.results()
    assert result.reason == reasons.OWNER_LOST and not result.executed


async def test_an_owner_stopped_after_placing_is_taken_over_and_its_fill_protected(
    rig: ApplyRig,
) -> None:
    """SIGKILL after the entry filled, before its stop: the taker-over finds the order by
    its client id, records the fill and places the protective stop — still one entry."""
    killed, other = executors(rig, 2)
    await beat(rig, other)
    lease, plan = await reserve_as(killed, rig, "DOGEUSDT")
    assert plan.qty is not None
    request = OrderRequest(
        "DOGEUSDT",
        PositionSide.LONG.entry_side,
        OrderType.MARKET,
        lease.client_order_id,
        plan.qty,
    )
    await killed.router.place(request)
    outcome = await other.open(plan)
    assert outcome.executed and outcome.reason == "executed"
    assert entry_orders(rig) == Counter({lease.client_order_id: 1})
    position = await rig.layer.ledger.read("DOGEUSDT")
    assert position is not None and position.qty == plan.qty
    stops = [o for o in rig.orders() if o.type is OrderType.STOP_MARKET and o.reduce_only]
    assert len(stops) == 1 and stops[0].quantity == position.qty
    (result,) = await rig.results()
    assert result.executed
