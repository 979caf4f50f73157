"""Incremental indicators: one closed bar in, a new immutable indicator state out.

Each indicator is a small frozen dataclass with an ``update`` method that returns the
next state, so a strategy's state stays a plain value (cheap to copy, safe to keep as a
snapshot, trivially replayable). EMA, RSI, MACD and ATR are O(1) per bar; the windowed
ones (Donchian, rolling mean/std) keep their last ``period`` values, O(period) per bar
with small periods (20), which is cheaper than a monotonic deque once copying is counted.

The float operations are written exactly as in :mod:`quantum_trader.strategies.vector`
(same formulas, same order), so the backtester's precomputed arrays and the live
strategies agree to the last bit on EMA/MACD and to rounding elsewhere.

Conventions (the ones traders' tools use, so numbers can be checked against them):

- EMA is seeded with the first value, ``alpha = 2 / (span + 1)`` — pandas
  ``ewm(span, adjust=False)``, not an SMA seed.
- RSI and ATR use Wilder's smoothing: the first value is the simple mean of the first
  ``period`` inputs, then ``avg = (avg * (period - 1) + x) / period``.
- Before an indicator has enough input its value is NaN, never a made-up number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NAN = math.nan


def _check_period(name: str, period: int) -> None:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"{name} must be a positive integer, got {period!r}")


@dataclass(frozen=True, slots=True)
class Ema:
    """Exponential moving average seeded with the first value (pandas adjust=False)."""

    span: int
    count: int = 0
    value: float = NAN

    @classmethod
    def start(cls, span: int) -> Ema:
        _check_period("span", span)
        return cls(span)

    @property
    def alpha(self) -> float:
        return 2.0 / (self.span + 1)

    @property
    def ready(self) -> bool:
        return self.count > 0

    def update(self, x: float) -> Ema:
        if self.count == 0:
            return Ema(self.span, 1, x)
        # prev + a*(x - prev) rather than a*x + (1-a)*prev: a constant input then stays
        # exactly constant, so two EMAs of a flat market are exactly equal (no fake crosses).
        return Ema(self.span, self.count + 1, self.value + self.alpha * (x - self.value))


@dataclass(frozen=True, slots=True)
class WilderAverage:
    """Wilder's running average: SMA of the first ``period`` inputs, then 1/period smoothing."""

    period: int
    count: int = 0
    seed_sum: float = 0.0
    value: float = NAN

    @classmethod
    def start(cls, period: int) -> WilderAverage:
        _check_period("period", period)
        return cls(period)

    @property
    def ready(self) -> bool:
        return self.count >= self.period

    def update(self, x: float) -> WilderAverage:
        count = self.count + 1
        if count < self.period:
            return WilderAverage(self.period, count, self.seed_sum + x)
        if count == self.period:
            total = self.seed_sum + x
            return WilderAverage(self.period, count, total, total / self.period)
        smoothed = (self.value * (self.period - 1) + x) / self.period
        return WilderAverage(self.period, count, self.seed_sum, smoothed)


def rsi_from_averages(avg_gain: float, avg_loss: float) -> float:
    """RSI from Wilder average gain/loss; a market with no moves at all reads neutral 50."""
    if avg_loss == 0.0:
        return 50.0 if avg_gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


@dataclass(frozen=True, slots=True)
class Rsi:
    """Wilder RSI on closes; ready after ``period`` price changes (bar index ``period``)."""

    gain: WilderAverage
    loss: WilderAverage
    prev_close: float = NAN

    @classmethod
    def start(cls, period: int = 14) -> Rsi:
        return cls(WilderAverage.start(period), WilderAverage.start(period))

    @property
    def ready(self) -> bool:
        return self.gain.ready

    @property
    def value(self) -> float:
        if not self.gain.ready:
            return NAN
        return rsi_from_averages(self.gain.value, self.loss.value)

    def update(self, close: float) -> Rsi:
        if math.isnan(self.prev_close):
            return Rsi(self.gain, self.loss, close)
        change = close - self.prev_close
        return Rsi(self.gain.update(max(change, 0.0)), self.loss.update(max(-change, 0.0)), close)


@dataclass(frozen=True, slots=True)
class Macd:
    """MACD line (EMA fast − EMA slow), its signal EMA and the histogram (line − signal)."""

    fast: Ema
    slow: Ema
    signal_ema: Ema

    @classmethod
    def start(cls, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
        if fast >= slow:
            raise ValueError(f"MACD fast span {fast} must be below slow span {slow}")
        return cls(Ema.start(fast), Ema.start(slow), Ema.start(signal))

    @property
    def ready(self) -> bool:
        return self.signal_ema.ready

    @property
    def line(self) -> float:
        return self.fast.value - self.slow.value

    @property
    def signal(self) -> float:
        return self.signal_ema.value

    @property
    def histogram(self) -> float:
        return self.line - self.signal_ema.value

    def update(self, close: float) -> Macd:
        fast = self.fast.update(close)
        slow = self.slow.update(close)
        return Macd(fast, slow, self.signal_ema.update(fast.value - slow.value))


def true_range(high: float, low: float, prev_close: float) -> float:
    """Bar range extended to the previous close, so overnight-style gaps count as volatility."""
    if math.isnan(prev_close):
        return high - low
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


@dataclass(frozen=True, slots=True)
class Atr:
    """Average true range with Wilder smoothing; ready at bar index ``period - 1``."""

    average: WilderAverage
    prev_close: float = NAN

    @classmethod
    def start(cls, period: int = 14) -> Atr:
        return cls(WilderAverage.start(period))

    @property
    def ready(self) -> bool:
        return self.average.ready

    @property
    def value(self) -> float:
        return self.average.value

    def update(self, high: float, low: float, close: float) -> Atr:
        return Atr(self.average.update(true_range(high, low, self.prev_close)), close)


@dataclass(frozen=True, slots=True)
class Donchian:
    """Highest high / lowest low of the last ``period`` bars (this bar included)."""

    period: int
    highs: tuple[float, ...] = ()
    lows: tuple[float, ...] = ()

    @classmethod
    def start(cls, period: int = 20) -> Donchian:
        _check_period("period", period)
        return cls(period)

    @property
    def ready(self) -> bool:
        return len(self.highs) == self.period

    @property
    def upper(self) -> float:
        return max(self.highs) if self.ready else NAN

    @property
    def lower(self) -> float:
        return min(self.lows) if self.ready else NAN

    @property
    def middle(self) -> float:
        return (self.upper + self.lower) / 2.0

    def update(self, high: float, low: float) -> Donchian:
        keep = self.period - 1
        highs = (*self.highs[-keep:], high) if keep else (high,)
        lows = (*self.lows[-keep:], low) if keep else (low,)
        return Donchian(self.period, highs, lows)


@dataclass(frozen=True, slots=True)
class RollingStats:
    """Mean and standard deviation of the last ``period`` values.

    Computed from the window (two-pass) rather than running sums: running sums of
    squares cancel catastrophically at crypto price levels (30,000 ± 5).
    """

    period: int
    ddof: int = 0
    window: tuple[float, ...] = ()

    @classmethod
    def start(cls, period: int, ddof: int = 0) -> RollingStats:
        _check_period("period", period)
        if ddof not in (0, 1) or ddof >= period:
            raise ValueError(f"ddof must be 0 or 1 and below period, got {ddof!r}")
        return cls(period, ddof)

    @property
    def ready(self) -> bool:
        return len(self.window) == self.period

    @property
    def mean(self) -> float:
        return math.fsum(self.window) / self.period if self.ready else NAN

    @property
    def std(self) -> float:
        if not self.ready:
            return NAN
        mean = self.mean
        squares = math.fsum((x - mean) * (x - mean) for x in self.window)
        return math.sqrt(squares / (self.period - self.ddof))

    def update(self, x: float) -> RollingStats:
        keep = self.period - 1
        window = (*self.window[-keep:], x) if keep else (x,)
        return RollingStats(self.period, self.ddof, window)
