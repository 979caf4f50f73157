"""Strategy signals for whole series, computed once before the replay.

A strategy is a pure fold over closed bars, so its signals do not depend on what the
backtest did with earlier ones: they can be computed up front, per symbol, and in
parallel processes. The replay then only visits bars where something can happen (a
signal, or an open position). Signals come from each strategy's own ``on_bar`` — the
code the signal-engine runs — so their features and stop distances are the live ones.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

from quantum_trader.data.bars import BarSeries
from quantum_trader.strategies import Bar, Signal, get_strategy


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """A strategy by registry name and keyword parameters (picklable for workers)."""

    name: str
    params: tuple[tuple[str, object], ...] = ()


def series_signals(spec: StrategySpec, series: BarSeries) -> dict[int, Signal]:
    """Bar index -> the signal emitted at that bar's close."""
    strategy = get_strategy(spec.name, **dict(spec.params))
    state = strategy.initial_state(series.symbol)
    out: dict[int, Signal] = {}
    symbol, interval = series.symbol, series.interval
    columns = zip(
        series.open_time.tolist(),
        series.open.tolist(),
        series.high.tolist(),
        series.low.tolist(),
        series.close.tolist(),
        series.volume.tolist(),
        strict=True,
    )
    for i, (t, o, h, low, c, v) in enumerate(columns):
        state, signal = strategy.on_bar(state, Bar(symbol, interval, t, o, h, low, c, v))
        if signal is not None:
            out[i] = signal
    return out


def all_signals(
    spec: StrategySpec, series: list[BarSeries], workers: int | None = None
) -> list[dict[int, Signal]]:
    """Signals of every series; several series are spread over worker processes."""
    workers = min(len(series), workers or os.cpu_count() or 1)
    if workers <= 1 or len(series) == 1:
        return [series_signals(spec, s) for s in series]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        shipped = pool.map(_portable_signals, [spec] * len(series), series)
        return [{i: Signal(**kwargs) for i, kwargs in part.items()} for part in shipped]


def _portable_signals(spec: StrategySpec, series: BarSeries) -> dict[int, dict[str, Any]]:
    """Worker side: signals as plain constructor arguments (a read-only features mapping
    does not pickle)."""
    out: dict[int, dict[str, Any]] = {}
    for i, signal in series_signals(spec, series).items():
        kwargs = {f.name: getattr(signal, f.name) for f in fields(signal)}
        kwargs["features"] = dict(signal.features)
        out[i] = kwargs
    return out
