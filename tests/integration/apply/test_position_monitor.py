"""The reconciler makes the ledger equal to the exchange after hand-made changes."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.domain.enums import OrderType, PlanAction, PositionSide, Side
from quantum_trader.services.execution_pump import fill_event
from quantum_trader.services.ledger import fill_from_event
from quantum_trader.services.position_monitor import PositionMonitor
from tests.integration.apply.rig import ApplyRig


def monitor(rig: ApplyRig) -> PositionMonitor:
    return rig.monitor()


async def open_position(rig: ApplyRig, symbol: str) -> str:
    c = rig.consumer("opener")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan(symbol, 1))
    await rig.drain(c)
    position = await rig.layer.ledger.read(symbol)
    assert position is not None
    return position.position_id


async def test_a_position_closed_by_hand_is_dropped_and_never_closed_again(rig: ApplyRig) -> None:
    position_id = await open_position(rig, "ETHUSDT")
    rig.exchange.close_position_by_hand("ETHUSDT")
    reconciler = monitor(rig)
    repairs = await reconciler.reconcile_once()
    # The exchange's own trade history explains the close: it is folded in as a fill,
    # and the stop left without a position is cancelled.
    assert reconciler.repairs["FoldedFill"] == 1
    assert [type(r).__name__ for r in repairs] == ["CancelOrphanOrder"]
    assert await rig.layer.ledger.read("ETHUSDT") is None
    assert await rig.exchange.open_orders("ETHUSDT") == []
    orders_before = len(rig.orders())
    c = rig.consumer("a1")
    await c.start()
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("ETHUSDT", position_id, PlanAction.FULL_CLOSE)
    )
    await rig.drain(c)
    assert len(rig.orders()) == orders_before
    assert await reconciler.reconcile_once() == []  # converged
    events = [e for e in await rig.events() if e.kind == "reconcile_repair"]
    assert events and all(e.reconciliation for e in events)


async def test_a_position_opened_by_hand_is_adopted_with_a_protective_stop(rig: ApplyRig) -> None:
    rig.exchange.open_position_by_hand("SOLUSDT", Side.SELL, Decimal("3"))
    reconciler = monitor(rig)
    await reconciler.reconcile_once()
    adopted = await rig.layer.ledger.read("SOLUSDT")
    assert adopted is not None and adopted.source == "adopted"
    assert adopted.side is PositionSide.SHORT and adopted.qty == Decimal("3")
    (stop,) = await rig.exchange.open_orders("SOLUSDT")
    assert stop.type is OrderType.STOP_MARKET and stop.side is Side.BUY and stop.reduce_only
    assert stop.quantity == Decimal("3") and stop.stop_price is not None
    assert stop.stop_price > adopted.entry_price
    assert adopted.stop_order_id == stop.client_order_id
    assert await reconciler.reconcile_once() == []


async def test_a_protective_stop_cancelled_by_hand_is_placed_again(rig: ApplyRig) -> None:
    await open_position(rig, "BTCUSDT")
    before = await rig.layer.ledger.read("BTCUSDT")
    assert before is not None
    rig.exchange.cancel_by_hand("BTCUSDT", before.stop_order_id)
    assert await rig.exchange.open_orders("BTCUSDT") == []
    repairs = await monitor(rig).reconcile_once()
    assert [type(r).__name__ for r in repairs] == ["PlaceProtectiveStop"]
    (stop,) = await rig.exchange.open_orders("BTCUSDT")
    assert stop.quantity == before.qty and stop.reduce_only
    after = await rig.layer.ledger.read("BTCUSDT")
    assert after is not None and after.stop_order_id == stop.client_order_id


async def test_a_ledger_position_the_exchange_never_had_is_dropped_as_a_ghost(
    rig: ApplyRig,
) -> None:
    await open_position(rig, "DOGEUSDT")
    real = await rig.layer.ledger.read("DOGEUSDT")
    assert real is not None
    from dataclasses import replace

    await rig.layer.ledger.replace(
        replace(real, symbol="XRPUSDT", position_id="XRPUSDT:lost"), "XRPUSDT"
    )
    repairs = await monitor(rig).reconcile_once()
    assert [(type(r).__name__, r.symbol) for r in repairs] == [("DropGhost", "XRPUSDT")]
    assert await rig.layer.ledger.read("XRPUSDT") is None
    assert await rig.layer.ledger.read("DOGEUSDT") is not None


async def test_a_position_adopted_before_its_fill_event_arrives_is_counted_once(
    rig: ApplyRig,
) -> None:
    """A foreign order fills; the reconciler adopts the position from the exchange's own
    trades before the user-data event of that fill reaches the ledger. The late event is
    the same trade: it changes nothing, and the next round finds no drift."""
    rig.exchange.open_position_by_hand("SOLUSDT", Side.SELL, Decimal("3"))
    reconciler = monitor(rig)
    await reconciler.reconcile_once()
    (fill,) = await rig.exchange.my_trades("SOLUSDT")
    late = fill_from_event(fill_event(fill, rig.clock.now_ms() + 5_000))
    assert await rig.layer.ledger.record_fill(late) is None  # already folded
    adopted = await rig.layer.ledger.read("SOLUSDT")
    assert adopted is not None and adopted.qty == Decimal("3")
    assert await reconciler.reconcile_once() == []
    assert reconciler.repairs["CorrectDrift"] == 0
