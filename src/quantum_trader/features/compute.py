"""The two evaluations of the features: :func:`compute` over a whole series (training,
backtests) and :class:`FeatureState` one closed bar at a time (the live signal engine).

Both run the same compiled plan (``catalog.plan_for``); a test holds them equal to 1e-9
on every feature and bar, NaN for NaN, with gaps and with and without funding.
"""

from __future__ import annotations

import math

import numpy as np

from quantum_trader.data.bars import BarSeries, DataError, interval_ms
from quantum_trader.data.funding import FundingSeries
from quantum_trader.data.source import BarEvent
from quantum_trader.features.catalog import DEFAULT_SPEC, plan_for
from quantum_trader.features.frame import FeatureFrame, FeatureRow
from quantum_trader.features.funding import funding_at
from quantum_trader.features.graph import BASE
from quantum_trader.features.higher import HigherBarBuilder, higher_columns
from quantum_trader.features.plan import PlanTracker, evaluate_columns
from quantum_trader.features.spec import FeatureSpec

NAN = math.nan


def _check_series(series: BarSeries) -> None:
    steps = np.diff(series.open_time)
    if len(steps) and int(steps.min()) < series.interval_ms:
        at = int(np.argmax(steps < series.interval_ms)) + 1
        raise DataError(
            f"{series.symbol} {series.interval}: bar {at} opens {int(steps[at - 1])} ms after "
            f"the previous one, less than one interval (unsorted, duplicated or misaligned); "
            "load with repair=True"
        )
    for name in ("open", "high", "low", "close", "volume"):
        if not bool(np.isfinite(getattr(series, name)).all()):
            raise DataError(f"{series.symbol}: {name} has NaN or infinite values; repair the bars")


def compute(
    series: BarSeries, funding: FundingSeries | None = None, spec: FeatureSpec = DEFAULT_SPEC
) -> FeatureFrame:
    """Every feature of ``spec`` at every bar of ``series`` (row ``i`` from bars ``0..i``)."""
    _check_series(series)
    plan = plan_for(spec)
    base = {
        "open_time": series.open_time.astype(np.float64),
        "end_time": (series.open_time + series.interval_ms).astype(np.float64),
        "interval": np.full(len(series), float(series.interval_ms)),
        "open": series.open,
        "high": series.high,
        "low": series.low,
        "close": series.close,
        "volume": series.volume,
        "funding": funding_at(series.close_time, funding),
    }
    higher = {tf: higher_columns(series, tf) for tf in plan.higher}
    values = evaluate_columns(plan, base, higher)
    return FeatureFrame(series.symbol, series.open_time, plan.names, values)


class FeatureState:
    """A symbol's features, updated once per closed bar in O(1) with fixed memory.

    Feed bars oldest first (gaps allowed, no repeats); ``update`` returns the row that
    ``compute`` would give the same bar of the same series.
    """

    __slots__ = ("_builders", "_interval", "_interval_ms", "_last", "_names", "_plan", "symbol")

    def __init__(self, symbol: str, interval: str, spec: FeatureSpec = DEFAULT_SPEC) -> None:
        plan = plan_for(spec)
        self.symbol = symbol
        self._interval, self._interval_ms = interval, interval_ms(interval)
        self._names = plan.names
        self._plan = PlanTracker(plan)
        self._builders = [(tf, HigherBarBuilder(tf, interval)) for tf in plan.higher]
        self._last: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def update(self, bar: BarEvent, funding_rate: float = NAN) -> FeatureRow:
        """Add one closed bar; ``funding_rate`` is the last rate settled at or before its
        close (NaN when unknown; ``FundingCursor`` finds it in a recorded series)."""
        if (bar.symbol, bar.interval) != (self.symbol, self._interval):
            raise DataError(
                f"bar of {bar.symbol} {bar.interval} fed to the {self.symbol} "
                f"{self._interval} features"
            )
        return self.update_values(
            bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume, funding_rate
        )

    def update_values(
        self,
        open_time: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        funding_rate: float = NAN,
    ) -> FeatureRow:
        """:meth:`update` from plain fields."""
        if self._last is not None and open_time - self._last < self._interval_ms:
            raise DataError(
                f"{self.symbol}: bar at {open_time} is less than one {self._interval} interval "
                f"after the previous bar at {self._last}; feed bars oldest first, once each"
            )
        if not all(math.isfinite(x) for x in (open_, high, low, close, volume)):
            raise DataError(f"{self.symbol}: bar at {open_time} has a NaN or infinite value")
        self._last = open_time
        for tf, builder in self._builders:
            for higher_bar in builder.push(open_time, open_, high, low, close):
                self._plan.tick(tf, higher_bar)
        t = float(open_time)
        row = (t, t + self._interval_ms, float(self._interval_ms), open_, high, low, close)
        self._plan.tick(BASE, (*row, volume, funding_rate))
        return FeatureRow(self.symbol, open_time, self._names, self._plan.outputs())
