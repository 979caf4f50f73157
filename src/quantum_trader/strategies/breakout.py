"""Range breakout: a close beyond the previous ``channel`` bars' Donchian high or low.

The channel is built from the bars *before* the current one, so the breakout bar cannot
raise the bar it has to clear. Two filters separate a breakout from a poke:

- volume: the breakout bar trades more than ``volume_factor`` × the average volume of
  the previous ``volume_period`` bars (set ``volume_factor=0`` for data without volume);
- distance: the close clears the channel by at least ``min_breakout_atr`` × ATR.

Only a fresh breakout signals: once a close is outside the channel, the following bars
that stay outside (a trend printing new highs) do not re-signal until price has closed
back inside. Confidence grows with the clearance measured in ATRs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import quantum_trader.strategies.params as params
from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies.base import Bar, Signal, Strategy, StrategyState, register
from quantum_trader.strategies.features import MarketFeatures
from quantum_trader.strategies.indicators import Donchian, RollingStats


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
