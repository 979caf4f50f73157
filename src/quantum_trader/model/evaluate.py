"""Walk-forward evaluation: every fold fitted on its past, scored on its future.

For each purged walk-forward fold (:mod:`quantum_trader.model.walk_forward`) both heads
are fitted on the fold's train rows (early stopping and calibration on its validation
rows) and score the fold's test rows, which no part of the fit has seen. The score of a
row is ``p_long − p_short``: positive when the model favours a LONG.

Signal quality, per fold and over all out-of-sample rows: the IC and rank IC of the
score against the forward return, the hit rate (the score's sign against the forward
return's), the Brier score of the calibrated probabilities against the barrier outcomes
and (overall) a reliability table of the long head. The fold ICs give the ICIR and a
one-sided t-test of "mean IC > 0" (:func:`quantum_trader.model.evidence.fold_ic_test`).
The same metrics on each fold's own training rows are the in-sample reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from quantum_trader.data.bars import FloatArray, interval_ms
from quantum_trader.model import evidence
from quantum_trader.model.dataset import Dataset
from quantum_trader.model.scorer import ModelScorer, WindowScorer
from quantum_trader.model.train import Fit, TrainConfig, fit_heads, thinned
from quantum_trader.model.walk_forward import purged_walk_forward

Rows = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class FoldResult:
    index: int
    test_from_ms: int
    test_to_ms: int
    train_rows: int
    validation_rows: int
    test_rows: Rows
    fit: Fit
    oos: dict[str, Any]
    in_sample: dict[str, Any]


@dataclass(frozen=True, slots=True, eq=False)
class WalkForward:
    folds: tuple[FoldResult, ...]
    rows: Rows  # every out-of-sample row, in order
    p_long: FloatArray  # calibrated, at ``rows``
    p_short: FloatArray

    def scorer(self) -> WindowScorer:
        """Each test window scored by its own fold's model: out of sample everywhere."""
        names = self.folds[0].fit.scorer.names
        return WindowScorer(
            names, tuple((f.test_from_ms, f.test_to_ms, f.fit.scorer) for f in self.folds)
        )

    @property
    def from_ms(self) -> int:
        return self.folds[0].test_from_ms

    @property
    def to_ms(self) -> int:
        return self.folds[-1].test_to_ms


def quality(data: Dataset, rows: Rows, p_long: FloatArray, p_short: FloatArray) -> dict[str, Any]:
    """Signal-quality metrics of calibrated probabilities on ``rows`` of ``data``."""
    score = p_long - p_short
    forward = data.forward_return[rows]
    briers = [
        evidence.brier(p_long, data.long_won[rows]),
        evidence.brier(p_short, data.short_won[rows]),
    ]
    return {
        "ic": evidence.ic(score, forward),
        "rank_ic": evidence.rank_ic(score, forward),
        "hit_rate": evidence.hit_rate(score, forward),
        "brier": float(np.mean(briers)),
        "rows": len(rows),
    }


def scored(model: ModelScorer, data: Dataset, rows: Rows) -> tuple[FloatArray, FloatArray]:
    return model.probabilities(data.features[rows], data.time[rows])


def summarise(per_fold: list[dict[str, Any]], pooled: dict[str, Any]) -> dict[str, Any]:
    """Pooled metrics plus the fold-IC test (ICIR, t-stat, p-value)."""
    test = evidence.fold_ic_test([f["ic"] for f in per_fold])
    return {
        **pooled,
        "icir": test["icir"],
        "ic_t_stat": test["t_stat"],
        "ic_p_value": test["p_value"],
        "fold_ic_mean": test["mean"],
        "folds": len(per_fold),
    }


def walk_forward(
    data: Dataset, config: TrainConfig, on_fold: Callable[[int, int], None] | None = None
) -> WalkForward:
    """Fit and score every fold (``on_fold(done, total)`` after each)."""
    embargo = data.barrier.horizon_bars if config.embargo_bars is None else config.embargo_bars
    folds = purged_walk_forward(
        data.time,
        data.label_end,
        folds=config.folds,
        embargo_ms=embargo * interval_ms(data.interval),
        validation_fraction=config.validation_fraction,
        first_train_fraction=config.first_train_fraction,
    )
    results: list[FoldResult] = []
    for fold in folds:
        fit = fit_heads(data, fold.train, fold.validation, config)
        p_long, p_short = scored(fit.scorer, data, fold.test)
        train = thinned(data, fold.train, config.sample_every)
        in_long, in_short = scored(fit.scorer, data, train)
        results.append(
            FoldResult(
                fold.index,
                fold.test_from_ms,
                fold.test_to_ms,
                len(train),
                len(fold.validation),
                fold.test,
                fit,
                quality(data, fold.test, p_long, p_short),
                quality(data, train, in_long, in_short),
            )
        )
        if on_fold is not None:
            on_fold(len(results), len(folds))
    rows = np.concatenate([f.test_rows for f in results])
    probabilities = [scored(f.fit.scorer, data, f.test_rows) for f in results]
    p_long = np.concatenate([p for p, _ in probabilities])
    p_short = np.concatenate([p for _, p in probabilities])
    return WalkForward(tuple(results), rows, p_long, p_short)


def report(data: Dataset, result: WalkForward) -> tuple[dict[str, Any], dict[str, Any]]:
    """(out-of-sample, in-sample) signal-quality summaries of a walk-forward run."""
    oos = summarise(
        [f.oos for f in result.folds], quality(data, result.rows, result.p_long, result.p_short)
    )
    oos["reliability"] = evidence.reliability(result.p_long, data.long_won[result.rows])
    in_sample = summarise(
        [f.in_sample for f in result.folds],
        {
            k: float(np.mean([f.in_sample[k] for f in result.folds]))
            for k in ("ic", "rank_ic", "hit_rate", "brier")
        },
    )
    return oos, in_sample


def final_fit(data: Dataset, config: TrainConfig) -> Fit:
    """The model to serve: fitted on every row but the last validation window (purged),
    which stops and calibrates it."""
    stamps = np.unique(data.time)
    start = stamps[int(len(stamps) * (1 - config.validation_fraction))]
    validation = np.flatnonzero(data.time >= start)
    train = np.flatnonzero((data.time < start) & (data.label_end < start))
    return fit_heads(data, train, validation, config)
