"""Indicators against hand-computed values, and incremental == vectorised on random series."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.strategies import vector
from quantum_trader.strategies.indicators import (
    Atr,
    Donchian,
    Ema,
    Macd,
    RollingStats,
    Rsi,
    WilderAverage,
)


def feed_ema(span: int, values: list[float]) -> list[float]:
    ema, out = Ema.start(span), []
    for x in values:
        ema = ema.update(x)
        out.append(ema.value)
    return out


def test_ema_is_seeded_with_first_value_like_pandas_adjust_false() -> None:
    # span 3 -> alpha 0.5: 1, 1.5, 2.25, 3.125
    assert feed_ema(3, [1.0, 2.0, 3.0, 4.0]) == [1.0, 1.5, 2.25, 3.125]
    assert vector.ema([1.0, 2.0, 3.0, 4.0], 3).tolist() == [1.0, 1.5, 2.25, 3.125]


def test_ema_of_a_constant_market_stays_exactly_constant() -> None:
    assert feed_ema(12, [30_000.1] * 50) == [30_000.1] * 50
    assert feed_ema(26, [30_000.1] * 50) == feed_ema(12, [30_000.1] * 50)


def test_wilder_average_seeds_with_sma_then_smooths_by_one_over_period() -> None:
    avg, out = WilderAverage.start(3), []
    for x in [1.0, 2.0, 3.0, 4.0, 5.0]:
        avg = avg.update(x)
        out.append(avg.value)
    assert math.isnan(out[0]) and math.isnan(out[1])
    assert out[2:] == pytest.approx([2.0, 8 / 3, 31 / 9], rel=1e-12)


def test_rsi_matches_hand_computed_wilder_values() -> None:
    # changes +1 +1 -1 +2: avg gain 2/3, loss 1/3 -> RS 2 -> 66.67; then 10/9 vs 2/9 -> RS 5
    rsi, out = Rsi.start(3), []
    for close in [10.0, 11.0, 12.0, 11.0, 13.0]:
        rsi = rsi.update(close)
        out.append(rsi.value)
    assert all(math.isnan(v) for v in out[:3])
    assert out[3:] == pytest.approx([200 / 3, 250 / 3], rel=1e-12)


def test_rsi_reads_100_without_losses_and_50_without_any_move() -> None:
    assert vector.rsi([1.0, 2.0, 3.0, 4.0, 5.0], 3)[-1] == 100.0
    assert vector.rsi([7.0] * 6, 3)[-1] == 50.0
    assert vector.rsi([5.0, 4.0, 3.0, 2.0], 3)[-1] == 0.0


def test_macd_matches_hand_computed_line_signal_and_histogram() -> None:
    macd, hist = Macd.start(2, 3, 2), []
    for close in [1.0, 2.0, 4.0]:
        macd = macd.update(close)
        hist.append(macd.histogram)
    assert macd.line == pytest.approx(17 / 36, rel=1e-12)
    assert macd.signal == pytest.approx(19 / 54, rel=1e-12)
    assert hist == pytest.approx([0.0, 1 / 18, 13 / 108], rel=1e-12)


def test_atr_uses_true_range_including_gaps_from_previous_close() -> None:
    atr, out = Atr.start(2), []
    for high, low, close in [(10, 8, 9), (12, 9, 11), (11, 10, 10.5), (15, 14, 14.5)]:
        atr = atr.update(high, low, close)
        out.append(atr.value)
    # true ranges 2, 3, 1, 4.5 (the last bar gapped up 3.5 above the previous close)
    assert math.isnan(out[0])
    assert out[1:] == pytest.approx([2.5, 1.75, 3.125], rel=1e-12)


def test_donchian_tracks_highest_high_and_lowest_low_of_the_window() -> None:
    channel, uppers, lowers = Donchian.start(3), [], []
    for high, low in zip([1, 3, 2, 5, 4], [0, 1, 1, 2, 3], strict=True):
        channel = channel.update(high, low)
        uppers.append(channel.upper)
        lowers.append(channel.lower)
    assert uppers[2:] == [3, 5, 5] and lowers[2:] == [0, 1, 1]
    assert math.isnan(uppers[1]) and not Donchian.start(3).ready


def test_rolling_stats_mean_and_population_or_sample_std() -> None:
    population, sample = RollingStats.start(3), RollingStats.start(3, ddof=1)
    for x in [1.0, 2.0, 3.0, 4.0]:
        population, sample = population.update(x), sample.update(x)
    assert population.mean == 3.0
    assert population.std == pytest.approx(math.sqrt(2 / 3), rel=1e-12)
    assert sample.std == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Ema.start(0),
        lambda: WilderAverage.start(-1),
        lambda: Donchian.start(0),
        lambda: RollingStats.start(3, ddof=2),
        lambda: Macd.start(26, 12, 9),
        lambda: vector.ema([1.0], 0),
    ],
)
def test_indicator_rejects_nonsense_periods(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


# A random walk with flat stretches (repeated closes) and crypto-like price levels.
steps = st.lists(
    st.one_of(st.just(0.0), st.floats(-50.0, 50.0, allow_nan=False)), min_size=1, max_size=120
)
wicks = st.floats(0.0, 20.0, allow_nan=False)


def walk(start: float, moves: list[float]) -> list[float]:
    closes, price = [], start
    for move in moves:
        price = max(1.0, price + move)
        closes.append(price)
    return closes


def assert_close(incremental: list[float], vectorised: np.ndarray, scale: float) -> None:
    np.testing.assert_allclose(
        np.array(incremental), vectorised, rtol=1e-9, atol=1e-9 * scale, equal_nan=True
    )


@settings(max_examples=60, deadline=None)
@given(moves=steps, start=st.floats(10.0, 60_000.0), wick=wicks)
def test_incremental_indicators_equal_vectorised_ones(
    moves: list[float], start: float, wick: float
) -> None:
    closes = walk(start, moves)
    highs = [c + wick for c in closes]
    lows = [max(0.5, c - wick * 0.7) for c in closes]
    ema, rsi, macd = Ema.start(12), Rsi.start(14), Macd.start()
    atr, channel, stats = Atr.start(14), Donchian.start(20), RollingStats.start(20)
    rows: dict[str, list[float]] = {
        k: [] for k in ["ema", "rsi", "line", "sig", "hist", "atr", "up", "lo", "mean", "std"]
    }
    for close, high, low in zip(closes, highs, lows, strict=True):
        ema, rsi, macd = ema.update(close), rsi.update(close), macd.update(close)
        atr, channel = atr.update(high, low, close), channel.update(high, low)
        stats = stats.update(close)
        for key, value in zip(
            rows,
            (
                ema.value,
                rsi.value,
                macd.line,
                macd.signal,
                macd.histogram,
                atr.value,
                channel.upper,
                channel.lower,
                stats.mean,
                stats.std,
            ),
            strict=True,
        ):
            rows[key].append(value)
    scale = max(closes)
    line, sig, hist = vector.macd(closes)
    upper, lower = vector.donchian(highs, lows, 20)
    assert rows["ema"] == vector.ema(closes, 12).tolist()  # bit-identical recursion
    assert rows["line"] == line.tolist()
    assert_close(rows["sig"], sig, scale)
    assert_close(rows["hist"], hist, scale)
    assert_close(rows["rsi"], vector.rsi(closes, 14), 100.0)
    assert_close(rows["atr"], vector.atr(highs, lows, closes, 14), scale)
    assert_close(rows["up"], upper, scale)
    assert_close(rows["lo"], lower, scale)
    assert_close(rows["mean"], vector.rolling_mean(closes, 20), scale)
    assert_close(rows["std"], vector.rolling_std(closes, 20), scale)


def test_vectorised_indicators_handle_empty_and_short_input() -> None:
    assert vector.ema([], 12).size == 0
    assert np.isnan(vector.rsi([1.0], 14)).all()
    assert np.isnan(vector.atr([2.0, 3.0], [1.0, 2.0], [1.5, 2.5], 14)).all()
    upper, lower = vector.donchian([1.0], [0.5], 20)
    assert np.isnan(upper).all() and np.isnan(lower).all()
    with pytest.raises(ValueError):
        vector.donchian([1.0, 2.0], [0.5], 1)
