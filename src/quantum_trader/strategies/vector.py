"""Vectorised indicators over whole numpy arrays, for the backtester to precompute.

They return the same numbers as the incremental indicators in
:mod:`quantum_trader.strategies.indicators` (same seeds, same NaN warm-up, same float
formulas), so a backtest and a live run of one strategy see identical indicator values.

Why the recursive filters (EMA, Wilder smoothing) are a scalar loop: numpy has no
linear-recurrence primitive, and the closed forms built from powers of ``(1 - alpha)``
lose precision and turn exact ties on flat stretches into tiny non-zero differences —
i.e. fake EMA crosses. The loop is the incremental update's own expression, compiled by
numba (strict IEEE arithmetic, as the feature columns: the same bits) on first use.
Everything else (true range, gains/losses, windows, ratios) is array arithmetic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from quantum_trader.features.column_loops import compiled_column
from quantum_trader.strategies.indicators import NAN

FloatArray = npt.NDArray[np.float64]


def _as_floats(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _check_period(name: str, period: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"{name} must be a positive integer, got {period!r}")


def _ema_loop(x: FloatArray, span: int) -> FloatArray:
    alpha = 2.0 / (span + 1)
    out = np.empty(x.size)
    prev = x[0]
    for i in range(x.size):
        # Same expression as indicators.Ema.update; for the seed x == prev, so prev stays x.
        prev = prev + alpha * (x[i] - prev)
        out[i] = prev
    return out


def _wilder_loop(x: FloatArray, period: int) -> FloatArray:
    out = np.full(x.size, np.nan)
    if x.size < period:
        return out
    seed_sum = 0.0
    for i in range(period):
        seed_sum = seed_sum + x[i]  # sequential, as the incremental seed accumulates
    value = seed_sum / period
    out[period - 1] = value
    for i in range(period, x.size):
        value = (value * (period - 1) + x[i]) / period
        out[i] = value
    return out


_ema_column = compiled_column(_ema_loop)
_wilder_column = compiled_column(_wilder_loop)


def ema(values: npt.ArrayLike, span: int) -> FloatArray:
    """EMA seeded with the first value, ``alpha = 2/(span+1)`` (pandas ``adjust=False``)."""
    _check_period("span", span)
    series = _as_floats(values, "values")
    if series.size == 0:
        return series.copy()
    return _ema_column(series, span)


def wilder_average(values: npt.ArrayLike, period: int) -> FloatArray:
    """Wilder smoothing: NaN for the first ``period - 1`` inputs, SMA seed, then 1/period."""
    _check_period("period", period)
    return _wilder_column(_as_floats(values, "values"), period)


def rsi(close: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder RSI; NaN until ``period`` changes are seen; 50 when nothing moved, 100 if no loss."""
    prices = _as_floats(close, "close")
    out = np.full(prices.size, NAN, dtype=np.float64)
    if prices.size < 2:
        return out
    change = np.diff(prices)
    avg_gain = wilder_average(np.maximum(change, 0.0), period)
    avg_loss = wilder_average(np.maximum(-change, 0.0), period)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    no_loss = avg_loss == 0.0
    ratio = np.where(no_loss & (avg_gain == 0.0), 50.0, np.where(no_loss, 100.0, ratio))
    out[1:] = np.where(np.isnan(avg_gain), NAN, ratio)
    return out


def macd(
    close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(MACD line, signal line, histogram), EMAs seeded with the first value."""
    if fast >= slow:
        raise ValueError(f"MACD fast span {fast} must be below slow span {slow}")
    prices = _as_floats(close, "close")
    line = ema(prices, fast) - ema(prices, slow)
    signal_line = ema(line, signal)
    return line, signal_line, line - signal_line


def true_range(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike) -> FloatArray:
    """High − low, widened to the previous close; the first bar has no previous close."""
    highs, lows, closes = _ohlc(high, low, close)
    tr = highs - lows
    if tr.size > 1:
        prev = closes[:-1]
        tr[1:] = np.maximum(np.maximum(tr[1:], np.abs(highs[1:] - prev)), np.abs(lows[1:] - prev))
    return tr


def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> FloatArray:
    """Wilder ATR; NaN for the first ``period - 1`` bars."""
    return wilder_average(true_range(high, low, close), period)


def donchian(
    high: npt.ArrayLike, low: npt.ArrayLike, period: int = 20
) -> tuple[FloatArray, FloatArray]:
    """(upper, lower): rolling max of highs / min of lows over ``period`` bars incl. the current."""
    _check_period("period", period)
    highs = _as_floats(high, "high")
    lows = _as_floats(low, "low")
    if highs.shape != lows.shape:
        raise ValueError("high and low must have the same length")
    upper = np.full(highs.size, NAN, dtype=np.float64)
    lower = np.full(lows.size, NAN, dtype=np.float64)
    if highs.size >= period:
        view = np.lib.stride_tricks.sliding_window_view
        upper[period - 1 :] = view(highs, period).max(axis=1)
        lower[period - 1 :] = view(lows, period).min(axis=1)
    return upper, lower


def rolling_mean(values: npt.ArrayLike, period: int) -> FloatArray:
    """Mean of the last ``period`` values; NaN until the window is full."""
    _check_period("period", period)
    series = _as_floats(values, "values")
    out = np.full(series.size, NAN, dtype=np.float64)
    if series.size >= period:
        out[period - 1 :] = np.lib.stride_tricks.sliding_window_view(series, period).mean(axis=1)
    return out


def rolling_std(values: npt.ArrayLike, period: int, ddof: int = 0) -> FloatArray:
    """Standard deviation of the last ``period`` values (two-pass); NaN until the window is full."""
    _check_period("period", period)
    if ddof not in (0, 1) or ddof >= period:
        raise ValueError(f"ddof must be 0 or 1 and below period, got {ddof!r}")
    series = _as_floats(values, "values")
    out = np.full(series.size, NAN, dtype=np.float64)
    if series.size >= period:
        windows = np.lib.stride_tricks.sliding_window_view(series, period)
        deviations = windows - windows.mean(axis=1, keepdims=True)
        out[period - 1 :] = np.sqrt((deviations * deviations).sum(axis=1) / (period - ddof))
    return out


def _ohlc(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    highs = _as_floats(high, "high")
    lows = _as_floats(low, "low")
    closes = _as_floats(close, "close")
    if not highs.shape == lows.shape == closes.shape:
        raise ValueError("high, low and close must have the same length")
    return highs, lows, closes
