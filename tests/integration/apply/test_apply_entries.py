"""Entries: one order per plan, no pyramiding, a protective stop on every fill."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from quantum_trader.domain.enums import OrderStatus, OrderType, PlanAction, PositionSide
from tests.integration.apply.rig import PRICES, ApplyRig


async def test_entry_fills_then_a_reduce_only_stop_covers_the_whole_position(rig: ApplyRig) -> None:
    c = rig.consumer("a1")
    await c.start()
    plan = rig.open_plan("ETHUSDT", 1)
    await rig.bus.publish(rig.keys.apply_plan, plan)
    await rig.drain(c)
    (result,) = await rig.results()
    assert result.executed and result.reason == "executed" and result.filled_qty == plan.qty
    position = await rig.layer.ledger.read("ETHUSDT")
    assert position is not None and position.qty == plan.qty and position.entry_price > 0
    stops = [o for o in rig.orders() if o.type is OrderType.STOP_MARKET]
    assert len(stops) == 1
    assert stops[0].status is OrderStatus.NEW and stops[0].reduce_only
    assert stops[0].quantity == position.qty and stops[0].stop_price == plan.stop_price
    assert position.stop_order_id == stops[0].client_order_id
    assert position.initial_stop == plan.stop_price
    assert await rig.redis.exists(rig.keys.cooldown_open("ETHUSDT"))
    assert not await rig.redis.exists(rig.keys.inflight("ETHUSDT"))


async def test_the_original_storm_same_signal_every_bar_opens_each_symbol_once(
    rig: ApplyRig,
) -> None:
    """FAILURES #1: the same signal every bar for 6 symbols for 15 minutes → 6 entries."""
    c = rig.consumer("a1")
    await c.start()
    for minute in range(15):
        for symbol in PRICES:
            await rig.bus.publish(rig.keys.apply_plan, rig.open_plan(symbol, minute))
        await rig.drain(c)
        rig.clock.advance(60)
    results = await rig.results()
    assert len(results) == 15 * 6
    executed = [r for r in results if r.executed]
    assert sorted(r.symbol for r in executed) == sorted(PRICES)
    skipped = [r for r in results if not r.executed]
    assert len(skipped) == 84
    assert {r.reason for r in skipped} <= {"position_exists", "cooldown"}
    assert len(rig.orders(entries_only=True)) == 6


async def test_fifty_copies_of_one_plan_on_five_consumers_place_one_order(rig: ApplyRig) -> None:
    consumers = [rig.consumer(f"a{i}") for i in range(5)]
    for c in consumers:
        await c.start()
    plan = rig.open_plan("BTCUSDT", 1)
    await rig.bus.publish_many(rig.keys.apply_plan, [plan] * 50)
    while sum(await asyncio.gather(*(c.poll(0) for c in consumers))):
        pass
    assert len(rig.orders(entries_only=True)) == 1
    results = await rig.results()
    assert len(results) == 1 and results[0].executed


async def test_killed_between_placing_the_order_and_writing_the_result_resumes_safely(
    rig: ApplyRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashing = rig.consumer("a1")
    await crashing.start()
    plan = rig.open_plan("SOLUSDT", 1)
    await rig.bus.publish(rig.keys.apply_plan, plan)

    async def die(*args: object, **kwargs: object) -> None:
        raise ConnectionResetError("process killed")  # the order is already on the exchange

    monkeypatch.setattr(rig.layer.ledger, "record_fill", die)
    with pytest.raises(ConnectionResetError):
        await crashing.poll(0)
    monkeypatch.undo()
    assert len(rig.orders(entries_only=True)) == 1 and await rig.results() == []

    restarted = rig.consumer("a1")  # same consumer name: it finishes its own pending work
    await restarted.start()
    await rig.drain(restarted)
    assert len(rig.orders(entries_only=True)) == 1
    (result,) = await rig.results()
    assert result.executed and result.plan_id == plan.plan_id
    position = await rig.layer.ledger.read("SOLUSDT")
    assert position is not None and position.stop_order_id
    live_stops = [o for o in await rig.exchange.open_orders("SOLUSDT")]
    assert [o.quantity for o in live_stops] == [position.qty]


async def test_a_refused_stop_exits_the_position_at_market_and_says_why(rig: ApplyRig) -> None:
    c = rig.consumer("a1")
    await c.start()
    # A long whose stop sits above the market: Binance answers -2021 "would immediately trigger".
    plan = rig.open_plan("XRPUSDT", 1, stop="0.7000")
    await rig.bus.publish(rig.keys.apply_plan, plan)
    await rig.drain(c)
    assert await rig.layer.ledger.read("XRPUSDT") is None
    assert not [p for p in await rig.exchange.positions() if p.symbol == "XRPUSDT"]
    (event,) = [e for e in await rig.events() if e.kind == "protective_stop_failed"]
    assert event.evidence["code"] == "-2021" and event.evidence["exit"] == "exited"
    (result,) = await rig.results()  # the entry's one result says it was closed again
    assert (result.executed, result.reason) == (True, "executed_then_closed:stop_refused")


async def test_a_short_entry_gets_its_stop_above_the_entry(rig: ApplyRig) -> None:
    c = rig.consumer("a1")
    await c.start()
    plan = rig.open_plan("BNBUSDT", 1, side=PositionSide.SHORT)
    await rig.bus.publish(rig.keys.apply_plan, plan)
    await rig.drain(c)
    position = await rig.layer.ledger.read("BNBUSDT")
    assert position is not None and position.side is PositionSide.SHORT
    (stop,) = [o for o in rig.orders() if o.type is OrderType.STOP_MARKET]
    assert stop.side.value == "BUY" and stop.stop_price is not None
    assert stop.stop_price > position.entry_price > 0
    assert stop.stop_price < Decimal(PRICES["BNBUSDT"]) * 2
    assert plan.action is PlanAction.OPEN
