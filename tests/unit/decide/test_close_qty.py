"""Close quantity against the live position: skips, step rounding, the remainder rule."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.decide import reasons
from quantum_trader.decide.close_qty import (
    CloseOrder,
    LivePosition,
    ProtectiveStopChange,
    StopAdjustment,
    close_qty_for,
    protective_stop_after_close,
)
from quantum_trader.decide.reasons import Rejection
from quantum_trader.domain.enums import PlanAction, PositionSide
from quantum_trader.domain.money import is_multiple

from .sample_instruments import BTCUSDT

LIVE = LivePosition("pos-1", "BTCUSDT", PositionSide.LONG, D("0.100"))
PRICE = D("50000")


def order(outcome: CloseOrder | Rejection) -> CloseOrder:
    assert isinstance(outcome, CloseOrder), outcome
    return outcome


def test_position_gone_is_skip_no_position() -> None:
    outcome = close_qty_for(None, "pos-1", D("0.25"), BTCUSDT, PRICE)
    assert outcome == Rejection(reasons.NO_POSITION, "no live position")
    zero = LivePosition("pos-1", "BTCUSDT", PositionSide.LONG, D("0"))
    assert isinstance(close_qty_for(zero, "pos-1", D("1"), BTCUSDT, PRICE), Rejection)


def test_different_position_is_skip_stale_position() -> None:
    outcome = close_qty_for(LIVE, "pos-0", D("1"), BTCUSDT, PRICE)
    assert isinstance(outcome, Rejection) and outcome.reason == reasons.STALE_POSITION


@pytest.mark.parametrize("fraction", ["0", "-0.25", "1.5"])
def test_fraction_outside_unit_interval_is_skipped(fraction: str) -> None:
    outcome = close_qty_for(LIVE, "pos-1", D(fraction), BTCUSDT, PRICE)
    assert isinstance(outcome, Rejection) and outcome.reason == reasons.INVALID_FRACTION


@pytest.mark.parametrize(
    ("action", "qty", "remaining"),
    [
        (PlanAction.PARTIAL_25, "0.025", "0.075"),
        (PlanAction.PARTIAL_50, "0.050", "0.050"),
        (PlanAction.PARTIAL_75, "0.075", "0.025"),
        (PlanAction.FULL_CLOSE, "0.100", "0"),
    ],
)
def test_action_fraction_of_live_qty(action: PlanAction, qty: str, remaining: str) -> None:
    fraction = D(action.close_fraction or "")
    result = order(close_qty_for(LIVE, "pos-1", fraction, BTCUSDT, PRICE))
    assert (result.qty, result.remaining_qty) == (D(qty), D(remaining))
    assert result.closes_all == (action is PlanAction.FULL_CLOSE)


def test_partial_rounds_down_to_step() -> None:
    live = LivePosition("pos-1", "BTCUSDT", PositionSide.SHORT, D("0.107"))
    result = order(close_qty_for(live, "pos-1", D("0.25"), BTCUSDT, PRICE))
    assert result.qty == D("0.026")  # 0.02675 → 0.026
    assert result.side is PositionSide.SHORT


def test_remainder_below_min_notional_closes_all() -> None:
    # 0.003 BTC: 25% → 0.000 rounds to zero → close all rather than send qty 0.
    tiny = LivePosition("pos-1", "BTCUSDT", PositionSide.LONG, D("0.003"))
    result = order(close_qty_for(tiny, "pos-1", D("0.25"), BTCUSDT, PRICE))
    assert (result.qty, result.closes_all, result.note) == (
        D("0.003"),
        True,
        reasons.PARTIAL_BELOW_MIN,
    )
    # 0.004 BTC: 75% → 0.003, remainder 0.001 × 50000 = 50 USDT < 100 USDT min notional.
    small = LivePosition("pos-1", "BTCUSDT", PositionSide.LONG, D("0.004"))
    result = order(close_qty_for(small, "pos-1", D("0.75"), BTCUSDT, PRICE))
    assert (result.qty, result.note) == (D("0.004"), reasons.REMAINDER_BELOW_MIN)


def test_remainder_below_min_qty_closes_all() -> None:
    # min qty 0.01 on a 0.001 step: 95% of 0.1 leaves 0.005 (250 USDT, notional fine).
    coarse = replace(BTCUSDT, market_min_qty=D("0.01"))
    result = order(close_qty_for(LIVE, "pos-1", D("0.95"), coarse, PRICE))
    assert (result.qty, result.note) == (D("0.100"), reasons.REMAINDER_BELOW_MIN)


def test_remainder_exactly_at_minimums_is_kept() -> None:
    live = LivePosition("pos-1", "BTCUSDT", PositionSide.LONG, D("0.008"))
    result = order(close_qty_for(live, "pos-1", D("0.75"), BTCUSDT, PRICE))
    assert (result.qty, result.remaining_qty) == (D("0.006"), D("0.002"))  # 100 USDT left


@settings(max_examples=300, deadline=None)
@given(
    live_steps=st.integers(min_value=0, max_value=100_000),
    fraction=st.decimals(min_value=D("-0.5"), max_value=D("1.5"), places=4),
    price=st.decimals(min_value=D("100"), max_value=D("200000"), places=1),
    same_id=st.booleans(),
)
def test_close_qty_is_positive_and_at_most_live_or_skip(
    live_steps: int, fraction: D, price: D, same_id: bool
) -> None:
    live = LivePosition("pos-1", "BTCUSDT", PositionSide.LONG, D("0.001") * live_steps)
    outcome = close_qty_for(live, "pos-1" if same_id else "pos-2", fraction, BTCUSDT, price)
    if isinstance(outcome, Rejection):
        assert outcome.reason in {
            reasons.NO_POSITION,
            reasons.STALE_POSITION,
            reasons.INVALID_FRACTION,
        }
        return
    assert D(0) < outcome.qty <= live.qty
    assert is_multiple(outcome.qty, BTCUSDT.market_step_size)
    assert outcome.remaining_qty == live.qty - outcome.qty
    if outcome.remaining_qty > 0:
        assert outcome.remaining_qty >= BTCUSDT.market_min_qty
        assert outcome.remaining_qty * price >= BTCUSDT.min_notional


def test_protective_stop_follows_remaining_qty() -> None:
    assert protective_stop_after_close(D("0.075"), D("0.100")) == ProtectiveStopChange(
        StopAdjustment.RESIZE, D("0.075")
    )
    assert protective_stop_after_close(D("0.075"), D("0.075")).adjustment is StopAdjustment.KEEP
    assert protective_stop_after_close(D("0"), D("0.100")) == ProtectiveStopChange(
        StopAdjustment.CANCEL, D("0")
    )
    kept = protective_stop_after_close(D("0.05"), None, close_position=True)
    assert kept.adjustment is StopAdjustment.KEEP
    missing = protective_stop_after_close(D("0.05"), None)
    assert missing == ProtectiveStopChange(StopAdjustment.RESIZE, D("0.05"))
