"""The study's time split: K search folds, then a holdout no trial ever reads.

The market's common span (from the latest first bar to the earliest last bar of its
symbols) starts with ``history`` bars every backtest warms up on. The tradable rest is
cut in time order: the first ``1 − holdout`` of it into ``folds`` equal search folds,
the last ``holdout`` of it kept back. A trial backtests each search fold separately,
from the ``history`` bars before it (so every fold starts flat, on warm indicators); the
chosen parameters are backtested once on the holdout, with its own history — bars of
the last fold, the past. No bar at or after the holdout's start is in any trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from quantum_trader.data.bars import BarSeries


@dataclass(frozen=True, slots=True)
class Window:
    """Bars with ``start_ms <= open_time < end_ms`` are traded; the ``history`` bars
    before ``start_ms`` only warm up."""

    start_ms: int
    end_ms: int

    def bars(self, interval_ms: int) -> int:
        return (self.end_ms - self.start_ms) // interval_ms


@dataclass(frozen=True, slots=True)
class Split:
    folds: tuple[Window, ...]
    holdout: Window | None
    interval_ms: int
    history: int

    def series_for(self, window: Window, series: Sequence[BarSeries]) -> list[BarSeries]:
        """Each symbol's bars a backtest of ``window`` reads: its history, then it."""
        lo = window.start_ms - self.history * self.interval_ms
        return [s.between(lo, window.end_ms - 1) for s in series]


def split_market(
    series: Sequence[BarSeries], history: int, folds: int, holdout: float, min_fold_bars: int
) -> Split:
    """The split of ``series`` (ValueError naming the option to change when it cannot)."""
    if folds < 1:
        raise ValueError(f"--folds: at least 1, got {folds}")
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"--holdout: a fraction in [0, 1), got {holdout}")
    interval = series[0].interval_ms
    first = max(int(s.open_time[0]) for s in series)
    end = min(int(s.open_time[-1]) for s in series) + interval
    start = first + history * interval
    tradable = (end - start) // interval
    kept = round(tradable * holdout)
    per_fold = (tradable - kept) // folds
    if per_fold < min_fold_bars:
        raise ValueError(
            f"--folds: {tradable} tradable bars after {history} history bars make folds of "
            f"{max(per_fold, 0)} bars; each needs {min_fold_bars}: use fewer folds, a smaller "
            "--holdout or more data"
        )
    windows = tuple(
        Window(start + k * per_fold * interval, start + (k + 1) * per_fold * interval)
        for k in range(folds)
    )
    search_end = windows[-1].end_ms
    held = Window(search_end, end) if kept else None
    return Split(windows, held, interval, history)
