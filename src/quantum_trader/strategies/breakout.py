"""Range breakout: a close beyond the previous ``channel`` bars' Donchian high or low.

The channel is built from the bars *before* the current one, so the breakout bar cannot
raise the bar it has to clear. Two filters separate a breakout from a poke:

- volume: the breakout bar trades more than ``volume_factor`` × the average volume of
  the previous ``volume_period`` bars (set ``volume_factor=0`` for data without volume);
- distance: the close clears the channel by at least ``min_breakout_atr`` × ATR.

Only a fresh breakout signals: once a close is outside the channel, the following bars
that stay outside (a trend printing new highs) do not re-signal until price has closed
back inside. Confidence grows with the clearance measured in ATRs.

:meth:`Breakout.series_signals` is the backtester's whole-series path: fresh breakouts,
the ATR distance and the volume filter from whole-series columns (the channel's max / min
are exact; the volume average is decided exactly, with ``math.fsum`` as the fold does,
wherever the array mean is too close to call), each signal built by ``on_bar`` from the
state rebuilt at the bar before; a unit test compares it with the fold.
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
    Bar,
    Signal,
    SignalSide,
    Strategy,
    StrategyState,
    register,
)
from quantum_trader.strategies.features import MarketFeatures
from quantum_trader.strategies.indicators import Donchian, RollingStats
from quantum_trader.strategies.params import ParamRange
from quantum_trader.strategies.rebuilt import (
    BoolArray,
    Columns,
    FloatArray,
    MarketAt,
    SeriesSignals,
    bar_at,
    checked,
)

CLOSE_CALL = 1e-9  # relative margin inside which the array mean's rounding could decide


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakoutState(StrategyState):
    channel: Donchian  # of the bars before the one being processed
    volume: RollingStats  # likewise
    market: MarketFeatures
    closed_above: bool = False  # the previous close was already above its channel
    closed_below: bool = False


@register("breakout")
class Breakout(Strategy[BreakoutState]):
    """Donchian breakout with volume and ATR-distance filters; stop ``stop_atr`` × ATR."""

    search_space = MappingProxyType(
        {
            "channel": ParamRange(10, 80, "int"),
            "volume_factor": ParamRange(1.0, 3.0),
            "min_breakout_atr": ParamRange(0.0, 0.5),
            "stop_atr": ParamRange(1.0, 4.0),
        }
    )

    def __init__(
        self,
        *,
        channel: int = 20,
        volume_period: int = 20,
        volume_factor: float = 1.5,
        min_breakout_atr: float = 0.1,
        atr_period: int = 14,
        stop_atr: float = 2.0,
        take_profit_atr: float | None = None,
    ) -> None:
        self.channel = params.positive_int("channel", channel)
        self.volume_period = params.positive_int("volume_period", volume_period)
        self.volume_factor = params.non_negative_float("volume_factor", volume_factor)
        self.min_breakout_atr = params.non_negative_float("min_breakout_atr", min_breakout_atr)
        self.atr_period = params.positive_int("atr_period", atr_period)
        self.stop_atr = params.positive_float("stop_atr", stop_atr)
        self.take_profit_atr = params.optional_positive_float("take_profit_atr", take_profit_atr)
        self.warmup = max(self.channel, self.volume_period, self.atr_period)

    def initial_state(self, symbol: str) -> BreakoutState:
        return BreakoutState(
            symbol=symbol,
            channel=Donchian.start(self.channel),
            volume=RollingStats.start(self.volume_period),
            market=MarketFeatures.start(atr_period=self.atr_period),
        )

    def _volume_confirms(self, state: BreakoutState, bar: Bar) -> bool:
        if self.volume_factor == 0.0:
            return True
        return state.volume.ready and bar.volume > self.volume_factor * state.volume.mean

    def advance(self, state: BreakoutState, bar: Bar) -> tuple[BreakoutState, Signal | None]:
        market = state.market.update(bar)
        upper, lower = state.channel.upper, state.channel.lower  # NaN until full: no breakout
        above = bar.close > upper
        below = bar.close < lower
        new_state = replace(
            state,
            channel=state.channel.update(bar.high, bar.low),
            volume=state.volume.update(bar.volume),
            market=market,
            closed_above=above,
            closed_below=below,
        )
        side: PositionSide | None = None
        clearance = 0.0
        if above and not state.closed_above:
            side, clearance = PositionSide.LONG, bar.close - upper
        elif below and not state.closed_below:
            side, clearance = PositionSide.SHORT, lower - bar.close
        stop = market.stop_distance(self.stop_atr)
        if side is None or stop is None or not self._volume_confirms(state, bar):
            return new_state, None
        atr = market.atr.value
        if clearance < self.min_breakout_atr * atr:
            return new_state, None
        strength = clearance / atr
        take_profit = None if self.take_profit_atr is None else self.take_profit_atr * atr
        volume_ratio = bar.volume / state.volume.mean if state.volume.mean > 0.0 else 0.0
        return new_state, self.signal(
            bar,
            side,
            confidence=0.5 + 0.5 * min(1.0, strength),
            stop_distance=stop,
            take_profit_distance=take_profit,
            features=market.snapshot(
                bar.close,
                strength,
                channel_width_atr=(upper - lower) / atr,
                volume_ratio=volume_ratio,
            ),
        )

    def series_signals(self, symbol: str, interval: str, columns: Columns) -> SeriesSignals:
        """Every signal of one series: (side by bar index, the signal at a bar on demand),
        equal to folding ``on_bar`` (``columns``: open_time, open, high, low, close, volume)."""
        open_time, _, high, low, close, volume = columns
        n = close.size
        upper_now, lower_now = vector.donchian(high, low, self.channel)
        upper, lower = np.full(n, math.nan), np.full(n, math.nan)  # of the bars before
        upper[1:], lower[1:] = upper_now[:-1], lower_now[:-1]
        with np.errstate(invalid="ignore"):
            above, below = close > upper, close < lower
        fresh_up = above.copy()
        fresh_up[1:] &= ~above[:-1]
        fresh_down = below & ~fresh_up
        fresh_down[1:] &= ~below[:-1]
        market = MarketAt(self.initial_state(symbol).market, high, low, close)
        atr = market.atr
        clearance = np.where(fresh_up, close - upper, lower - close)
        with np.errstate(invalid="ignore"):
            wide = ~(clearance < self.min_breakout_atr * atr)
        candidate = (fresh_up | fresh_down) & market.stop_ok(self.stop_atr) & wide
        candidate[: self.warmup] = False
        candidate &= self._volume_mask(volume, candidate)
        sides: dict[int, SignalSide] = {
            i: PositionSide.LONG if fresh_up[i] else PositionSide.SHORT
            for i in np.flatnonzero(candidate).tolist()
        }

        def volumes(i: int) -> FloatArray:
            return volume[max(0, i - self.volume_period) : i]

        def build(i: int) -> Signal | None:
            state = BreakoutState(
                symbol=symbol,
                bars_seen=i,
                last_open_time=int(open_time[i - 1]),
                channel=Donchian(
                    self.channel,
                    tuple(high[max(0, i - self.channel) : i].tolist()),
                    tuple(low[max(0, i - self.channel) : i].tolist()),
                ),
                volume=RollingStats(
                    self.volume_period,
                    0,
                    tuple(volume[max(0, i - self.volume_period) : i].tolist()),
                ),
                market=market.after(i - 1),
                closed_above=bool(above[i - 1]),
                closed_below=bool(below[i - 1]),
            )
            return self.on_bar(state, bar_at(symbol, interval, columns, i))[1]

        return sides, checked(sides, build, symbol)

    def _volume_mask(self, volume: FloatArray, candidate: BoolArray) -> BoolArray:
        """Where the volume filter passes, among ``candidate`` bars: the previous
        ``volume_period`` bars' mean from the array, and ``math.fsum`` (the fold's) where
        the two could round to different answers."""
        n, period = volume.size, self.volume_period
        if self.volume_factor == 0.0:
            return np.ones(n, dtype=np.bool_)
        mean = np.full(n, math.nan)
        mean[1:] = vector.rolling_mean(volume, period)[:-1]
        bound = self.volume_factor * mean
        with np.errstate(invalid="ignore"):
            passes = volume > bound * (1.0 + CLOSE_CALL)
            unsure = candidate & ~passes & (volume > bound * (1.0 - CLOSE_CALL))
        for i in np.flatnonzero(unsure).tolist():
            exact = math.fsum(volume[i - period : i].tolist()) / period
            passes[i] = float(volume[i]) > self.volume_factor * exact
        return passes
