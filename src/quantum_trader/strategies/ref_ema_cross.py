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
from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

import quantum_trader.strategies.params as params
import quantum_trader.strategies.vector as vector
from quantum_trader.domain.enums import EntrySizing, ExitRules, PositionSide
from quantum_trader.strategies.base import (
    FLAT,
    Bar,
    EngineProfile,
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
    first_crossings,
)

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
    history_bars=0,  # the document trades from its first signal
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

    search_space = MappingProxyType(
        {
            "fast": ParamRange(5, 20, "int"),  # below slow's lowest: every pair is valid
            "slow": ParamRange(21, 90, "int"),
            "stop_pct": ParamRange(0.002, 0.05, "log"),
            "target_pct": ParamRange(0.003, 0.08, "log"),
        }
    )

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
        columns: Columns,
    ) -> SeriesSignals:
        """Every signal of one series: (side by bar index, the signal at a bar on demand).

        ``columns``: open_time, open, high, low, close, volume. Equal, signal for signal,
        to folding ``on_bar`` over the bars, at a fraction of its cost.
        """
        high, low, close = columns[2], columns[3], columns[4]
        gap = vector.ema(close, self.fast) - vector.ema(close, self.slow)
        up, down = first_crossings(gap, self.slow)
        sides: dict[int, SignalSide] = {i: PositionSide.LONG for i in np.flatnonzero(up).tolist()}
        sides.update((i, FLAT) for i in np.flatnonzero(down).tolist())
        sides = dict(sorted(sides.items()))
        market = MarketAt(self.initial_state(symbol).market, high, low, close)

        def build(i: int) -> Signal | None:
            # What ``advance`` decides at bar i (past the warm-up: the crosses are masked
            # before it), from the indicators the fold would hold before and after it.
            bar = bar_at(symbol, interval, columns, i)
            return self._signal_at(bar, float(gap[i - 1]), float(gap[i]), market.after(i))

        signal_at = checked(sides, build, symbol)
        return sides, signal_at


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
    return first_crossings(vector.ema(prices, fast) - vector.ema(prices, slow), slow)
