"""A strategy's indicator state at any bar, rebuilt from whole-series columns.

The backtester computes a strategy's signals for a whole series before the replay. Folding
``on_bar`` over every bar is the definition, but it allocates a new state per bar; the
vectorised path computes the indicators once (:mod:`quantum_trader.strategies.vector`,
bit-identical to the incremental ones), finds the bars on which the rule can fire, and at
each of them rebuilds the state the fold would hold the bar before and calls the
strategy's own ``on_bar``. The rule is written once, in ``advance``; this module only
rebuilds values. Unit tests compare every signal with the fold's.

A series whose open times are not strictly increasing (the fold skips a repeated bar)
takes the fold: :func:`strictly_increasing` says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

import quantum_trader.strategies.vector as vector
from quantum_trader.strategies.base import Bar, Signal, SignalSide
from quantum_trader.strategies.features import MarketFeatures
from quantum_trader.strategies.indicators import Atr, Ema, WilderAverage

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Columns = tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
SeriesSignals = tuple[dict[int, SignalSide], Callable[[int], Signal]]


def strictly_increasing(open_time: IntArray) -> bool:
    return bool(open_time.size < 2 or np.all(np.diff(open_time) > 0))


def bar_at(symbol: str, interval: str, columns: Columns, i: int) -> Bar:
    open_time, open_, high, low, close, volume = columns
    return Bar(symbol, interval, int(open_time[i]), float(open_[i]), float(high[i]),
               float(low[i]), float(close[i]), float(volume[i]))  # fmt: skip


def ema_after(span: int, column: FloatArray, i: int) -> Ema:
    """The EMA of ``span`` after inputs ``0..i`` (``column`` its vectorised values)."""
    return Ema(span, i + 1, float(column[i])) if i >= 0 else Ema.start(span)


def wilder_after(period: int, inputs: FloatArray, averages: FloatArray, i: int) -> WilderAverage:
    """Wilder's average after inputs ``0..i``: the seed sum accumulated as the fold does."""
    seen = i + 1
    seed_sum = 0.0
    for x in inputs[: min(seen, period)].tolist():
        seed_sum = seed_sum + x
    value = float(averages[i]) if seen >= period else math.nan
    return WilderAverage(period, seen, seed_sum, value)


def first_crossings(gap: FloatArray, warmup: int) -> tuple[BoolArray, BoolArray]:
    """(up, down): ``gap[i-1] < 0 < gap[i]`` / ``gap[i-1] > 0 > gap[i]``, none before
    ``warmup`` (strict, so a tie is no cross; NaN compares False, as in the fold)."""
    up = np.zeros(gap.size, dtype=np.bool_)
    down = np.zeros(gap.size, dtype=np.bool_)
    if gap.size > 1:
        up[1:] = (gap[:-1] < 0.0) & (gap[1:] > 0.0)
        down[1:] = (gap[:-1] > 0.0) & (gap[1:] < 0.0)
    up[:warmup] = False
    down[:warmup] = False
    return up, down


def checked(
    sides: dict[int, SignalSide], build: Callable[[int], Signal | None], symbol: str
) -> Callable[[int], Signal]:
    """``build`` for the bars in ``sides``, refusing to return a signal the vectorised
    sides did not predict (the two would then disagree: a bug, never a trade)."""

    def signal_at(i: int) -> Signal:
        signal = build(i)
        if signal is None or signal.side is not sides.get(i):
            raise AssertionError(f"{symbol} bar {i}: the fold disagrees with the vector path")
        return signal

    return signal_at


class MarketAt:
    """:class:`MarketFeatures` after bar ``i``, from the vectorised ATR, its EMA and the
    trend EMA (computed once, on first use)."""

    def __init__(
        self, start: MarketFeatures, high: FloatArray, low: FloatArray, close: FloatArray
    ) -> None:
        self.high, self.low, self.close = high, low, close
        self.period = start.atr.average.period
        self.mean_span, self.trend_span = start.atr_mean.span, start.trend.span
        self._columns: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None

    def _indicators(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        if self._columns is None:
            period = self.period
            ranges = vector.true_range(self.high, self.low, self.close)
            atr = vector.wilder_average(ranges, period)
            atr_mean = np.full(atr.size, math.nan)
            if atr.size >= period:
                atr_mean[period - 1 :] = vector.ema(atr[period - 1 :], self.mean_span)
            trend = vector.ema(self.close, self.trend_span)
            self._columns = (ranges, atr, atr_mean, trend)
        return self._columns

    @property
    def atr(self) -> FloatArray:
        return self._indicators()[1]

    @property
    def trend(self) -> FloatArray:
        return self._indicators()[3]

    def stop_ok(self, atr_multiple: float) -> BoolArray:
        """Where ``stop_distance(atr_multiple)`` is not None (same float product)."""
        with np.errstate(invalid="ignore"):
            return atr_multiple * self.atr > 0.0

    def after(self, i: int) -> MarketFeatures:
        ranges, atr, atr_mean, trend = self._indicators()
        period, seen = self.period, i + 1
        wilder = wilder_after(period, ranges, atr, i)
        prev_close = float(self.close[i]) if i >= 0 else math.nan
        atr_ema = Ema(self.mean_span, max(0, seen - period + 1), float(atr_mean[i]))
        if seen < period:
            atr_ema = Ema.start(self.mean_span)
        return MarketFeatures(
            Atr(wilder, prev_close), atr_ema, ema_after(self.trend_span, trend, i)
        )
