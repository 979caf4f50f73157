"""``RefEmaCross.series_signals`` (the backtester's vectorised path) equals the fold.

The crosses come from the vectorised EMAs; each signal is built by ``on_bar`` itself
from the state rebuilt at the bar before — so it must be the very object folding
``on_bar`` over every bar emits, features included.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.backtest.signals import StrategySpec, series_signals
from quantum_trader.data import BarSeries
from quantum_trader.strategies import get_strategy

T0 = 1_704_067_200_000


def random_series(seed: int, n: int, vol: float) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    opens = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(opens, close) * (1 + np.abs(rng.normal(0, vol / 2, n)))
    low = np.minimum(opens, close) * (1 - np.abs(rng.normal(0, vol / 2, n)))
    t = T0 + 60_000 * np.cumsum(rng.integers(1, 3, n))  # with gaps
    return BarSeries("BTCUSDT", "1m", t, opens, high, low, close, rng.random(n))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 600),
    vol=st.sampled_from([0.001, 0.004, 0.02]),
    spans=st.sampled_from([(12, 26), (3, 5), (2, 40)]),
)
def test_series_signals_equal_the_fold(
    seed: int, n: int, vol: float, spans: tuple[int, int]
) -> None:
    series = random_series(seed, n, vol)
    params = {"fast": spans[0], "slow": spans[1]}
    fold = series_signals(StrategySpec("ref_ema_cross", tuple(sorted(params.items()))), series)
    strategy = get_strategy("ref_ema_cross", **params)
    columns = (series.open_time, series.open, series.high, series.low, series.close,
               series.volume)  # fmt: skip
    sides, signal_at = strategy.series_signals(series.symbol, series.interval, columns)
    assert list(sides) == list(fold)
    for i, signal in fold.items():
        assert sides[i] is signal.side
        assert signal_at(i) == signal
