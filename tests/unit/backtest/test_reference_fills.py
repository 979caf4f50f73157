"""The reference fill model against hand-computed trades and a per-bar loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.backtest.reference import reference_fills, run_reference
from quantum_trader.data import BarSeries
from quantum_trader.strategies import Bar, get_strategy

FEE = 0.0004
T0 = 1_704_067_200_000

# open, high, low, close per bar (see test_hand_made_trade_list for what each bar does)
OHLC = [
    (100, 100.5, 99.5, 100),
    (100, 100.5, 99.5, 100),
    (100, 101, 99, 100),
    (100, 100.5, 97.5, 99),
    (99, 102.5, 98.5, 101),
    (101, 101.5, 100.5, 101),
    (100, 101, 99, 99.5),
    (95, 96, 94, 95.5),
    (100, 104, 97, 100),
    (100, 101, 99.5, 100.5),
    (101, 101.5, 100, 100.5),
    (100, 100.8, 99.6, 100.5),
]
UP = {1, 3, 5, 7, 8, 10, 11}
DOWN = {9}


def _columns() -> tuple[np.ndarray, ...]:
    a = np.array(OHLC, dtype=np.float64)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def _mask(indices: set[int]) -> np.ndarray:
    mask = np.zeros(len(OHLC), dtype=np.bool_)
    mask[sorted(indices)] = True
    return mask


def test_hand_made_trade_list() -> None:
    o, h, low, c = _columns()
    fills = reference_fills(
        o, h, low, c, _mask(UP), _mask(DOWN), stop_pct=0.02, target_pct=0.03, fee=FEE
    )
    got = [
        (
            int(fills.entry_index[i]),
            int(fills.exit_index[i]),
            float(fills.entry_price[i]),
            float(fills.exit_price[i]),
            fills.reason_name(i),
        )
        for i in range(len(fills))
    ]
    expected = [
        (2, 3, 100.0, 100.0 * 0.98, "stop"),  # cross up at 1 -> next open; SL exactly at 98
        (
            4,
            4,
            99.0,
            99.0 * 1.03,
            "take_profit",
        ),  # re-entry after the SL bar's cross; TP on entry bar
        (6, 7, 100.0, 100.0 * 0.98, "stop"),  # bar 7 gaps to 95: filled at the level, not the open
        (8, 8, 100.0, 100.0 * 0.98, "stop"),  # SL and TP both in range: stop first, entry bar
        (9, 10, 100.0, 101.0, "signal"),  # cross down at 9 -> open of 10
        (11, 11, 100.0, 100.5, "end"),  # entered on the last bar, closed at its close
    ]
    assert got == expected


def test_equity_compounds_each_round_trip_with_fees() -> None:
    o, h, low, c = _columns()
    fills = reference_fills(
        o, h, low, c, _mask(UP), _mask(DOWN), stop_pct=0.02, target_pct=0.03, fee=FEE
    )
    equity = 100_000.0
    for entry, exit_ in zip(fills.entry_price, fills.exit_price, strict=True):
        equity *= (exit_ / entry) * (1 - FEE) / (1 + FEE)
    assert fills.cash_after[-1] == pytest.approx(equity, rel=1e-12)
    assert fills.fees[0] == pytest.approx(
        fills.qty[0] * 100.0 * FEE + fills.qty[0] * 98.0 * FEE, rel=1e-12
    )


def test_target_gapped_through_fills_at_the_target() -> None:
    o = np.array([100, 100, 100, 110.0])
    h = np.array([100.5, 100.5, 101, 111.0])
    low = np.array([99.5, 99.5, 99.5, 109.0])
    c = np.array([100, 100, 100, 110.0])
    up = np.array([False, True, False, False])
    fills = reference_fills(o, h, low, c, up, ~up & False, stop_pct=0.02, target_pct=0.03)
    assert fills.exit_price.tolist() == [100.0 * 1.03]
    assert fills.exit_index.tolist() == [3]


def test_signal_on_last_bar_is_ignored() -> None:
    o, h, low, c = _columns()
    fills = reference_fills(o, h, low, c, _mask({11}), _mask(set()), stop_pct=0.02, target_pct=0.03)
    assert len(fills) == 0


def _series(o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray) -> BarSeries:
    t = T0 + 60_000 * np.arange(c.size, dtype=np.int64)
    return BarSeries("BTCUSDT", "1m", t, o, h, low, c, np.ones(c.size))


def per_bar_loop(series: BarSeries, stop: float, target: float) -> list[tuple[object, ...]]:
    """The document's rules, bar by bar, with the strategy's own on_bar for signals."""
    strategy = get_strategy("ref_ema_cross", stop_pct=stop, target_pct=target)
    state = strategy.initial_state(series.symbol)
    n = len(series)
    trips: list[tuple[object, ...]] = []
    pending, long = "", False
    entry_bar, entry, sl, tp = 0, 0.0, 0.0, 0.0
    for t in range(n):
        o, h, low, c = (float(x[t]) for x in (series.open, series.high, series.low, series.close))
        if pending == "buy":
            long, entry_bar, entry = True, t, o
            sl, tp = entry * (1 - stop), entry * (1 + target)
        elif pending == "sell":
            long = False
            trips.append((entry_bar, t, entry, o, "signal"))
        pending = ""
        if long and low <= sl:
            long = False
            trips.append((entry_bar, t, entry, sl, "stop"))
        elif long and h >= tp:
            long = False
            trips.append((entry_bar, t, entry, tp, "take_profit"))
        bar = Bar(series.symbol, "1m", int(series.open_time[t]), o, h, low, c, 1.0)
        state, signal = strategy.on_bar(state, bar)
        if signal is not None and t < n - 1:
            if not long and not signal.is_exit:
                pending = "buy"
            elif long and signal.is_exit:
                pending = "sell"
    if long:
        trips.append((entry_bar, n - 1, entry, float(series.close[-1]), "end"))
    return trips


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(30, 400),
    stops=st.sampled_from([(0.02, 0.03), (0.002, 0.003)]),
    gap=st.floats(0.0, 0.01),
)
def test_reference_equals_a_per_bar_loop(
    seed: int, n: int, stops: tuple[float, float], gap: float
) -> None:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    opens = np.concatenate(([100.0], close[:-1])) * (1 + rng.normal(0, gap, n))
    high = np.maximum(opens, close) * (1 + np.abs(rng.normal(0, 0.002, n)))
    low = np.minimum(opens, close) * (1 - np.abs(rng.normal(0, 0.002, n)))
    series = _series(opens, high, low, close)
    result = run_reference(series, stop_pct=stops[0], target_pct=stops[1])
    got = [
        (t.entry_index, t.exit_index, t.entry_price, t.exit_price, t.exit_reason)
        for t in result.trades
    ]
    assert got == per_bar_loop(series, *stops)


def test_result_times_and_equity_curve() -> None:
    o, h, low, c = _columns()
    series = _series(o, h, low, c)
    result = run_reference(series)
    assert result.equity.size == len(series)
    assert result.equity[0] == 100_000.0
    for trade in result.trades:
        assert trade.entry_time == T0 + 60_000 * trade.entry_index
        assert trade.exit_time == T0 + 60_000 * trade.exit_index
    if result.trades:
        assert result.final_equity == pytest.approx(100_000.0 + sum(t.pnl for t in result.trades))
