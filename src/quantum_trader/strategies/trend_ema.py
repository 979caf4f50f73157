"""Trend following: EMA fast/slow cross, taken only in the direction of the long trend.

A cross up of EMA(fast) over EMA(slow) is a LONG when the close is above EMA(trend), a
cross down is a SHORT when the close is below it. A cross against the trend is not an
entry but it is still news: momentum has turned against whatever this strategy holds,
so it emits FLAT (close). Crosses use strict inequalities, like the reference strategy,
so a market that merely touches a tie does not signal.

Confidence grows with the EMA gap measured in ATRs at the cross bar: a cross that
opens a wide gap in one bar is a decisive turn, one that barely separates is noise.

:meth:`TrendEma.series_signals` is the backtester's whole-series path: the crosses, the
trend filter and the ATR stop from the vectorised indicators (bit-identical to the
incremental ones), each signal built by ``on_bar`` from the state rebuilt at the bar
before (:mod:`quantum_trader.strategies.rebuilt`); a unit test compares it with the fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

import quantum_trader.strategies.params as params
import quantum_trader.strategies.vector as vector
from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies.base import (
    FLAT,
    Bar,
    Signal,
    SignalSide,
    Strategy,
    StrategyState,
    register,
)
from quantum_trader.strategies.features import MarketFeatures
from quantum_trader.strategies.indicators import Ema
from quantum_trader.strategies.params import ParamRange
from quantum_trader.strategies.rebuilt import (
    Columns,
    MarketAt,
    SeriesSignals,
    bar_at,
    checked,
    ema_after,
    first_crossings,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrendEmaState(StrategyState):
    fast: Ema
    slow: Ema
    market: MarketFeatures
    prev_gap: float = math.nan


@register("trend_ema")
class TrendEma(Strategy[TrendEmaState]):
    """EMA cross with a trend-EMA regime filter; stop ``stop_atr`` × ATR."""

    search_space = MappingProxyType(
        {
            "fast": ParamRange(5, 20, "int"),  # below slow's lowest: every pair is valid
            "slow": ParamRange(21, 90, "int"),
            "trend": ParamRange(50, 300, "int"),
            "stop_atr": ParamRange(1.0, 4.0),
            "full_confidence_gap": ParamRange(0.05, 0.5, "log"),
        }
    )

    def __init__(
        self,
        *,
        fast: int = 12,
        slow: int = 26,
        trend: int = 200,
        atr_period: int = 14,
        stop_atr: float = 2.0,
        take_profit_atr: float | None = None,
        full_confidence_gap: float = 0.25,
    ) -> None:
        self.fast = params.positive_int("fast", fast)
        self.slow = params.positive_int("slow", slow)
        params.ordered("fast", self.fast, "slow", self.slow)
        self.trend = params.positive_int("trend", trend)
        self.atr_period = params.positive_int("atr_period", atr_period)
        self.stop_atr = params.positive_float("stop_atr", stop_atr)
        self.take_profit_atr = params.optional_positive_float("take_profit_atr", take_profit_atr)
        self.full_confidence_gap = params.positive_float("full_confidence_gap", full_confidence_gap)
        self.warmup = max(self.slow, self.trend, self.atr_period)

    def initial_state(self, symbol: str) -> TrendEmaState:
        return TrendEmaState(
            symbol=symbol,
            fast=Ema.start(self.fast),
            slow=Ema.start(self.slow),
            market=MarketFeatures.start(atr_period=self.atr_period, trend_span=self.trend),
        )

    def advance(self, state: TrendEmaState, bar: Bar) -> tuple[TrendEmaState, Signal | None]:
        fast = state.fast.update(bar.close)
        slow = state.slow.update(bar.close)
        market = state.market.update(bar)
        gap = fast.value - slow.value
        new_state = replace(state, fast=fast, slow=slow, market=market, prev_gap=gap)

        crossed_up = state.prev_gap < 0.0 < gap
        crossed_down = state.prev_gap > 0.0 > gap
        if not (crossed_up or crossed_down):
            return new_state, None
        stop = market.stop_distance(self.stop_atr)
        if stop is None:
            return new_state, None

        above_trend = bar.close > market.trend.value
        below_trend = bar.close < market.trend.value
        side: SignalSide
        if crossed_up:
            side = PositionSide.LONG if above_trend else FLAT
        else:
            side = PositionSide.SHORT if below_trend else FLAT

        atr = market.atr.value
        strength = abs(gap) / atr / self.full_confidence_gap
        take_profit = None if self.take_profit_atr is None else self.take_profit_atr * atr
        return new_state, self.signal(
            bar,
            side,
            confidence=strength,
            stop_distance=stop,
            take_profit_distance=take_profit,
            features=market.snapshot(bar.close, strength, ema_gap_atr=gap / atr),
        )

    def series_signals(self, symbol: str, interval: str, columns: Columns) -> SeriesSignals:
        """Every signal of one series: (side by bar index, the signal at a bar on demand),
        equal to folding ``on_bar`` (``columns``: open_time, open, high, low, close, volume)."""
        open_time, high, low, close = columns[0], columns[2], columns[3], columns[4]
        fast = vector.ema(close, self.fast)
        slow = vector.ema(close, self.slow)
        gap = fast - slow
        up, down = first_crossings(gap, self.warmup)
        market = MarketAt(self.initial_state(symbol).market, high, low, close)
        stop_ok = market.stop_ok(self.stop_atr)
        up &= stop_ok
        down &= stop_ok
        trend = market.trend
        sides: dict[int, SignalSide] = {}
        for i in np.flatnonzero(up | down).tolist():
            if up[i]:
                sides[i] = PositionSide.LONG if close[i] > trend[i] else FLAT
            else:
                sides[i] = PositionSide.SHORT if close[i] < trend[i] else FLAT

        def build(i: int) -> Signal | None:
            state = TrendEmaState(
                symbol=symbol,
                bars_seen=i,
                last_open_time=int(open_time[i - 1]),
                fast=ema_after(self.fast, fast, i - 1),
                slow=ema_after(self.slow, slow, i - 1),
                market=market.after(i - 1),
                prev_gap=float(gap[i - 1]),
            )
            return self.on_bar(state, bar_at(symbol, interval, columns, i))[1]

        return sides, checked(sides, build, symbol)
