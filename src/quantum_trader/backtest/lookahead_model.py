"""The lookahead check of the ``model`` strategy: its feature columns and its signals.

The model scores feature columns computed over whole series
(:func:`quantum_trader.model.dataset.feature_frames`, what training computes too), so a
feature that reads a later bar would flatter every backtest of every model. Three
comparisons, on the columns the model scores and the ATR column its stops come from:

* **truncated**: the universe cut at sampled signal times ``T`` (every symbol's bars up
  to ``T``, the funding settled by the close of ``T``'s bar) — every row of the cut must
  equal the full run's;
* the model's signals on that cut: the same side on every bar, and the signal at each
  symbol's last bar field by field;
* **bar by bar**: the features stepped one bar time at a time, as the live signal
  engine steps them (:class:`~quantum_trader.features.universe.UniverseFeatureState`
  and the bar's cross-section), over the first :data:`BAR_BY_BAR_BARS` bar times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from quantum_trader.backtest.lookahead_changes import (
    BAR_BY_BAR,
    TOLERANCE,
    TRUNCATED,
    Change,
    Changes,
    Coverage,
    compare_signal,
    nan_safe,
    safe_signal,
    sample_bars,
    side_name,
)
from quantum_trader.backtest.signals import UniverseSignals
from quantum_trader.data.bars import BarSeries, DataError, FloatArray
from quantum_trader.data.funding import FundingSeries
from quantum_trader.features import FeatureFrame, FundingCursor, cross_section_names
from quantum_trader.features.cross_section import cross_section_matrix
from quantum_trader.features.universe import UniverseFeatureState
from quantum_trader.model.dataset import atr_column, feature_frames, frames_reused, model_spec
from quantum_trader.strategies import Signal, SignalSide

Signals = tuple[Mapping[int, SignalSide], Callable[[int], Signal]]
BAR_BY_BAR_BARS = 3_000  # bar times stepped one at a time (≈ 0.5 ms each for 3 symbols)


def check_model(
    strategy: UniverseSignals,
    series: Sequence[BarSeries],
    funding: Mapping[str, FundingSeries] | None,
    samples: int,
    seed: int,
    found: Changes,
) -> Coverage:
    """The universe strategy on ``series`` (see the module docstring)."""
    name = str(getattr(strategy, "name", "model"))
    funding = dict(funding or {})
    with frames_reused():
        frames = feature_frames(series, funding)
        out = strategy.universe_signals(series, funding)
    names = frames[series[0].symbol].names
    scored = getattr(getattr(strategy, "scorer", None), "names", names)
    columns = [c for c in (*scored, atr_column(model_spec(series[0].interval))) if c in names]
    columns = list(dict.fromkeys(columns))
    full = {s: frames[s].select(columns) for s in frames}
    events = sorted((int(s.open_time[i]), k, i) for k, s in enumerate(series) for i in out[k][0])
    coverage = Coverage(name, "", signals=len(events), features=len(columns))
    picked = sample_bars(list(range(len(events))), samples, seed, name)
    for cut_time in sorted({events[p][0] for p in picked}):
        cut = [s.slice(0, int(np.searchsorted(s.open_time, cut_time, "right"))) for s in series]
        cut = [s for s in cut if len(s)]
        settled_by = cut_time + series[0].interval_ms - 1
        rates = {sym: _settled(f, settled_by) for sym, f in funding.items()}
        with frames_reused():
            cut_frames = feature_frames(cut, rates)
            cut_out = strategy.universe_signals(cut, rates)
        coverage.truncations += 1
        for s, (sides, at) in zip(cut, cut_out, strict=True):
            k = next(j for j, x in enumerate(series) if x.symbol == s.symbol)
            values = cut_frames[s.symbol].select(columns).values
            _frame_changes(full[s.symbol], values, name, TRUNCATED, found)
            _signal_changes(name, s, out[k], (sides, at), found)
    times = len(np.unique(np.concatenate([s.open_time for s in series])))
    try:
        coverage.bar_by_bar = _stepped(series, funding, full, name, found)
    except DataError as exc:  # bars the live engine would refuse (repeated open times)
        coverage.note = f"not stepped bar by bar: {exc}"
    else:
        stepped = min(times, BAR_BY_BAR_BARS)
        coverage.note = f"bar by bar: feature rows of the first {stepped:,} of {times:,} bar times"
    return coverage


def _settled(rates: FundingSeries, by_ms: int) -> FundingSeries:
    kept = rates.funding_time <= by_ms
    return FundingSeries(rates.symbol, rates.funding_time[kept], rates.rate[kept],
                         rates.interval_hours)  # fmt: skip


def _frame_changes(
    full: FeatureFrame, values: FloatArray, strategy: str, check: str, found: Changes
) -> None:
    """Every cell of ``values`` (the first rows of ``full``'s symbol) that differs."""
    expected = full.values[: len(values)]
    nan_a, nan_b = np.isnan(expected), np.isnan(values)
    with np.errstate(invalid="ignore"):
        error = np.abs(expected - values) / np.maximum(1.0, np.abs(expected))
    bad = (nan_a != nan_b) | (~nan_a & ~nan_b & ~(error <= TOLERANCE))
    for i, k in np.argwhere(bad).tolist():
        found.add(
            Change("feature", strategy, full.names[k], full.symbol, i, int(full.open_time[i]),
                   nan_safe(float(expected[i, k])), nan_safe(float(values[i, k])), check)
        )  # fmt: skip


def _signal_changes(
    strategy: str, cut: BarSeries, full: Signals, truncated: Signals, found: Changes
) -> None:
    """The cut's sides against the full run's on every bar it holds; its last bar's
    signal field by field."""
    (sides, at), (cut_sides, cut_at) = full, truncated
    last = len(cut) - 1
    for j in sorted({i for i in sides if i <= last} | set(cut_sides)):
        a, b = sides.get(j), cut_sides.get(j)
        if a is not b:
            found.add(Change("signal", strategy, "side", cut.symbol, j, int(cut.open_time[j]),
                             side_name(a), side_name(b), TRUNCATED))  # fmt: skip
    if last in sides and sides.get(last) is cut_sides.get(last):
        for change in compare_signal(
            strategy, cut.symbol, last, int(cut.open_time[last]),
            safe_signal(at, last), safe_signal(cut_at, last), TRUNCATED,
        ):  # fmt: skip
            found.add(change)


def _stepped(
    series: Sequence[BarSeries],
    funding: Mapping[str, FundingSeries],
    full: Mapping[str, FeatureFrame],
    strategy: str,
    found: Changes,
) -> int:
    """The features stepped over the first bar times, against the columns; rows compared."""
    interval = series[0].interval
    spec = model_spec(interval)
    state = UniverseFeatureState([s.symbol for s in series], interval, spec)
    names = (*state.names, *cross_section_names(spec))
    columns = full[series[0].symbol].names
    pick = [names.index(c) for c in columns]
    times = np.unique(np.concatenate([s.open_time for s in series]))[:BAR_BY_BAR_BARS]
    cursors = [FundingCursor(funding.get(s.symbol)) for s in series]
    at = [0] * len(series)
    stepped: list[list[FloatArray]] = [[] for _ in series]
    for t in times.tolist():
        present = [k for k, s in enumerate(series) if at[k] < len(s) and s.open_time[at[k]] == t]
        if not present:
            continue
        bars = []
        for k in present:
            s, i = series[k], at[k]
            rate = cursors[k].rate_at(t + s.interval_ms - 1)
            bars.append((s.open[i], s.high[i], s.low[i], s.close[i], s.volume[i], rate))
            at[k] += 1
        rows = np.array(present, np.int64)
        own = state.update_rows(t, rows, np.array(bars, np.float64))[rows]
        batch = np.hstack([own, cross_section_matrix(own, state.names, spec)])[:, pick]
        for r, k in enumerate(present):
            stepped[k].append(batch[r])
    compared = 0
    for k, s in enumerate(series):
        if stepped[k]:
            values = np.vstack(stepped[k])
            _frame_changes(full[s.symbol], values, strategy, BAR_BY_BAR, found)
            compared += len(values)
    return compared
