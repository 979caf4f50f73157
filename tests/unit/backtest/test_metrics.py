"""Metrics on hand-made equity curves and trade lists."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.backtest.metrics import (
    DAY_MS,
    cagr,
    max_drawdown,
    periodic_returns,
    sharpe_ratio,
    sortino_ratio,
    summarize,
)
from quantum_trader.backtest.trades import BacktestResult, ExitFill, Trade

T0 = 1_704_067_200_000


def trade(pnl: float, reason: str, risk: float = 100.0) -> Trade:
    return Trade(
        "BTCUSDT", "LONG", T0, T0 + 60_000, 100.0, 101.0, 1.0, pnl, 0.1, reason, 0, 1, 0.0, risk
    )


def result(equity: list[float], trades: list[Trade], step_ms: int = DAY_MS) -> BacktestResult:
    curve = np.array(equity)
    times = T0 + step_ms * np.arange(curve.size, dtype=np.int64)
    return BacktestResult(
        "x", ("BTCUSDT",), "1d", 100.0, tuple(trades), times, curve, curve.size, 1.5, -0.5
    )


def test_max_drawdown_is_the_largest_fall_from_a_peak() -> None:
    assert max_drawdown(np.array([100, 120, 90, 130, 117.0])) == pytest.approx(0.25)
    assert max_drawdown(np.array([100, 101, 102.0])) == 0.0


def test_periodic_returns_take_the_last_value_of_each_day() -> None:
    hour = 3_600_000
    times = T0 + hour * np.arange(48, dtype=np.int64)
    equity = np.where(np.arange(48) < 24, 110.0, 121.0)
    returns = periodic_returns(times, equity, DAY_MS, 100.0)
    assert returns == pytest.approx([0.1, 0.1])


def test_sharpe_and_sortino_on_known_returns() -> None:
    r = np.array([0.01, -0.01, 0.02, 0.0])
    sd = np.std(r, ddof=1)
    assert sharpe_ratio(r, 365) == pytest.approx(r.mean() / sd * math.sqrt(365))
    downside = math.sqrt((0.01**2) / 4)
    assert sortino_ratio(r, 365) == pytest.approx(r.mean() / downside * math.sqrt(365))
    assert sharpe_ratio(np.array([0.01, 0.01]), 365) is None  # no variation: undefined
    assert sortino_ratio(np.array([0.01, 0.02]), 365) is None  # no losses: undefined


def test_cagr_compounds_over_the_span() -> None:
    year = 365.25 * DAY_MS
    assert cagr(100, 121, 2 * year) == pytest.approx(0.1)
    assert cagr(100, 0, year) is None


def test_summary_figures() -> None:
    trades = [trade(30.0, "harvest_tranche:1"), trade(-10.0, "stop"), trade(-10.0, "stop", 0.0)]
    summary = summarize(result([100, 130, 120, 110.0], trades), DAY_MS)
    assert summary["total_return"] == pytest.approx(0.1)
    assert summary["max_drawdown"] == pytest.approx(20 / 130)
    assert summary["profit_factor"] == pytest.approx(1.5)
    assert summary["win_rate"] == pytest.approx(1 / 3)
    assert summary["trades"] == 3
    assert summary["avg_r"] == pytest.approx((0.3 - 0.1) / 2)  # the trade without risk is left out
    assert summary["exits"] == {"harvest_tranche:1": 1, "stop": 2}
    assert summary["fees"] == 1.5 and summary["funding"] == -0.5
    assert summary["return_frequency"] == "1d"
    assert summary["starting_balance"] == 100.0 and summary["ending_equity"] == 110.0
    assert summary["realized_pnl"] == pytest.approx(10.0 + 3 * 0.1)  # pnl + fees, no funding
    assert summary["net_pnl"] == pytest.approx(10.3 - 1.5 - 0.5)


def test_statistics_count_positions_not_exit_fills() -> None:
    # A harvested winner-then-loser: +30 on a quarter at +1R, −40 on the rest at the stop.
    exits = (
        ExitFill(T0 + 60_000, 101.0, 0.25, "harvest_tranche:1", 30.0, 0.05, 1),
        ExitFill(T0 + 120_000, 99.0, 0.75, "stop", -40.0, 0.05, 2),
    )
    harvested = Trade(
        "BTCUSDT", "LONG", T0, T0 + 120_000, 100.0, 99.5, 1.0, -10.0, 0.1, "stop", 0, 2,
        0.0, 100.0, exits,
    )  # fmt: skip
    summary = summarize(result([100, 130, 90.0], [harvested, trade(20.0, "trailing_stop")]), DAY_MS)
    assert summary["trades"] == 2
    assert summary["win_rate"] == pytest.approx(0.5)  # the harvested position lost overall
    assert summary["avg_r"] == pytest.approx((-0.1 + 0.2) / 2)  # whole-position pnl ÷ risk
    assert summary["profit_factor"] == pytest.approx(2.0)
    assert summary["exits"] == {"stop": 1, "trailing_stop": 1}
    assert summary["exit_fills"] == {"harvest_tranche:1": 1, "stop": 1, "trailing_stop": 1}


def test_summary_without_trades_has_nulls_not_nans() -> None:
    summary = summarize(result([100.0, 100.0], []), 60_000)
    assert summary["profit_factor"] is None and summary["win_rate"] is None
    assert summary["sharpe"] is None and summary["avg_r"] is None
