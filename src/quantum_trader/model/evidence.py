"""Out-of-sample signal-quality and significance statistics.

Everything here scores predictions the model made on rows it never saw (walk-forward test
folds) and answers two questions a researcher asks before a signal trades:

* *Is it informative?* — the information coefficient (``ic``: Pearson correlation of the
  score with the forward return; ``rank_ic``: Spearman, robust to fat tails), the hit
  rate (sign agreement), and, for probabilities, the Brier score and a reliability table
  (predicted vs observed win rate per probability bin).
* *Could it be luck?* — a one-sided t-test on the per-fold ICs (each fold is one
  out-of-sample period, so the folds, not the rows, are the independent draws), and the
  Sharpe-ratio tests of Bailey & López de Prado: the probabilistic Sharpe ratio (PSR,
  the probability that the true Sharpe exceeds a benchmark given the sample's length,
  skewness and kurtosis) and the deflated Sharpe ratio (DSR, the PSR against the Sharpe
  the best of ``N`` unskilled trials would show by chance — the multiple-testing haircut).

Inputs are array-likes; rows where any paired input is NaN (or infinite) are dropped
pairwise. Outputs are plain Python floats (lists/dicts of them), so a research report
can ``json.dumps`` them directly. A statistic that is undefined on the data is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
EULER_GAMMA = 0.5772156649015329
NAN = math.nan


_NORMAL = NormalDist()


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, ties sharing their average rank (``scipy.stats.rankdata``)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.concatenate((starts[1:], [len(values)]))
    average = (starts + ends + 1) / 2.0  # mean of the 1-based positions start+1 .. end
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _paired(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"inputs must have the same length, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _finite(a: npt.ArrayLike) -> FloatArray:
    x = np.asarray(a, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def _pearson(x: FloatArray, y: FloatArray) -> float:
    if x.size < 3:
        return NAN
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    if sxx <= 0.0 or syy <= 0.0:
        return NAN
    return float(np.clip((dx @ dy) / math.sqrt(sxx * syy), -1.0, 1.0))


def ic(score: npt.ArrayLike, forward: npt.ArrayLike) -> float:
    """Pearson correlation of score and forward return (NaN: < 3 rows or no variance)."""
    return _pearson(*_paired(score, forward))


def rank_ic(score: npt.ArrayLike, forward: npt.ArrayLike) -> float:
    """Spearman correlation: Pearson on average ranks (ties share their mean rank)."""
    x, y = _paired(score, forward)
    if x.size < 3:
        return NAN
    return _pearson(
        _average_ranks(x),
        _average_ranks(y),
    )


def hit_rate(score: npt.ArrayLike, forward: npt.ArrayLike) -> float:
    """Share of rows with a non-zero score and a non-zero forward return whose signs
    agree (NaN if there are none)."""
    x, y = _paired(score, forward)
    active = (x != 0) & (y != 0)
    if not active.any():
        return NAN
    return float(np.mean(np.sign(x[active]) == np.sign(y[active])))


def brier(prob: npt.ArrayLike, outcome: npt.ArrayLike) -> float:
    """Mean squared error of probabilities against 0/1 outcomes (NaN if no rows)."""
    p, o = _paired(prob, outcome)
    if p.size == 0:
        return NAN
    return float(np.mean((p - o) ** 2))


def reliability(
    prob: npt.ArrayLike, outcome: npt.ArrayLike, bins: int = 10
) -> list[dict[str, Any]]:
    """Calibration table on ``bins`` equal-width probability bins over [0, 1].

    Bin ``i`` is ``[i/bins, (i+1)/bins)`` (the last bin also takes 1.0). Each non-empty
    bin gives ``bin_from``, ``bin_to``, ``rows`` (int), ``mean_prob`` (mean predicted) and
    ``observed`` (mean outcome); empty bins are omitted.
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    bins = int(bins)
    p, o = _paired(prob, outcome)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("prob must lie in [0, 1]")
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    rows = np.bincount(index, minlength=bins)
    prob_sum = np.bincount(index, weights=p, minlength=bins)
    outcome_sum = np.bincount(index, weights=o, minlength=bins)
    return [
        {
            "bin_from": i / bins,
            "bin_to": (i + 1) / bins,
            "rows": int(rows[i]),
            "mean_prob": float(prob_sum[i] / rows[i]),
            "observed": float(outcome_sum[i] / rows[i]),
        }
        for i in range(bins)
        if rows[i] > 0
    ]


def fold_ic_test(fold_ics: Sequence[float]) -> dict[str, float]:
    """One-sided t-test that the mean per-fold IC is positive.

    With ``K`` folds: ``mean``, ``std`` (ddof=1), ``icir = mean / std``,
    ``t_stat = mean / (std / sqrt(K))`` and ``p_value = P(T_{K-1} >= t_stat)`` (Student
    t, H1: mean > 0). With fewer than two folds or zero spread there is no evidence:
    ``icir`` and ``t_stat`` are NaN and ``p_value`` is 1.0. ``folds`` is ``K`` (an int)
    (non-finite ICs are dropped first).
    """
    x = _finite(list(fold_ics))
    k = x.size
    mean = float(x.mean()) if k else NAN
    std = float(x.std(ddof=1)) if k >= 2 else NAN
    out = {"mean": mean, "std": std, "icir": NAN, "t_stat": NAN, "p_value": 1.0, "folds": k}
    if k >= 2 and std > 0.0:
        t_stat = mean / (std / math.sqrt(k))
        out["icir"] = mean / std
        out["t_stat"] = t_stat
        from scipy import stats  # imported on use: it is slow to import

        out["p_value"] = float(stats.t.sf(t_stat, k - 1))
    return out


def sharpe(returns: npt.ArrayLike, periods_per_year: float) -> float:
    """Annualised Sharpe ratio ``mean / std · sqrt(periods_per_year)`` (std ddof=1; NaN
    with fewer than two returns or zero spread). Returns are per-period excess returns."""
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year}")
    r = _finite(returns)
    if r.size < 2:
        return NAN
    std = float(r.std(ddof=1))
    if std <= 0.0:
        return NAN
    return float(r.mean() / std * math.sqrt(periods_per_year))


def probabilistic_sharpe(returns: npt.ArrayLike, benchmark: float = 0.0) -> float:
    """Probabilistic Sharpe ratio (Bailey & López de Prado, 2012).

    With ``SR`` the per-period (non-annualised) sample Sharpe ratio (std ddof=1), ``T``
    the number of returns, ``γ3`` their skewness and ``γ4`` their (non-excess) kurtosis
    (sample moments)::

        PSR(SR*) = Φ( (SR − SR*) · sqrt(T − 1) / sqrt(1 − γ3·SR + (γ4 − 1)/4 · SR²) )

    the probability that the true Sharpe exceeds ``benchmark`` = ``SR*`` (per period, the
    same units as ``SR``). NaN with fewer than two returns or zero spread.
    """
    r = _finite(returns)
    t = r.size
    if t < 2:
        return NAN
    std = float(r.std(ddof=1))
    if std <= 0.0:
        return NAN
    sr = float(r.mean()) / std
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    skew = float(np.mean(centred**3)) / m2**1.5
    kurt = float(np.mean(centred**4)) / m2**2
    return sharpe_confidence(sr, t, skew, kurt, benchmark)


def sharpe_confidence(
    sr: float, observations: int, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """:func:`probabilistic_sharpe` from the moments themselves (per-period ``sr``, the
    number of returns, their skewness and non-excess kurtosis): how a published example
    is checked. NaN where the variance term is not positive."""
    variance = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if not variance > 0.0 or observations < 2:
        return NAN
    z = (sr - benchmark) * math.sqrt(observations - 1) / math.sqrt(variance)
    return float(_NORMAL.cdf(z))


def expected_max_sharpe(trials: int, trial_sharpe_variance: float) -> float:
    """Expected maximum Sharpe of ``N`` independent unskilled trials (true Sharpe 0)::

        E[max SR] = sqrt(V) · ((1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N·e)))

    ``V`` the variance of the trials' Sharpe ratios, ``γ`` the Euler–Mascheroni constant;
    0 for a single trial.
    """
    if isinstance(trials, bool) or not isinstance(trials, int | np.integer) or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    if not (math.isfinite(trial_sharpe_variance) and trial_sharpe_variance >= 0):
        raise ValueError(
            f"trial_sharpe_variance must be a non-negative number, got {trial_sharpe_variance}"
        )
    if trials == 1:
        return 0.0
    quantiles = (1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / trials) + EULER_GAMMA * (
        _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    )
    return float(math.sqrt(trial_sharpe_variance) * quantiles)


def deflated_sharpe(returns: npt.ArrayLike, trials: int, trial_sharpe_variance: float) -> float:
    """Deflated Sharpe ratio (Bailey & López de Prado, 2014): the PSR of ``returns``
    against :func:`expected_max_sharpe` of ``trials`` trials whose per-period Sharpe
    ratios have variance ``trial_sharpe_variance``::

        DSR = PSR(SR* = E[max SR])

    The chance that the selected strategy's true Sharpe beats what the best of ``N``
    unskilled trials would show. With one trial it is ``PSR(0)``.
    """
    return probabilistic_sharpe(returns, expected_max_sharpe(trials, trial_sharpe_variance))
