"""What follows a close (:mod:`quantum_trader.decide.position_close`): the cooldown from
the closing fill's time, the round trip net of fees — one rule for the ledger service, the
risk guard and the backtester."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from quantum_trader.decide.position_close import (
    PositionClosed,
    extended,
    plan_cooldown_ms,
    position_closed,
)
from quantum_trader.decide.position_ledger import LedgerPosition, apply_fill
from quantum_trader.decide.risk_guard import TradeClosed
from quantum_trader.domain.enums import PlanAction, Side
from quantum_trader.domain.order_ids import client_order_id
from quantum_trader.domain.orders import Fill


def fill(side: Side, price: str, fee: str, ts: int, reduce_only: bool) -> Fill:
    return Fill(
        "BTCUSDT", f"t{ts}", f"o{ts}", client_order_id("e", f"plan-{ts}"), side, D(price),
        D("0.010"), D(fee), "USDT", D(0), False, reduce_only, ts,
    )  # fmt: skip


def closed_round_trip() -> tuple[LedgerPosition, int]:
    opened = apply_fill(None, fill(Side.BUY, "60000", "0.24", 1_000, False), 5).position
    outcome = apply_fill(opened, fill(Side.SELL, "61000", "0.25", 90_000, True), 5)
    assert outcome.position is None and outcome.closed is not None
    return outcome.closed, 90_000


def test_a_close_cools_the_symbol_from_its_fill_and_counts_the_net_trip() -> None:
    closed, ts = closed_round_trip()
    after = position_closed(closed, ts, 60_000)
    # +10 USDT on 0.010 BTC, less 0.49 USDT of fees
    assert after == PositionClosed("BTCUSDT", 150_000, TradeClosed(D("9.51"), 90_000))


def test_no_cooldown_configured_means_none_and_a_close_never_shortens_one() -> None:
    closed, ts = closed_round_trip()
    none = position_closed(closed, ts, 0)
    assert none.cooldown_until == 0
    assert extended(200_000, none) == 200_000
    assert extended(100_000, position_closed(closed, ts, 60_000)) == 150_000
    assert extended(200_000, position_closed(closed, ts, 60_000)) == 200_000
    with pytest.raises(ValueError, match="cooldown_ms"):
        position_closed(closed, ts, -1)


@pytest.mark.parametrize(
    ("action", "executed", "cooldown"),
    [
        (PlanAction.OPEN, True, 60_000),
        (PlanAction.FULL_CLOSE, True, 60_000),
        (PlanAction.PARTIAL_50, True, 60_000),  # a harvest cools the symbol too
        (PlanAction.UPDATE_STOP, True, 0),
        (PlanAction.OPEN, False, 0),
        (PlanAction.FULL_CLOSE, False, 0),
    ],
)
def test_a_finished_plan_starts_a_cooldown_only_when_it_traded(
    action: PlanAction, executed: bool, cooldown: int
) -> None:
    assert plan_cooldown_ms(action, executed, 60_000) == cooldown
