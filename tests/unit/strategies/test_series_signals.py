"""Each strategy's whole-series path (``series_signals``, the backtester's) equals the fold.

The vector path finds the signal bars from whole-series indicators and builds each signal
by ``on_bar`` itself from the state rebuilt at the bar before — so every side must be the
fold's and every signal the very object folding ``on_bar`` over every bar emits, features
included. Random walks (with time gaps, quiet and wild) and real Binance candles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.backtest.signals import StrategySpec, VectorSignals, series_signals
from quantum_trader.data import BarSeries, load_klines
from quantum_trader.strategies import get_strategy
from quantum_trader.strategies.indicators import RollingStats
from tests.conftest import shared_data

T0 = 1_704_067_200_000

# (strategy, parameter sets): the defaults and short periods that signal often
CASES: list[tuple[str, dict[str, Any]]] = [
    ("ref_ema_cross", {}),
    ("ref_ema_cross", {"fast": 3, "slow": 5}),
    ("ref_ema_cross", {"fast": 2, "slow": 40}),
    ("trend_ema", {}),
    ("trend_ema", {"fast": 3, "slow": 8, "trend": 20, "atr_period": 5}),
    ("trend_ema", {"fast": 2, "slow": 5, "trend": 3, "take_profit_atr": 3.0}),
    ("breakout", {}),
    ("breakout", {"channel": 5, "volume_period": 4, "volume_factor": 1.0, "atr_period": 3}),
    ("breakout", {"channel": 3, "volume_factor": 0.0, "min_breakout_atr": 0.0}),
    ("mean_reversion", {}),
    ("mean_reversion", {"rsi_period": 3, "setup_bars": 2, "macd_fast": 3, "macd_slow": 6}),
    ("mean_reversion", {"rsi_period": 5, "oversold": 45.0, "overbought": 55.0, "setup_bars": 1}),
    ("mean_reversion", {"rsi_period": 2, "take_profit_atr": None, "atr_period": 30}),
]


def random_series(seed: int, n: int, vol: float) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    opens = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(opens, close) * (1 + np.abs(rng.normal(0, vol / 2, n)))
    low = np.minimum(opens, close) * (1 - np.abs(rng.normal(0, vol / 2, n)))
    t = T0 + 60_000 * np.cumsum(rng.integers(1, 3, n))  # with gaps
    volume = rng.choice([1.0, 2.0, 3.0], n) * rng.integers(1, 4, n)  # exact ties in the means
    return BarSeries("BTCUSDT", "1m", t, opens, high, low, close, volume)


def assert_vector_equals_fold(name: str, params: dict[str, Any], series: BarSeries) -> int:
    fold = series_signals(StrategySpec(name, tuple(sorted(params.items()))), series)
    strategy = get_strategy(name, **params)
    assert isinstance(strategy, VectorSignals)
    columns = (series.open_time, series.open, series.high, series.low, series.close,
               series.volume)  # fmt: skip
    sides, signal_at = strategy.series_signals(series.symbol, series.interval, columns)
    assert list(sides) == list(fold)
    for i, signal in fold.items():
        assert sides[i] is signal.side
        assert signal_at(i) == signal
    return len(fold)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 700),
    vol=st.sampled_from([0.0005, 0.004, 0.02]),
    case=st.sampled_from(CASES),
)
def test_series_signals_equal_the_fold(
    seed: int, n: int, vol: float, case: tuple[str, dict[str, Any]]
) -> None:
    assert_vector_equals_fold(*case, random_series(seed, n, vol))


@pytest.mark.parametrize(("name", "params"), CASES)
def test_series_signals_equal_the_fold_on_real_candles(name: str, params: dict[str, Any]) -> None:
    series = load_klines(shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv"))
    assert assert_vector_equals_fold(name, params, series) > 0  # the rule fired


@pytest.mark.parametrize(("name", "params"), CASES)
def test_series_signals_equal_the_fold_on_a_long_walk(name: str, params: dict[str, Any]) -> None:
    assert assert_vector_equals_fold(name, params, random_series(3, 20_000, 0.002)) > 10


def test_the_volume_filter_is_decided_as_the_fold_decides_it_where_the_array_mean_rounds():
    # The array mean of these five volumes rounds to 1.082, their exact mean (math.fsum, the
    # fold's RollingStats) to 1.0819999999999999: a bar trading 1.082 confirms only by the
    # array's rounding. The next bar's window holds the same sum in another order.
    window = [0.7, 0.7, 0.01, 0.7, 3.3]
    volume = np.array([*window, 1.082, 1.082])
    strategy = get_strategy("breakout", volume_period=5, volume_factor=1.0)
    everywhere = np.ones(volume.size, dtype=np.bool_)
    mask = strategy._volume_mask(volume, everywhere)
    rolling = RollingStats.start(5)
    for i, v in enumerate(volume.tolist()):
        if rolling.ready:
            assert bool(mask[i]) is (v > rolling.mean), i
        rolling = rolling.update(v)
    assert bool(mask[5]) is True  # 1.082 > 1.0819999999999999
