"""Exits: sized on the live position, never blocked, never for a position that is gone."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from quantum_trader.domain.enums import OrderStatus, OrderType, PlanAction
from quantum_trader.exchange.interface import OrderUpdate
from tests.integration.apply.rig import ApplyRig


async def open_position(rig: ApplyRig, symbol: str, qty: str | None = None) -> str:
    c = rig.consumer("opener")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan(symbol, 1, qty=qty))
    await rig.drain(c)
    position = await rig.layer.ledger.read(symbol)
    assert position is not None
    return position.position_id


async def test_close_plans_for_positions_that_no_longer_exist_are_skipped_with_no_order(
    rig: ApplyRig,
) -> None:
    """FAILURES #12: 26 closes for vanished positions → 26 SKIPs, 0 orders, no qty 0."""
    c = rig.consumer("a1")
    await c.start()
    for n in range(26):
        await rig.bus.publish(
            rig.keys.apply_exit,
            rig.close_plan("ETHUSDT", f"ETHUSDT:gone{n}", PlanAction.FULL_CLOSE, n),
        )
    await rig.drain(c)
    results = await rig.results()
    assert len(results) == 26
    assert all(not r.executed and r.reason == "no_position" for r in results)
    assert all(r.filled_qty == 0 for r in results)
    assert rig.orders() == []


async def test_a_plan_for_an_earlier_position_is_stale(rig: ApplyRig) -> None:
    position_id = await open_position(rig, "ETHUSDT")
    c = rig.consumer("a1")
    await c.start()
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("ETHUSDT", "ETHUSDT:older", PlanAction.FULL_CLOSE)
    )
    await rig.drain(c)
    (result,) = [r for r in await rig.results() if r.action is PlanAction.FULL_CLOSE]
    assert (result.executed, result.reason) == (False, "stale_position")
    assert await rig.layer.ledger.read("ETHUSDT") is not None and position_id


async def test_exits_execute_with_the_kill_switch_on_and_risk_halted(rig: ApplyRig) -> None:
    position_id = await open_position(rig, "SOLUSDT")
    await rig.redis.set(rig.keys.risk_kill_switch, json.dumps({"reason": "operator"}))
    await rig.redis.set(rig.keys.risk_state, json.dumps({"mode": "HALT"}))
    await rig.redis.set(rig.keys.risk_supervisor, json.dumps({"mode": "REDUCE_ONLY"}))
    await rig.redis.set(rig.keys.cooldown_open("SOLUSDT"), "x")
    c = rig.consumer("a1")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan("ETHUSDT", 9))
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("SOLUSDT", position_id, PlanAction.FULL_CLOSE)
    )
    await rig.drain(c)
    by_action = {r.action: r for r in await rig.results() if r.plan_id != ""}
    assert by_action[PlanAction.FULL_CLOSE].executed
    assert by_action[PlanAction.OPEN].reason == "risk_halt"
    assert await rig.layer.ledger.read("SOLUSDT") is None
    assert await rig.exchange.open_orders("SOLUSDT") == []  # the stop went with the position


async def test_a_partial_close_takes_its_share_and_resizes_the_stop(rig: ApplyRig) -> None:
    position_id = await open_position(rig, "ETHUSDT", qty="0.400")
    c = rig.consumer("a1")
    await c.start()
    plan = rig.close_plan("ETHUSDT", position_id, PlanAction.PARTIAL_25)
    plan = type(plan)(
        **{
            **{f: getattr(plan, f) for f in plan.__struct_fields__},
            "reason_codes": ("harvest_tranche:1",),
        }
    )
    await rig.bus.publish(rig.keys.apply_exit, plan)
    await rig.drain(c)
    position = await rig.layer.ledger.read("ETHUSDT")
    assert position is not None and position.qty == Decimal("0.300")
    assert position.ladder_stage == 1
    (stop,) = await rig.exchange.open_orders("ETHUSDT")
    assert stop.quantity == Decimal("0.300") and stop.client_order_id == position.stop_order_id


async def test_moving_the_stop_places_the_new_one_before_cancelling_the_old(rig: ApplyRig) -> None:
    position_id = await open_position(rig, "BTCUSDT")
    before = await rig.layer.ledger.read("BTCUSDT")
    assert before is not None
    rig.exchange.pending_events()
    c = rig.consumer("a1")
    await c.start()
    await rig.bus.publish(
        rig.keys.apply_exit,
        rig.close_plan("BTCUSDT", position_id, PlanAction.UPDATE_STOP, stop="59500.0"),
    )
    await rig.drain(c)
    updates = [e.order for e in rig.exchange.pending_events() if isinstance(e, OrderUpdate)]
    stop_updates = [
        (o.client_order_id, o.status) for o in updates if o.type is OrderType.STOP_MARKET
    ]
    new_id = stop_updates[0][0]
    assert stop_updates == [(new_id, OrderStatus.NEW), (before.stop_order_id, OrderStatus.CANCELED)]
    after = await rig.layer.ledger.read("BTCUSDT")
    assert after is not None and after.stop_price == Decimal("59500.0")
    assert after.initial_stop == before.initial_stop  # R keeps its unit


async def test_ten_thousand_queued_entries_do_not_delay_an_exit(rig: ApplyRig) -> None:
    position_id = await open_position(rig, "XRPUSDT")
    plans = [rig.open_plan("DOGEUSDT", n) for n in range(10_000)]
    await rig.bus.publish_many(rig.keys.apply_plan, plans)
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("XRPUSDT", position_id, PlanAction.FULL_CLOSE)
    )
    c = rig.consumer("a1")
    await c.start()
    handled = await c.poll(0)  # one read: the exit lane is served first
    assert handled == 1
    (exit_result,) = [r for r in await rig.results() if r.action is PlanAction.FULL_CLOSE]
    assert exit_result.executed


async def test_killed_after_placing_an_exit_resumes_without_a_second_order(
    rig: ApplyRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    position_id = await open_position(rig, "ETHUSDT", qty="0.400")
    crashing = rig.consumer("a1")
    await crashing.start()
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("ETHUSDT", position_id, PlanAction.PARTIAL_25)
    )
    recorded = rig.layer.ledger.record_fill

    async def die(*args: object, **kwargs: object) -> None:
        raise ConnectionResetError("process killed")  # the exit order is already filled

    monkeypatch.setattr(rig.layer.ledger, "record_fill", die)
    with pytest.raises(ConnectionResetError):
        await crashing.poll(0)
    monkeypatch.setattr(rig.layer.ledger, "record_fill", recorded)

    restarted = rig.consumer("a1")  # the same consumer name finishes its own pending work
    await restarted.start()
    await rig.drain(restarted)
    exits = [o for o in rig.orders() if o.type is OrderType.MARKET and o.reduce_only]
    assert len(exits) == 1 and exits[0].quantity == Decimal("0.100")
    (result,) = [r for r in await rig.results() if r.action is PlanAction.PARTIAL_25]
    assert result.executed
    position = await rig.layer.ledger.read("ETHUSDT")
    assert position is not None and position.qty == Decimal("0.300")
    (stop,) = await rig.exchange.open_orders("ETHUSDT")
    assert stop.quantity == Decimal("0.300")


async def test_fifty_copies_of_one_partial_on_five_consumers_take_one_share(
    rig: ApplyRig,
) -> None:
    """Copies of an exit plan handled at once by one executor: the first executes it, the
    rest leave it to that one (no second reduce-only order, one result)."""
    position_id = await open_position(rig, "ETHUSDT", qty="0.400")
    consumers = [rig.consumer(f"x{i}") for i in range(5)]
    for c in consumers:
        await c.start()
    plan = rig.close_plan("ETHUSDT", position_id, PlanAction.PARTIAL_25)
    await rig.bus.publish_many(rig.keys.apply_exit, [plan] * 50)
    while sum(await asyncio.gather(*(c.poll(0) for c in consumers))):
        pass
    position = await rig.layer.ledger.read("ETHUSDT")
    assert position is not None and position.qty == Decimal("0.300")
    results = [r for r in await rig.results() if r.plan_id == plan.plan_id]
    assert len(results) == 1 and results[0].executed
