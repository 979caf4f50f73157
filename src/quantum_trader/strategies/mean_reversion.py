"""Mean reversion: an RSI extreme, confirmed by the MACD histogram turning back.

RSI below ``oversold`` arms a long setup for ``setup_bars`` bars. The setup fires a
LONG on a bar that closes up while the MACD histogram rises: price has bounced *and*
downside momentum is shrinking. Overbought, a down close and a falling histogram mirror
it into a SHORT. Buying the RSI extreme alone is catching a falling knife; a steady
sell-off keeps RSI pinned low and, as its EMAs converge, even lifts the histogram, so
the up close is what separates a bounce from a pause in the fall. A setup fires once.

Confidence grows with how deep the RSI extreme went past its threshold: just past 30
is a weak setup (0.5), ``full_confidence_depth`` points past it is full conviction.

:meth:`MeanReversion.series_signals` is the backtester's whole-series path: RSI, MACD and
ATR from the vectorised indicators, the setups stepped (``step_setups``, the fold's own
step) only over the bars where one can be armed — an RSI extreme and the ``setup_bars``
after it; elsewhere they are :data:`NO_SETUPS` — and each signal built by ``on_bar`` from
the state rebuilt at the bar before; a unit test compares it with the fold.
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
from quantum_trader.strategies.indicators import Macd, Rsi
from quantum_trader.strategies.params import ParamRange
from quantum_trader.strategies.rebuilt import (
    BoolArray,
    Columns,
    IntArray,
    MarketAt,
    SeriesSignals,
    bar_at,
    checked,
    ema_after,
    wilder_after,
)


@dataclass(frozen=True, slots=True)
class Setup:
    """An armed RSI extreme: how many bars ago it was last seen and how far it went."""

    age: int
    extreme: float


def track_setup(
    setup: Setup | None, extreme_now: bool, rsi: float, *, deeper_is_lower: bool, max_age: int
) -> Setup | None:
    """Arm on an extreme RSI reading, keep the most extreme value, expire after ``max_age``."""
    if extreme_now:
        if setup is None:
            return Setup(0, rsi)
        deeper = min(setup.extreme, rsi) if deeper_is_lower else max(setup.extreme, rsi)
        return Setup(0, deeper)
    if setup is None or setup.age + 1 > max_age:
        return None
    return Setup(setup.age + 1, setup.extreme)


@dataclass(frozen=True, slots=True)
class Setups:
    """The armed extremes on both sides. A setup that fired stays spent until RSI leaves
    the zone, so one sell-off is one trade."""

    oversold: Setup | None = None
    overbought: Setup | None = None
    oversold_spent: bool = False
    overbought_spent: bool = False


NO_SETUPS = Setups()  # what a bar with RSI outside both zones, and no setup armed, leaves


@dataclass(frozen=True, slots=True, kw_only=True)
class MeanReversionState(StrategyState):
    rsi: Rsi
    macd: Macd
    market: MarketFeatures
    hist_prev: float = math.nan  # MACD histogram one bar ago
    setups: Setups = NO_SETUPS


@register("mean_reversion")
class MeanReversion(Strategy[MeanReversionState]):
    """RSI oversold/overbought + MACD histogram turn; stop ``stop_atr`` × ATR."""

    search_space = MappingProxyType(
        {
            "rsi_period": ParamRange(7, 28, "int"),
            "oversold": ParamRange(15.0, 40.0),
            "overbought": ParamRange(60.0, 85.0),
            "setup_bars": ParamRange(2, 10, "int"),
            "stop_atr": ParamRange(1.0, 4.0),
            "take_profit_atr": ParamRange(1.0, 5.0),
        }
    )

    def __init__(
        self,
        *,
        rsi_period: int = 14,
        oversold: float = 30.0,
        overbought: float = 70.0,
        macd_fast: int = 12,
        macd_slow: int = 26,
        macd_signal: int = 9,
        setup_bars: int = 5,
        atr_period: int = 14,
        stop_atr: float = 2.0,
        take_profit_atr: float | None = 2.0,
        full_confidence_depth: float = 15.0,
    ) -> None:
        self.rsi_period = params.positive_int("rsi_period", rsi_period)
        self.oversold = params.in_range("oversold", oversold, 0.0, 100.0)
        self.overbought = params.in_range("overbought", overbought, 0.0, 100.0)
        params.ordered("oversold", self.oversold, "overbought", self.overbought)
        self.macd_fast = params.positive_int("macd_fast", macd_fast)
        self.macd_slow = params.positive_int("macd_slow", macd_slow)
        params.ordered("macd_fast", self.macd_fast, "macd_slow", self.macd_slow)
        self.macd_signal = params.positive_int("macd_signal", macd_signal)
        self.setup_bars = params.positive_int("setup_bars", setup_bars)
        self.atr_period = params.positive_int("atr_period", atr_period)
        self.stop_atr = params.positive_float("stop_atr", stop_atr)
        self.take_profit_atr = params.optional_positive_float("take_profit_atr", take_profit_atr)
        self.full_confidence_depth = params.positive_float(
            "full_confidence_depth", full_confidence_depth
        )
        # The histogram is an EMA of an EMA difference: give both layers time to converge.
        self.warmup = max(self.rsi_period + 1, self.macd_slow + self.macd_signal, self.atr_period)

    def initial_state(self, symbol: str) -> MeanReversionState:
        return MeanReversionState(
            symbol=symbol,
            rsi=Rsi.start(self.rsi_period),
            macd=Macd.start(self.macd_fast, self.macd_slow, self.macd_signal),
            market=MarketFeatures.start(atr_period=self.atr_period),
        )

    def step_setups(
        self, setups: Setups, level: float, bounced: bool, rejected: bool
    ) -> tuple[Setups, PositionSide | None, float]:
        """One bar of the setups: (setups after it, the side that fired, its depth).

        ``level`` is the RSI (NaN until ready: every comparison is then False)."""
        oversold = track_setup(
            setups.oversold,
            level < self.oversold and not setups.oversold_spent,
            level,
            deeper_is_lower=True,
            max_age=self.setup_bars,
        )
        overbought = track_setup(
            setups.overbought,
            level > self.overbought and not setups.overbought_spent,
            level,
            deeper_is_lower=False,
            max_age=self.setup_bars,
        )
        side: PositionSide | None = None
        depth = 0.0
        if bounced and oversold is not None:
            side, depth, oversold = PositionSide.LONG, self.oversold - oversold.extreme, None
        elif rejected and overbought is not None:
            side, depth, overbought = PositionSide.SHORT, overbought.extreme - self.overbought, None
        after = Setups(
            oversold,
            overbought,
            (setups.oversold_spent or side is PositionSide.LONG) and level < self.oversold,
            (setups.overbought_spent or side is PositionSide.SHORT) and level > self.overbought,
        )
        return after, side, depth

    def advance(
        self, state: MeanReversionState, bar: Bar
    ) -> tuple[MeanReversionState, Signal | None]:
        rsi = state.rsi.update(bar.close)
        macd = state.macd.update(bar.close)
        market = state.market.update(bar)
        hist = macd.histogram
        level = rsi.value
        prev_close = state.rsi.prev_close  # NaN on the first bar
        bounced = bar.close > prev_close and hist > state.hist_prev
        rejected = bar.close < prev_close and hist < state.hist_prev
        setups, side, depth = self.step_setups(state.setups, level, bounced, rejected)
        new_state = replace(state, rsi=rsi, macd=macd, market=market, hist_prev=hist, setups=setups)
        stop = market.stop_distance(self.stop_atr)
        if side is None or stop is None:
            return new_state, None
        strength = depth / self.full_confidence_depth
        atr = market.atr.value
        take_profit = None if self.take_profit_atr is None else self.take_profit_atr * atr
        return new_state, self.signal(
            bar,
            side,
            confidence=0.5 + 0.5 * min(1.0, strength),
            stop_distance=stop,
            take_profit_distance=take_profit,
            features=market.snapshot(bar.close, strength, rsi=level, macd_histogram_atr=hist / atr),
        )

    def series_signals(self, symbol: str, interval: str, columns: Columns) -> SeriesSignals:
        """Every signal of one series: (side by bar index, the signal at a bar on demand),
        equal to folding ``on_bar`` (``columns``: open_time, open, high, low, close, volume)."""
        open_time, high, low, close = columns[0], columns[2], columns[3], columns[4]
        n = close.size
        change = np.diff(close)
        gains, losses = np.maximum(change, 0.0), np.maximum(-change, 0.0)
        avg_gain = vector.wilder_average(gains, self.rsi_period)
        avg_loss = vector.wilder_average(losses, self.rsi_period)
        level = vector.rsi(close, self.rsi_period)
        fast, slow = vector.ema(close, self.macd_fast), vector.ema(close, self.macd_slow)
        line = fast - slow
        signal_line = vector.ema(line, self.macd_signal)
        hist = line - signal_line
        prev_close, hist_prev = np.full(n, math.nan), np.full(n, math.nan)
        prev_close[1:], hist_prev[1:] = close[:-1], hist[:-1]
        with np.errstate(invalid="ignore"):
            bounced = (close > prev_close) & (hist > hist_prev)
            rejected = (close < prev_close) & (hist < hist_prev)
            extreme = (level < self.oversold) | (level > self.overbought)
        market = MarketAt(self.initial_state(symbol).market, high, low, close)
        stop_ok = market.stop_ok(self.stop_atr)
        sides: dict[int, SignalSide] = {}
        before: dict[int, Setups] = {}  # the setups the fold holds before a signal bar
        setups, last = NO_SETUPS, -2
        for i in _armable(extreme, self.setup_bars).tolist():
            if i != last + 1:
                setups = NO_SETUPS  # a stretch with no extreme since setup_bars ago
            last, held = i, setups
            setups, side, _ = self.step_setups(
                setups, float(level[i]), bool(bounced[i]), bool(rejected[i])
            )
            if side is not None and stop_ok[i] and i >= self.warmup:
                sides[i], before[i] = side, held

        def build(i: int) -> Signal | None:
            period, j = self.rsi_period, i - 1  # the state after bar j
            state = MeanReversionState(
                symbol=symbol,
                bars_seen=i,
                last_open_time=int(open_time[j]),
                rsi=Rsi(
                    wilder_after(period, gains, avg_gain, j - 1),
                    wilder_after(period, losses, avg_loss, j - 1),
                    float(close[j]),
                ),
                macd=Macd(
                    ema_after(self.macd_fast, fast, j),
                    ema_after(self.macd_slow, slow, j),
                    ema_after(self.macd_signal, signal_line, j),
                ),
                market=market.after(j),
                hist_prev=float(hist[j]),
                setups=before[i],
            )
            return self.on_bar(state, bar_at(symbol, interval, columns, i))[1]

        return sides, checked(sides, build, symbol)


def _armable(extreme: BoolArray, setup_bars: int) -> IntArray:
    """Bars on which a setup can be armed: an RSI extreme at most ``setup_bars`` ago."""
    near = np.zeros(extreme.size + setup_bars + 1, dtype=np.bool_)
    for lag in range(setup_bars + 1):
        near[lag : lag + extreme.size] |= extreme
    return np.flatnonzero(near[: extreme.size])
