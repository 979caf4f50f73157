"""Reconcile diff: every repair kind, ordering, and determinism."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal as D

from quantum_trader.decide import reasons
from quantum_trader.decide.reconcile import (
    AdoptPosition,
    CancelOrphanOrder,
    CorrectDrift,
    DropGhost,
    InflightLease,
    LedgerView,
    PlaceProtectiveStop,
    ReconcileConfig,
    Repair,
    ResolveInflight,
    adopted_position_id,
    reconcile,
)
from quantum_trader.domain.enums import (
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from quantum_trader.domain.orders import Order, PositionState

from .sample_instruments import INSTRUMENTS

NOW = 1_760_000_000_000
CONFIG = ReconcileConfig(adopt_stop_pct=D("0.02"), inflight_max_age_ms=30_000)
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT


def venue(
    symbol: str, side: PositionSide, qty: str, entry: str, mark: str | None = None
) -> PositionState:
    return PositionState(
        symbol, side, D(qty), D(entry), D(mark or entry), D(0), 5, D(0), NOW - 1000
    )


def ours(symbol: str, side: PositionSide, qty: str, entry: str, pid: str = "p1") -> LedgerView:
    return LedgerView(symbol, side, D(qty), D(entry), pid, "qt-stop")


def stop_order(
    symbol: str,
    side: Side,
    qty: str,
    stop: str,
    cid: str = "qt-stop",
    *,
    close_position: bool = False,
    order_type: OrderType = OrderType.STOP_MARKET,
    reduce_only: bool = True,
) -> Order:
    return Order(
        symbol,
        side,
        order_type,
        OrderStatus.NEW,
        cid,
        f"x-{cid}",
        D(qty),
        D(0),
        D(0),
        None,
        D(stop),
        reduce_only,
        close_position,
        WorkingType.MARK_PRICE,
        TimeInForce.GTC,
        NOW - 5000,
        NOW - 5000,
    )


def diff(
    ledger: Sequence[LedgerView] = (),
    positions: Sequence[PositionState] = (),
    orders: Sequence[Order] = (),
    leases: Sequence[InflightLease] = (),
    now: int = NOW,
) -> list[Repair]:
    return reconcile(
        {p.symbol: p for p in ledger}, positions, orders, leases, INSTRUMENTS, CONFIG, now
    )


def test_in_sync_and_protected_needs_no_repair() -> None:
    assert (
        diff(
            [ours("BTCUSDT", LONG, "0.1", "50000")],
            [venue("BTCUSDT", LONG, "0.1", "50000")],
            [stop_order("BTCUSDT", Side.SELL, "0.1", "49000")],
        )
        == []
    )


def test_unknown_exchange_position_is_adopted_and_protected() -> None:
    repairs = diff(positions=[venue("BTCUSDT", LONG, "0.2", "50000", mark="49000")])
    assert repairs == [
        AdoptPosition(
            "BTCUSDT", LONG, D("0.2"), D("50000"), adopted_position_id("BTCUSDT", LONG, D("50000"))
        ),
        # 2% below the worse of entry and mark (49000), rounded down: cannot trigger at once
        PlaceProtectiveStop("BTCUSDT", LONG, D("0.2"), D("48020.0")),
    ]


def test_adopted_short_gets_stop_above_entry_and_mark() -> None:
    repairs = diff(positions=[venue("DOGEUSDT", SHORT, "1000", "0.15", mark="0.151")])
    stop = repairs[-1]
    assert isinstance(stop, PlaceProtectiveStop)
    assert stop.stop_price == D("0.15402")  # 0.151 × 1.02 = 0.15402
    assert stop.stop_price > D("0.151")


def test_ledger_position_missing_on_exchange_is_a_ghost() -> None:
    assert diff([ours("BTCUSDT", LONG, "0.1", "50000")]) == [
        DropGhost("BTCUSDT", "p1", reasons.NOT_ON_EXCHANGE)
    ]


def test_side_flip_drops_ghost_and_adopts() -> None:
    repairs = diff(
        [ours("BTCUSDT", LONG, "0.1", "50000")],
        [venue("BTCUSDT", SHORT, "0.1", "51000")],
        [stop_order("BTCUSDT", Side.BUY, "0.1", "52000")],
    )
    assert [type(r) for r in repairs] == [DropGhost, AdoptPosition]
    assert repairs[0] == DropGhost("BTCUSDT", "p1", reasons.SIDE_FLIPPED)


def test_qty_drift_is_corrected_to_the_exchange() -> None:
    repairs = diff(
        [ours("BTCUSDT", LONG, "0.3", "50000")],
        [venue("BTCUSDT", LONG, "0.1", "50010")],
        [stop_order("BTCUSDT", Side.SELL, "0.1", "49000")],
    )
    assert repairs == [CorrectDrift("BTCUSDT", "p1", D("0.3"), D("0.1"), D("50000"), D("50010"))]


def test_missing_stop_is_placed_for_full_qty() -> None:
    repairs = diff(
        [ours("BTCUSDT", LONG, "0.1", "50000")], [venue("BTCUSDT", LONG, "0.1", "50000")]
    )
    assert repairs == [PlaceProtectiveStop("BTCUSDT", LONG, D("0.1"), D("49000.0"))]


def test_undersized_stop_is_replaced_at_its_own_trigger() -> None:
    repairs = diff(
        [ours("BTCUSDT", LONG, "0.1", "50000")],
        [venue("BTCUSDT", LONG, "0.1", "50000")],
        [stop_order("BTCUSDT", Side.SELL, "0.05", "49500")],
    )
    assert repairs == [PlaceProtectiveStop("BTCUSDT", LONG, D("0.1"), D("49500"), "qt-stop")]


def test_wrong_side_or_non_reducing_orders_do_not_count_as_protection() -> None:
    wrong_side = stop_order("BTCUSDT", Side.BUY, "0.1", "51000", "manual-1")
    take_profit = stop_order(
        "BTCUSDT", Side.SELL, "0.1", "52000", "manual-2", order_type=OrderType.TAKE_PROFIT_MARKET
    )
    repairs = diff(
        [ours("BTCUSDT", LONG, "0.1", "50000")],
        [venue("BTCUSDT", LONG, "0.1", "50000")],
        [wrong_side, take_profit],
    )
    assert [type(r) for r in repairs] == [PlaceProtectiveStop]


def test_close_position_stop_covers_any_qty() -> None:
    cover = stop_order("BTCUSDT", Side.SELL, "0", "49000", close_position=True, reduce_only=False)
    assert (
        diff(
            [ours("BTCUSDT", LONG, "0.1", "50000")],
            [venue("BTCUSDT", LONG, "0.1", "50000")],
            [cover],
        )
        == []
    )


def test_duplicate_stops_are_cancelled_keeping_one() -> None:
    repairs = diff(
        [ours("BTCUSDT", LONG, "0.1", "50000")],
        [venue("BTCUSDT", LONG, "0.1", "50000")],
        [
            stop_order("BTCUSDT", Side.SELL, "0.1", "49000", "qt-a"),
            stop_order("BTCUSDT", Side.SELL, "0.1", "49100", "qt-b"),
        ],
    )
    assert repairs == [CancelOrphanOrder("BTCUSDT", "qt-b", "x-qt-b", reasons.DUPLICATE_STOP)]


def test_reduce_only_orders_without_position_are_orphans() -> None:
    repairs = diff(orders=[stop_order("DOGEUSDT", Side.SELL, "100", "0.1", "anyone")])
    assert repairs == [CancelOrphanOrder("DOGEUSDT", "anyone", "x-anyone", reasons.NO_POSITION)]


def test_our_entry_order_without_lease_is_orphan_but_manual_orders_are_left() -> None:
    ours_entry = stop_order(
        "BTCUSDT", Side.BUY, "0.1", "0", "qt-entry", reduce_only=False, order_type=OrderType.LIMIT
    )
    manual = stop_order(
        "BTCUSDT", Side.BUY, "0.1", "0", "web-123", reduce_only=False, order_type=OrderType.LIMIT
    )
    repairs = diff(orders=[ours_entry, manual])
    assert repairs == [CancelOrphanOrder("BTCUSDT", "qt-entry", "x-qt-entry", reasons.NO_LEASE)]
    leased = diff(orders=[ours_entry], leases=[InflightLease("BTCUSDT", "qt-entry", NOW - 1000)])
    assert leased == []


def test_old_lease_is_resolved_young_lease_waits_and_defers_stop() -> None:
    young = InflightLease("BTCUSDT", "qt-e1", NOW - 30_000)
    old = InflightLease("DOGEUSDT", "qt-e2", NOW - 30_001)
    repairs = diff(
        positions=[venue("BTCUSDT", LONG, "0.1", "50000")],
        leases=[young, old],
        ledger=[ours("BTCUSDT", LONG, "0.1", "50000")],
    )
    # BTC: the young lease means the apply-layer is placing the stop right now.
    assert repairs == [ResolveInflight("DOGEUSDT", "qt-e2", 30_001)]


def test_repairs_are_sorted_by_symbol_and_deterministic() -> None:
    ledger = [ours("ETHUSDT", LONG, "1", "3000"), ours("BTCUSDT", LONG, "0.1", "50000")]
    positions = [venue("DOGEUSDT", LONG, "100", "0.1"), venue("BTCUSDT", LONG, "0.2", "50000")]
    orders = [stop_order("ADAUSDT", Side.SELL, "10", "0.3", "qt-x")]
    first = diff(ledger, positions, orders)
    assert [r.symbol for r in first] == sorted(r.symbol for r in first)
    shuffled = list(reversed(positions)), list(reversed(ledger))
    assert diff(shuffled[1], shuffled[0], orders) == first
    rng = random.Random(7)
    for _ in range(5):
        rng.shuffle(positions)
        assert diff(ledger, positions, orders) == first
    assert [type(r).__name__ for r in first] == [
        "CancelOrphanOrder",
        "CorrectDrift",
        "PlaceProtectiveStop",
        "AdoptPosition",
        "PlaceProtectiveStop",
        "DropGhost",
    ]
