"""The lookahead check of ``quantum backtest --lookahead-check``: do the backtest's
signals use bars they could not have seen?

The backtest computes a strategy's signals over whole columns before the replay
(:mod:`quantum_trader.backtest.signals`); a column expression that reads a later bar (a
shift the wrong way, a centred window, a resample that includes the bucket still open)
gives signals no live run could give, and it hides there: ``on_bar``, the bar-by-bar
form, only ever sees the past. Two comparisons find it:

* **truncated**: at sampled signal bars ``e`` — every one when a series has at most
  ``samples`` of them, else the first, the last and a seeded sample of the rest — the
  column form is recomputed on the bars ``0..e`` only; every signal it gives on those
  bars must be the full run's (side), and the signal at ``e`` itself field by field
  (confidence, stop and target distances, every feature it carries);
* **bar by bar**: the full column form against the fold of ``on_bar`` over every bar
  (what the signal engine runs), every signal field by field.

The ``model`` strategy's signals come from its feature columns
(:mod:`quantum_trader.backtest.lookahead_model`): the features it scores and the ATR it
stops on are recomputed on the universe cut at sampled signal times, the signals too,
and the features are stepped bar by bar over the first bars of the run.

Floats count as equal within 1e-9 (``lookahead_changes.TOLERANCE``: absolute, relative
above 1, the features' own bar-by-bar equality); a lookahead moves them by far more.
The report keeps the first few changes of each field or feature on each symbol and
counts them all. A strategy with no column
form (a plugin without ``series_signals``) is folded by the backtest too: nothing to
compare, and the report says so.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

from quantum_trader.backtest.lookahead_changes import (
    BAR_BY_BAR,
    DEFAULT_SAMPLES,
    TRUNCATED,
    Change,
    Changes,
    Coverage,
    LookaheadReport,
    compare_signal,
    safe_signal,
    sample_bars,
    side_name,
)
from quantum_trader.backtest.lookahead_model import check_model
from quantum_trader.backtest.signals import (
    StrategySpec,
    UniverseSignals,
    VectorSignals,
    _columns,
    _portable_signals,
)
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.funding import FundingSeries
from quantum_trader.strategies import Signal, get_strategy
from quantum_trader.strategies.base import AnyStrategy, fold_signals
from quantum_trader.strategies.rebuilt import strictly_increasing


def check_rule(
    strategy: AnyStrategy,
    series: BarSeries,
    fold: Mapping[int, Signal],
    samples: int,
    seed: int,
    found: Changes,
) -> Coverage:
    """One column-form strategy on one series: truncations, then the fold (``fold``)."""
    name, symbol, interval = strategy.name, series.symbol, series.interval
    assert isinstance(strategy, VectorSignals)
    columns = _columns(series)
    sides, at = strategy.series_signals(symbol, interval, columns)
    bars = sorted(sides)
    times = series.open_time
    coverage = Coverage(name, symbol, signals=len(bars))
    for e in sample_bars(bars, samples, seed, f"{name}|{symbol}"):
        cut = tuple(c[: e + 1] for c in columns)
        cut_sides, cut_at = strategy.series_signals(symbol, interval, cut)  # type: ignore[arg-type]
        coverage.truncations += 1
        seen = bars[: bisect_right(bars, e)]
        for j in sorted(set(seen) | set(cut_sides)):
            a, b = sides.get(j), cut_sides.get(j)
            if a is not b:
                found.add(Change("signal", name, "side", symbol, j, int(times[j]), side_name(a),
                                 side_name(b), TRUNCATED))  # fmt: skip
        if e in cut_sides and cut_sides[e] is sides[e]:
            both = safe_signal(at, e), safe_signal(cut_at, e)
            for change in compare_signal(name, symbol, e, int(times[e]), *both, TRUNCATED):
                found.add(change)
    for j in sorted(set(sides) | set(fold)):
        full: Signal | str | None = safe_signal(at, j) if j in sides else None
        stepped = fold.get(j)
        if full is None or stepped is None:
            shown = side_name(sides.get(j)), None if stepped is None else side_name(stepped.side)
            found.add(Change("signal", name, "side", symbol, j, int(times[j]), *shown, BAR_BY_BAR))
            continue
        coverage.bar_by_bar += 1
        for change in compare_signal(name, symbol, j, int(times[j]), full, stepped, BAR_BY_BAR):
            found.add(change)
    return coverage


def folds(
    specs: Sequence[StrategySpec], series: Sequence[BarSeries], workers: int | None
) -> list[dict[int, Signal]]:
    """``on_bar`` folded over each (spec, series) pair, in worker processes when several."""
    pairs = [(spec, s) for spec in specs for s in series]
    workers = min(len(pairs), workers or os.cpu_count() or 1)
    if workers <= 1:
        out = []
        for spec, s in pairs:
            strategy = get_strategy(spec.name, **dict(spec.params))
            columns = [c.tolist() for c in _columns(s)]
            out.append(fold_signals(strategy, s.symbol, s.interval, columns))
        return out
    with ProcessPoolExecutor(max_workers=workers) as pool:
        shipped = pool.map(_portable_signals, [p[0] for p in pairs], [p[1] for p in pairs])
        return [{i: Signal(**kwargs) for i, kwargs in part.items()} for part in shipped]


def check_lookahead(
    series: Sequence[BarSeries],
    specs: Sequence[StrategySpec],
    funding: Mapping[str, FundingSeries] | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    workers: int | None = None,
) -> LookaheadReport:
    """Check every strategy of ``specs`` on ``series`` (see the module docstring);
    ``funding``: the rates the strategies' features take (the settled ones)."""
    started = time.perf_counter()
    series = sorted(series, key=lambda s: s.symbol)
    found = Changes()
    coverage: list[Coverage] = []
    vector: list[tuple[StrategySpec, AnyStrategy]] = []
    for spec in specs:
        strategy = get_strategy(spec.name, **dict(spec.params))
        if isinstance(strategy, UniverseSignals):
            coverage.append(check_model(strategy, series, funding, samples, seed, found))
        elif isinstance(strategy, VectorSignals) and all(
            strictly_increasing(s.open_time) for s in series
        ):
            vector.append((spec, strategy))
        else:
            vectorised = isinstance(strategy, VectorSignals)
            why = "bar times repeat" if vectorised else "no column form"
            note = f"{why}: the backtest folds on_bar, which sees only the past"
            coverage.extend(Coverage(spec.name, s.symbol, note=note) for s in series)
    folded = iter(folds([spec for spec, _ in vector], series, workers))
    for _, strategy in vector:
        for s in series:
            coverage.append(check_rule(strategy, s, next(folded), samples, seed, found))
    return LookaheadReport(
        tuple(coverage), tuple(found.kept), found.total, time.perf_counter() - started
    )
