"""FAILURES #1 and #2.

#1 "duplicate pyramiding: the same entry re-opened every 60 s, 2-3x per symbol" — no
same-side position / in-flight check before ordering; the check, once added, raced the
position write.
#2 "two executors consumed the same plan stream; up to four services could close one
position" — no single owner of order execution.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from quantum_trader.domain.enums import OrderType, PlanAction
from tests.chaos.conftest import open_position
from tests.integration.apply.rig import ApplyRig


async def test_failure_01_signal_storm_racing_three_executors_opens_one_entry(
    rig: ApplyRig,
) -> None:
    consumers = [rig.consumer(f"a{i}") for i in range(3)]
    for c in consumers:
        await c.start()
    plan_qty = rig.open_plan("BTCUSDT", 0).qty
    for minute in range(10):  # the same signal every 60 s, three copies racing each time
        await rig.bus.publish_many(
            rig.keys.apply_plan, [rig.open_plan("BTCUSDT", minute * 10 + k) for k in range(3)]
        )
        while sum(await asyncio.gather(*(c.poll(0) for c in consumers))):
            pass
        rig.clock.advance(60)
    assert len(rig.orders(entries_only=True)) == 1
    results = await rig.results()
    assert len(results) == 30 and sum(r.executed for r in results) == 1
    assert {r.reason for r in results if not r.executed} <= {"inflight", "position_exists"}
    position = await rig.layer.ledger.read("BTCUSDT")
    assert position is not None and position.qty == plan_qty and position.entry_orders == 1
    (live,) = [p for p in await rig.exchange.positions() if p.symbol == "BTCUSDT"]
    assert live.qty == plan_qty


async def test_failure_02_five_executors_place_one_order_per_plan_and_one_close(
    rig: ApplyRig,
) -> None:
    consumers = [rig.consumer(f"x{i}") for i in range(5)]
    for c in consumers:
        await c.start()
    plans = [rig.open_plan(s, 1) for s in ("ETHUSDT", "SOLUSDT", "BNBUSDT")]
    await rig.bus.publish_many(rig.keys.apply_plan, [p for p in plans for _ in range(10)])
    while sum(await asyncio.gather(*(c.poll(0) for c in consumers))):
        pass
    entries = rig.orders(entries_only=True)
    assert sorted(o.symbol for o in entries) == ["BNBUSDT", "ETHUSDT", "SOLUSDT"]
    assert len(await rig.results()) == 3

    # Four "services" each ask to close the same position; five executors race on them.
    position = await rig.layer.ledger.read("ETHUSDT")
    assert position is not None
    closes = [
        rig.close_plan("ETHUSDT", position.position_id, PlanAction.FULL_CLOSE, n) for n in range(4)
    ]
    await rig.bus.publish_many(rig.keys.apply_exit, closes * 2)
    while sum(await asyncio.gather(*(c.poll(0) for c in consumers))):
        pass
    close_orders = [
        o
        for o in rig.orders()
        if o.symbol == "ETHUSDT"
        and o.type is OrderType.MARKET
        and o.reduce_only
        and o.executed_qty > 0
    ]
    assert len(close_orders) == 1 and close_orders[0].executed_qty == position.qty
    exit_results = [r for r in await rig.results() if r.action is PlanAction.FULL_CLOSE]
    assert len(exit_results) == 4 and sum(r.executed for r in exit_results) == 1
    assert not [p for p in await rig.exchange.positions() if p.symbol == "ETHUSDT"]
    assert sum(o.executed_qty for o in close_orders) == Decimal(position.qty)


async def test_failure_02_redelivered_open_plan_after_fill_places_no_second_order(
    rig: ApplyRig,
) -> None:
    await open_position(rig, "XRPUSDT")
    c = rig.consumer("late")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan("XRPUSDT", 1))  # same plan id
    await rig.drain(c)
    assert len(rig.orders(entries_only=True)) == 1
    (result,) = await rig.results()
    assert result.executed
