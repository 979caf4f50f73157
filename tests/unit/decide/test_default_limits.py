"""The default sizing fits under the default risk limits: a full book of default-sized
positions never trips (or holds) a REDUCE_ONLY limit by itself (``decide.sizing`` docstring)."""

from __future__ import annotations

from decimal import Decimal as D

from quantum_trader.decide.entry_gates import GateLimits
from quantum_trader.decide.risk_guard import AccountSnapshot, RiskConfig, RiskState, step_risk
from quantum_trader.decide.sizing import (
    AccountCapacity,
    SizedEntry,
    SizingConfig,
    SizingRequest,
    size_entry,
)
from quantum_trader.domain.enums import PositionSide, RiskMode

from .sample_instruments import BTCUSDT

RISK, SIZING = RiskConfig(), SizingConfig()
T0 = 20_000 * 86_400_000 + 3_600_000


def test_default_book_fits_under_the_gross_cap_with_its_release_margin() -> None:
    book = RISK.max_open_positions * SIZING.max_position_fraction  # × equity
    assert book == D("2.5")
    assert book <= RISK.max_gross_exposure_ratio  # 2.5 ≤ 3
    # ... and below the release level too, so a full book never holds the latch either.
    assert book <= RISK.max_gross_exposure_ratio * RISK.release_ratio  # 2.5 ≤ 2.7


def test_default_book_fits_under_the_margin_limit() -> None:
    book = RISK.max_open_positions * SIZING.max_position_fraction
    margin = book / SIZING.leverage  # initial margin ÷ equity
    assert margin == D("0.5")
    assert margin <= RISK.max_margin_utilisation * RISK.release_ratio  # 0.5 ≤ 0.72


def test_every_default_stop_hit_at_once_costs_at_most_one_daily_loss_limit() -> None:
    assert RISK.max_open_positions * SIZING.risk_pct == RISK.daily_loss_limit_pct == D("0.05")


def test_the_gate_allows_as_many_positions_as_the_risk_guard() -> None:
    assert GateLimits().max_open_positions == RISK.max_open_positions


def test_a_tight_stop_is_capped_at_a_quarter_of_equity() -> None:
    # 1m bars: 2 × ATR ≈ 0.3 % of price. Risk alone would size 0.5 % ÷ 0.3 % = 1.67× equity.
    account = AccountCapacity(equity=D("10000"), available_margin=D("10000"))
    request = SizingRequest(PositionSide.LONG, D("50000"), D("150"))
    sized = size_entry(request, account, BTCUSDT, SIZING)
    assert isinstance(sized, SizedEntry)
    assert sized.binding_cap == "position_fraction"
    assert sized.notional <= D("2500") and sized.risk_at_stop < sized.risk_amount


def test_a_wide_stop_is_sized_by_risk() -> None:
    # A 4 % stop: 50 USDT ÷ 2000 = 0.025 BTC = 1250 USDT, under the 2500 USDT cap.
    account = AccountCapacity(equity=D("10000"), available_margin=D("10000"))
    request = SizingRequest(PositionSide.LONG, D("50000"), D("2000"))
    sized = size_entry(request, account, BTCUSDT, SIZING)
    assert isinstance(sized, SizedEntry)
    assert (sized.binding_cap, sized.qty) == ("risk", D("0.025"))


def test_a_full_book_of_default_sized_positions_stays_normal() -> None:
    equity = D("10000")
    account = AccountCapacity(equity=equity, available_margin=equity)
    request = SizingRequest(PositionSide.LONG, D("50000"), D("150"))
    sized = size_entry(request, account, BTCUSDT, SIZING)
    assert isinstance(sized, SizedEntry)
    positions = RISK.max_open_positions - 1  # the 10th is max_open_positions itself
    gross = sized.notional * positions
    margin = gross / SIZING.leverage / equity
    state, _ = step_risk(
        RiskState(), AccountSnapshot(equity, positions, gross, margin, T0), RISK, T0
    )
    assert state.mode is RiskMode.NORMAL, state.reasons
