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

:func:`ref_ema_cross_signals` is the vectorised twin used by the backtester; it uses
the same float operations as the incremental path and so agrees with it bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies import params, vector
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

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True)
class RefEmaCrossState(StrategyState):
    fast: Ema
    slow: Ema
    market: MarketFeatures  # only for the exit brain's features; never gates a signal
    prev_gap: float = math.nan


@register("ref_ema_cross")
class RefEmaCross(Strategy[RefEmaCrossState]):
    """LONG on EMA cross up, FLAT on cross down, fixed-fraction stop and target."""

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
        side: SignalSide
        if state.prev_gap < 0.0 < gap:
            side, regime = PositionSide.LONG, 1.0
        elif state.prev_gap > 0.0 > gap:
            side, regime = FLAT, -1.0
        else:
            return new_state, None
        # Same scale as trend_ema (a quarter-ATR gap is a full-strength cross), for the exit
        # brain only; before the ATR exists the reference's "every cross counts" applies.
        full_strength_gap = market.stop_distance(0.25)
        strength = abs(gap) / full_strength_gap if full_strength_gap else 1.0
        features = dict(market.snapshot(bar.close, strength, ema_gap_pct=gap / bar.close))
        features["regime"] = regime  # the cross itself is this strategy's regime call
        return new_state, self.signal(
            bar,
            side,
            confidence=1.0,  # the reference takes every cross; it has no notion of conviction
            stop_distance=bar.close * self.stop_pct,
            take_profit_distance=bar.close * self.target_pct,
            stop_pct=self.stop_pct,
            target_pct=self.target_pct,
            features=features,
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
    gap = vector.ema(prices, fast) - vector.ema(prices, slow)
    cross_up = np.zeros(gap.size, dtype=np.bool_)
    cross_down = np.zeros(gap.size, dtype=np.bool_)
    if gap.size > 1:
        cross_up[1:] = (gap[:-1] < 0.0) & (gap[1:] > 0.0)
        cross_down[1:] = (gap[:-1] > 0.0) & (gap[1:] < 0.0)
    cross_up[:slow] = False
    cross_down[:slow] = False
    return cross_up, cross_down
