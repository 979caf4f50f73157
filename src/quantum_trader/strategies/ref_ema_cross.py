"""The reference strategy of bench/REFERENCE_STRATEGY.md: EMA(12/26) cross, long only.

``d[t] = EMA_fast[t] − EMA_slow[t]`` (EMAs seeded with the first close). A cross up
(``d[t-1] < 0 < d[t]``) emits LONG, a cross down (``d[t-1] > 0 > d[t]``) emits FLAT;
strict inequalities, so a cross through an exact tie is no signal; no signal at bars
``t < slow`` (warm-up). The strategy does not know whether it holds a position: the
backtester ignores a LONG while long and a FLAT while flat, as the document's rules do.

The stop and target are fixed fractions of the entry price (2 % / 3 %), carried in the
signal as ``stop_pct`` / ``target_pct`` because the entry fills at the *next* bar's
open: the backtester applies them to that fill price. ``stop_distance`` and
``take_profit_distance`` are the same fractions of this bar's close, for consumers that
size from distances.

:func:`ref_ema_cross_signals` is the vectorised twin of the crosses; it uses the same
float operations as the incremental path and so agrees with it bit for bit.
:meth:`RefEmaCross.series_signals` gives the backtester a whole series' signals from it:
the crosses by bar, and each signal built on demand by the strategy's own ``advance``
from the state the vectorised indicators say it had the bar before — the very object
folding ``on_bar`` emits (a unit test compares every one).

``engine_profile`` declares the document's execution rules (long only, full-equity
entries at the next open, fixed stop and target filled at their levels with the stop
first, exit at the next open on a cross down, continuous quantity, 0.04 % fees, no
slippage, funding, leverage or risk limits, 100,000 USDT), which the backtest engine
applies to its one execution path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np
import numpy.typing as npt

import quantum_trader.strategies.params as params
import quantum_trader.strategies.vector as vector
from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies.base import (
    FLAT,
    Bar,
    EngineProfile,
    EntrySizing,
    ExitRules,
    Signal,
    SignalSide,
    Strategy,
    StrategyState,
    register,
)
from quantum_trader.strategies.features import MarketFeatures
from quantum_trader.strategies.indicators import Atr, Ema, WilderAverage

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

REFERENCE_RULES = EngineProfile(
    sides=(PositionSide.LONG,),
    sizing=EntrySizing.FULL_EQUITY,
    exits=ExitRules.FIXED,
    signal_exit=True,
    continuous_quantity=True,
    fills_at_levels=True,
    slippage=False,
    funding=False,
    risk_limits=False,
    leverage=1,
    cooldown_ms=0,
    balance=Decimal(100_000),
    taker_fee=Decimal("0.0004"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RefEmaCrossState(StrategyState):
    fast: Ema
    slow: Ema
    market: MarketFeatures  # only for the exit brain's features; never gates a signal
    prev_gap: float = math.nan


@register("ref_ema_cross")
class RefEmaCross(Strategy[RefEmaCrossState]):
    """LONG on EMA cross up, FLAT on cross down, fixed-fraction stop and target."""

    engine_profile = REFERENCE_RULES

    def __init__(
        self,
        *,
        fast: int = 12,
        slow: int = 26,
        stop_pct: float = 0.02,
        target_pct: float = 0.03,
    ) -> None:
        self.fast = params.positive_int("fast", fast)
        self.slow = params.positive_int("slow", slow)
        params.ordered("fast", self.fast, "slow", self.slow)
        self.stop_pct = params.open_fraction("stop_pct", stop_pct)
        self.target_pct = params.positive_float("target_pct", target_pct)
        self.warmup = self.slow  # "no signal is taken at bars t < 26"

    def initial_state(self, symbol: str) -> RefEmaCrossState:
        return RefEmaCrossState(
            symbol=symbol,
            fast=Ema.start(self.fast),
            slow=Ema.start(self.slow),
            market=MarketFeatures.start(),
        )

    def advance(self, state: RefEmaCrossState, bar: Bar) -> tuple[RefEmaCrossState, Signal | None]:
        fast = state.fast.update(bar.close)
        slow = state.slow.update(bar.close)
        market = state.market.update(bar)
        gap = fast.value - slow.value
        new_state = replace(state, fast=fast, slow=slow, market=market, prev_gap=gap)
        return new_state, self._signal_at(bar, state.prev_gap, gap, market)

    def _signal_at(
        self, bar: Bar, prev_gap: float, gap: float, market: MarketFeatures
    ) -> Signal | None:
        """The rule: the signal at ``bar``'s close, from the EMA gap before and after it
        and the market features after it (the fold and ``series_signals`` both use it)."""
        side: SignalSide
        if prev_gap < 0.0 < gap:
            side, regime = PositionSide.LONG, 1.0
        elif prev_gap > 0.0 > gap:
            side, regime = FLAT, -1.0
        else:
            return None
        # Same scale as trend_ema (a quarter-ATR gap is a full-strength cross), for the exit
        # brain only; before the ATR exists the reference's "every cross counts" applies.
        full_strength_gap = market.stop_distance(0.25)
        strength = abs(gap) / full_strength_gap if full_strength_gap else 1.0
        features = dict(market.snapshot(bar.close, strength, ema_gap_pct=gap / bar.close))
        features["regime"] = regime  # the cross itself is this strategy's regime call
        return self.signal(
            bar,
            side,
            confidence=1.0,  # the reference takes every cross; it has no notion of conviction
            stop_distance=bar.close * self.stop_pct,
            take_profit_distance=bar.close * self.target_pct,
            stop_pct=self.stop_pct,
            target_pct=self.target_pct,
            features=features,
        )

    def series_signals(
        self,
        symbol: str,
        interval: str,
        columns: tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    ) -> tuple[dict[int, SignalSide], Callable[[int], Signal]]:
        """Every signal of one series: (side by bar index, the signal at a bar on demand).

        ``columns``: open_time, open, high, low, close, volume. Equal, signal for signal,
        to folding ``on_bar`` over the bars, at a fraction of its cost.
        """
        open_time, open_, high, low, close, volume = columns
        fast = vector.ema(close, self.fast)
        slow = vector.ema(close, self.slow)
        gap = fast - slow
        up, down = _crosses(gap, self.slow)
        sides: dict[int, SignalSide] = {i: PositionSide.LONG for i in np.flatnonzero(up).tolist()}
        sides.update((i, FLAT) for i in np.flatnonzero(down).tolist())
        sides = dict(sorted(sides.items()))
        market = _MarketAt(self, high, low, close)

        def signal_at(i: int) -> Signal:
            bar = Bar(symbol, interval, int(open_time[i]), float(open_[i]), float(high[i]),
                      float(low[i]), float(close[i]), float(volume[i]))  # fmt: skip
            # What ``advance`` decides at bar i (past the warm-up: the crosses are masked
            # before it), from the indicators the fold would hold before and after it.
            signal = self._signal_at(bar, float(gap[i - 1]), float(gap[i]), market.after(i))
            if signal is None or signal.side is not sides.get(i):
                raise AssertionError(f"{symbol} bar {i}: the fold disagrees with the crosses")
            return signal

        return sides, signal_at


class _MarketAt:
    """The strategy's market features after bar ``i``, rebuilt from the vectorised
    indicators (bit-identical to the incremental ones) instead of folded bar by bar."""

    def __init__(
        self, strategy: RefEmaCross, high: FloatArray, low: FloatArray, close: FloatArray
    ) -> None:
        self.high, self.low, self.close = high, low, close
        start = strategy.initial_state("").market
        self.period = start.atr.average.period
        self.mean_span, self.trend_span = start.atr_mean.span, start.trend.span
        self._columns: tuple[FloatArray, ...] | None = None

    def _indicators(self) -> tuple[FloatArray, ...]:
        if self._columns is None:  # computed once, at the first signal built
            period = self.period
            ranges = vector.true_range(self.high, self.low, self.close)
            atr = vector.wilder_average(ranges, period)
            atr_mean = np.full(atr.size, math.nan)
            if atr.size >= period:
                atr_mean[period - 1 :] = vector.ema(atr[period - 1 :], self.mean_span)
            trend = vector.ema(self.close, self.trend_span)
            self._columns = (ranges, atr, atr_mean, trend)
        return self._columns

    def after(self, i: int) -> MarketFeatures:
        ranges, atr, atr_mean, trend = self._indicators()
        period, seen = self.period, i + 1
        seed_sum = 0.0  # the sum of the first ``period`` ranges, as the fold keeps it
        for x in ranges[: min(seen, period)].tolist():
            seed_sum = seed_sum + x
        wilder = WilderAverage(period, seen, seed_sum, float(atr[i]))
        return MarketFeatures(
            Atr(wilder, float(self.close[i])),
            Ema(self.mean_span, max(0, seen - period + 1), float(atr_mean[i])),
            Ema(self.trend_span, seen, float(trend[i])),
        )


def ref_ema_cross_signals(
    close: npt.ArrayLike, fast: int = 12, slow: int = 26
) -> tuple[BoolArray, BoolArray]:
    """(cross_up, cross_down) per bar, warm-up ``t < slow`` masked, as the reference defines.

    Equal, element for element, to where :class:`RefEmaCross` emits LONG / FLAT.
    """
    params.positive_int("fast", fast)
    params.positive_int("slow", slow)
    params.ordered("fast", fast, "slow", slow)
    prices = np.asarray(close, dtype=np.float64)
    return _crosses(vector.ema(prices, fast) - vector.ema(prices, slow), slow)


def _crosses(gap: FloatArray, warmup: int) -> tuple[BoolArray, BoolArray]:
    cross_up = np.zeros(gap.size, dtype=np.bool_)
    cross_down = np.zeros(gap.size, dtype=np.bool_)
    if gap.size > 1:
        cross_up[1:] = (gap[:-1] < 0.0) & (gap[1:] > 0.0)
        cross_down[1:] = (gap[:-1] > 0.0) & (gap[1:] < 0.0)
    cross_up[:warmup] = False
    cross_down[:warmup] = False
    return cross_up, cross_down
