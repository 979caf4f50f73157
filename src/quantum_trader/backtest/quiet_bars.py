"""Bars on which no rule can fire, found with numpy: what the replay may skip unchanged.

For a symbol holding a position, a bar is *quiet* when

* its range reaches no resting order's level (the protective stop, a fixed target), so
  the matching core would only move the symbol's book to the bar's close;
* its range stays inside the position's solvency guard (:class:`SolvencyGuard`), so no
  price on it can bring the account near its maintenance margin;
* at its close the exit brain would propose nothing: no stop breach, no time stop, no
  ladder tranche, no break-even or trailing move, a kill score below its threshold.

Each test is a float bound with a margin (a tick, or 1e-3 on the kill score), so it can
only err towards "may fire": such a bar is visited and judged exactly — ``evaluate_exit``
in Decimal, the core's own matching. Skipping therefore changes no fill; the test suite
replays varied markets with skipping on and off and compares every fill.

The exit brain's state over skipped bars is the one thing that moves: the best price,
which the desk folds in from the skipped closes before the next evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quantum_trader.backtest.market_view import ATR_PERIOD, FeatureSeries
from quantum_trader.backtest.trades import FloatArray, IntArray
from quantum_trader.decide.kill_score import KillScoreConfig

FIRST_WINDOW = 64
KILL_MARGIN = 1e-3  # the kill score is rounded to 4 places from 6-place features
REL_MARGIN = 1e-9  # float vs Decimal on prices (doubles carry ~1e-16)


def first_touch(
    low: FloatArray, high: FloatArray, start: int, stop: int, down: float, up: float
) -> int:
    """First bar in ``[start, stop)`` whose low is at or below ``down`` or whose high is at
    or above ``up`` (both already widened by the caller's margin); ``stop`` if none."""
    lo, width = start, FIRST_WINDOW
    while lo < stop:
        hi = min(lo + width, stop)
        touched = (low[lo:hi] <= down) | (high[lo:hi] >= up)
        k = int(touched.argmax())
        if touched[k]:
            return lo + k
        lo, width = hi, width * 2
    return stop


def widened(down: float, up: float, tick: float) -> tuple[float, float]:
    """Trigger levels widened by a tick and a relative margin: a bar price is rounded to
    the tick (or kept exact) before the core compares it in Decimal."""
    return (
        down + tick + abs(down) * REL_MARGIN if math.isfinite(down) else down,
        up - tick - abs(up) * REL_MARGIN if math.isfinite(up) else up,
    )


@dataclass(frozen=True, slots=True)
class KillBounds:
    """The kill score's configuration as floats."""

    weights: tuple[float, float, float, float]  # regime flip, volatility, signal drop, age
    threshold: float
    range_regime: float
    vol_normal: float
    vol_extreme: float
    drop_tolerance: float
    grace_ms: float
    full_ms: float

    @classmethod
    def of(cls, config: KillScoreConfig) -> KillBounds:
        return cls(
            weights=(
                float(config.weight_regime_flip),
                float(config.weight_volatility_spike),
                float(config.weight_signal_drop),
                float(config.weight_age),
            ),
            threshold=float(config.threshold),
            range_regime=float(config.range_regime),
            vol_normal=float(config.vol_ratio_normal),
            vol_extreme=float(config.vol_ratio_extreme),
            drop_tolerance=float(config.signal_drop_tolerance),
            grace_ms=float(config.age_grace_ms),
            full_ms=float(config.age_full_ms),
        )


@dataclass(frozen=True, slots=True)
class ExitWatch:
    """An open position as the exit brain would judge it, in floats (long: sign +1)."""

    sign: int
    entry: float
    risk: float  # |entry − initial stop|: one R
    stop: float  # the working protective stop
    best: float  # best close since entry, up to the last judged bar
    opened_at: int
    strength_at_entry: float
    tranche_r: float | None  # R at which the next ladder rung is due (None: none left)
    break_even_due: bool  # a break-even move is owed: judge every bar
    trail_r: float
    trail_atr_multiple: float
    max_holding_ms: int
    kill: KillBounds


class ExitBounds:
    """Per-bar float bounds of one symbol's exit-brain inputs that do not depend on the
    position (computed once, the first time a position there is judged on floats)."""

    def __init__(self, market: FeatureSeries, kill: KillBounds, tick: float) -> None:
        close, n = market.close, market.close.size
        self.close = close
        self.margin = tick + np.abs(close) * REL_MARGIN  # the tick a price is rounded to
        ready = np.arange(n) >= ATR_PERIOD - 1
        self.atr = atr = np.where(ready, market.atr, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = market.atr_mean
            ratio = np.where(ready & (mean > 0.0), atr / mean, 1.0) + 1e-6
        volatility = np.clip((ratio - kill.vol_normal) / (kill.vol_extreme - kill.vol_normal), 0, 1)
        wr, wv, _, _ = kill.weights
        total = sum(kill.weights)
        self._kill: dict[int, tuple[FloatArray, FloatArray]] = {}
        band = 0.5 * atr
        for sign in (1, -1):
            # The price moved against the position by the margin raises every component.
            price = close - sign * self.margin
            trend = market.trend
            regime = np.where(price > trend + band, 1, np.where(price < trend - band, -1, 0))
            flip = np.where(regime == 0, kill.range_regime, np.where(regime == -sign, 1.0, 0.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                gap = sign * (price - trend) / (2.0 * atr)
            strength = np.where(ready & (atr > 0.0), np.clip(gap, 0.0, 1.0), 0.5) - 1e-4
            self._kill[sign] = ((wr * flip + wv * volatility) / total, strength)

    def kill_terms(self, sign: int) -> tuple[FloatArray, FloatArray]:
        """(regime-flip and volatility part of the score, signal strength) for a side."""
        return self._kill[sign]


def first_exit_bar(
    watch: ExitWatch, bounds: ExitBounds, close_time: IntArray, start: int, stop: int
) -> int:
    """First bar in ``[start, stop)`` at whose close the exit brain may propose something."""
    if watch.break_even_due:
        return start
    lo, width, best = start, FIRST_WINDOW, watch.sign * watch.best
    while lo < stop:
        hi = min(lo + width, stop)
        may, best = _may_act(watch, bounds, close_time, lo, hi, best)
        k = int(may.argmax())
        if may[k]:
            return lo + k
        lo, width = hi, width * 2
    return stop


def _may_act(
    w: ExitWatch, b: ExitBounds, close_time: IntArray, lo: int, hi: int, best: float
) -> tuple[np.ndarray, float]:
    """Bars of ``[lo, hi)`` on which a rule may fire; ``best``: sign × best price so far."""
    sign, k = w.sign, w.kill
    signed = sign * b.close[lo:hi]
    margin = b.margin[lo:hi]
    age = close_time[lo:hi] - w.opened_at
    may = (signed - sign * w.stop <= margin) | (age >= w.max_holding_ms)  # stop / time stop
    if w.tranche_r is not None:  # a ladder rung
        may |= signed - sign * w.entry >= w.tranche_r * w.risk - margin
    best_signed = np.maximum.accumulate(signed)
    np.maximum(best_signed, best, out=best_signed)
    atr = b.atr[lo:hi]
    trail = best_signed - atr * w.trail_atr_multiple  # sign × the trailing stop
    may |= (
        (best_signed - sign * w.entry >= w.trail_r * w.risk - margin)
        & (atr > 0.0)
        & (trail - sign * w.stop > -margin)
    )
    base, strength = b.kill_terms(sign)
    _, _, ws, wa = k.weights
    score = base[lo:hi] + wa / sum(k.weights) * np.clip(
        (age - k.grace_ms) / (k.full_ms - k.grace_ms), 0.0, 1.0
    )
    if w.strength_at_entry > 0.0:
        drop = 1.0 - strength[lo:hi] / w.strength_at_entry
        signal = np.clip((drop - k.drop_tolerance) / (1.0 - k.drop_tolerance), 0.0, 1.0)
        score += ws / sum(k.weights) * signal
    may |= score >= k.threshold - KILL_MARGIN
    return may, float(best_signed[-1])


class SolvencyGuard:
    """Price levels inside which every open position may move without any price bringing
    the cross-margin account near its maintenance margin.

    At each account event (a fill, a funding settlement) the buffer ``B`` = margin
    balance − maintenance margin − a tolerance is measured at the positions' current
    closes, and each of the ``N`` positions may lose ``B / 2N`` before its guard: while
    every position stays inside its guard, the account keeps at least half its buffer.
    A bar reaching a guard is visited (the core's exact check decides), and a guard that
    tightens re-validates the bars its position was going to skip.
    """

    def __init__(self) -> None:
        self.levels: dict[str, float] = {}

    def update(
        self,
        wallet: float,
        positions: dict[str, tuple[float, float]],
        marks: dict[str, float],
        maintenance: dict[str, tuple[float, float]],
    ) -> dict[str, float]:
        """New guards; returns the symbols whose guard tightened, with the new level.

        ``maintenance``: per symbol (maintenance margin now, highest bracket ratio).
        """
        old, self.levels = self.levels, {}
        if not positions:
            return {}
        balance, scale = wallet, abs(wallet)
        for symbol, (qty, cost) in positions.items():
            notional = qty * marks[symbol]
            balance += notional - cost - maintenance[symbol][0]
            scale += abs(notional) + abs(cost)
        budget = max(0.0, balance - 1e-7 * scale - 1e-3) / (2 * len(positions))
        tightened: dict[str, float] = {}
        for symbol, (qty, _) in positions.items():
            mark, ratio = marks[symbol], maintenance[symbol][1]
            if qty > 0:
                level = mark - budget / qty
                tighter = level > old.get(symbol, -math.inf)
            else:
                level = mark + budget / (-qty * (1.0 + ratio))
                tighter = level < old.get(symbol, math.inf)
            self.levels[symbol] = level
            if tighter:
                tightened[symbol] = level
        return tightened

    def band(self, symbol: str, long: bool) -> tuple[float, float]:
        """(down, up) trigger levels this guard adds for ``symbol``'s position."""
        level = self.levels.get(symbol)
        if level is None:
            return -math.inf, math.inf
        return (level, math.inf) if long else (-math.inf, level)
