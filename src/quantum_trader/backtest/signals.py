"""Strategy signals for whole series, computed once before the replay.

A strategy is a pure fold over closed bars, so its signals do not depend on what the
backtest did with earlier ones: they can be computed up front, per symbol, and in
parallel processes. The replay then only visits bars where something can happen (a
signal, or a bar on which an open position's rules can fire). Signals come from each
strategy's own ``on_bar`` — the code the signal-engine runs — so their features and stop
distances are the live ones.

A strategy may offer a vectorised path, ``series_signals(symbol, interval, columns)``
returning (side by bar, signal at a bar on demand) — :class:`VectorSignals`; every
built-in rule strategy does (:mod:`quantum_trader.strategies.rebuilt`). Its signals equal
the fold's (a unit test checks each one), are computed in this process, and a signal is
only built when the replay needs it. A series whose open times repeat or go back (the
fold skips such a bar) is folded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from quantum_trader.data.bars import BarSeries
from quantum_trader.data.funding import FundingSeries
from quantum_trader.strategies import FLAT, Signal, SignalSide, get_strategy
from quantum_trader.strategies.base import fold_signals
from quantum_trader.strategies.rebuilt import strictly_increasing

Columns = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]


@runtime_checkable
class VectorSignals(Protocol):
    """A strategy that computes a whole series' signals at once (see module docstring)."""

    def series_signals(
        self, symbol: str, interval: str, columns: Columns
    ) -> tuple[dict[int, SignalSide], Callable[[int], Signal]]: ...


@runtime_checkable
class UniverseSignals(Protocol):
    """A strategy that scores every series of the run together (the ``model`` strategy:
    cross-sectional features, one batched predict)."""

    def universe_signals(
        self, series: Sequence[BarSeries], funding: Mapping[str, FundingSeries] | None = None
    ) -> list[tuple[dict[int, SignalSide], Callable[[int], Signal]]]: ...


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """A strategy by registry name and keyword parameters (picklable for workers)."""

    name: str
    params: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class SignalSeries:
    """One series' signals: the side at each signal bar, and the signal itself on demand.

    Several strategies on one symbol (``merged``) are what the signal engine runs: at a
    bar's close each strategy, in the configured order, may emit an intent. ``sides``
    then holds the first entry side (FLAT only if no strategy wants in) and ``entries``
    every entry signal of the bar, in order, as the intent bridge receives them."""

    sides: dict[int, SignalSide]
    at: Callable[[int], Signal]
    each: Callable[[int], tuple[Signal, ...]] | None = None

    @classmethod
    def of(cls, signals: dict[int, Signal]) -> SignalSeries:
        return cls({i: s.side for i, s in signals.items()}, signals.__getitem__)

    def entries(self, i: int) -> tuple[Signal, ...]:
        """The entry (LONG / SHORT) signals emitted at bar ``i``'s close, in order."""
        if self.each is not None:
            return self.each(i)
        return () if self.sides.get(i, FLAT) is FLAT else (self.at(i),)

    @classmethod
    def merged(cls, parts: Sequence[SignalSeries]) -> SignalSeries:
        """The signals of several strategies on one series, in the strategies' order."""
        if len(parts) == 1:
            return parts[0]
        bars = sorted({i for p in parts for i in p.sides})
        sides: dict[int, SignalSide] = {}
        for i in bars:
            wanted = [p.sides[i] for p in parts if i in p.sides]
            sides[i] = next((side for side in wanted if side is not FLAT), FLAT)

        def each(i: int) -> tuple[Signal, ...]:
            return tuple(p.at(i) for p in parts if p.sides.get(i, FLAT) is not FLAT)

        def at(i: int) -> Signal:
            found = each(i)
            return found[0] if found else next(p.at(i) for p in parts if i in p.sides)

        return cls(sides, at, each)


def series_signals(spec: StrategySpec, series: BarSeries) -> dict[int, Signal]:
    """Bar index -> the signal emitted at that bar's close (folding ``on_bar``)."""
    strategy = get_strategy(spec.name, **dict(spec.params))
    columns = [c.tolist() for c in _columns(series)]
    return fold_signals(strategy, series.symbol, series.interval, columns)


def all_signals(
    spec: StrategySpec,
    series: list[BarSeries],
    workers: int | None = None,
    funding: Mapping[str, FundingSeries] | None = None,
) -> list[SignalSeries]:
    """Signals of every series; folds of several series are spread over worker processes."""
    strategy = get_strategy(spec.name, **dict(spec.params))
    if isinstance(strategy, UniverseSignals):
        return [SignalSeries(*part) for part in strategy.universe_signals(series, funding)]
    if isinstance(strategy, VectorSignals) and all(
        strictly_increasing(s.open_time) for s in series
    ):
        return [
            SignalSeries(*strategy.series_signals(s.symbol, s.interval, _columns(s)))
            for s in series
        ]
    workers = min(len(series), workers or os.cpu_count() or 1)
    if workers <= 1 or len(series) == 1:
        return [SignalSeries.of(series_signals(spec, s)) for s in series]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        shipped = pool.map(_portable_signals, [spec] * len(series), series)
        return [
            SignalSeries.of({i: Signal(**kwargs) for i, kwargs in part.items()}) for part in shipped
        ]


def _columns(series: BarSeries) -> Columns:
    return (series.open_time, series.open, series.high, series.low, series.close, series.volume)


def _portable_signals(spec: StrategySpec, series: BarSeries) -> dict[int, dict[str, Any]]:
    """Worker side: signals as plain constructor arguments (a read-only features mapping
    does not pickle)."""
    out: dict[int, dict[str, Any]] = {}
    for i, signal in series_signals(spec, series).items():
        kwargs = {f.name: getattr(signal, f.name) for f in fields(signal)}
        kwargs["features"] = dict(signal.features)
        out[i] = kwargs
    return out
