"""Has the market moved away from what a model learned, and has its edge decayed?

* **Feature drift.** At training, each feature's distribution is kept as ``bins`` bins
  with edges at the quantiles of its finite training values, as shares of those values
  (:func:`reference`). New values fall into the same bins, and the population-stability
  index ``PSI = Σ (new − ref) · ln(new / ref)`` (shares floored at 1e-4) measures the
  shift: below 0.1 is no real change, 0.1–0.25 moderate, above 0.25 a population the
  model has not seen. Missing values (warm-up, no funding data) are left out: a short
  window has more warm-up, which is not a market change. Calendar features (time of day
  and week, the funding cycle) are not compared: the calendar sets their distribution.
  A feature with no value at all in the new data is reported as missing, not as drift.
* **Decay.** The model's hit rate (the sign of ``p_long − p_short`` against the forward
  return) on new data, against its out-of-sample hit rate from training: a one-sided
  binomial test of "the new hit rate is below the expectation" (:func:`decay_test`) on
  rows one horizon apart, whose outcomes do not overlap (overlapping ones are not
  independent trials and would overstate the evidence).

Both are statistics of feature rows and labels, never money.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
FLOOR = 1e-4
CALENDAR = ("tod_sin", "tod_cos", "dow_sin", "dow_cos", "funding_cycle")


@dataclass(frozen=True, slots=True)
class DriftRules:
    """When a model counts as drifted or decayed."""

    psi_limit: float = 0.25  # any feature above: a population the model has not seen
    decay_p_value: float = 0.01  # the hit rate is significantly below the expectation
    bins: int = 10
    # live: a drifted or decayed model stops entering (REDUCE_ONLY for the model strategy)
    # until another model is promoted; False: an event and a metric only
    stop_entries: bool = True
    live_window_rows: int = 20_000  # live: the last scored rows compared with training
    live_min_rows: int = 2_000  # live: no verdict on fewer rows
    live_check_bars: int = 60  # live: bar times between two verdicts

    def __post_init__(self) -> None:
        if not self.psi_limit > 0:
            raise ValueError(f"psi_limit must be positive, got {self.psi_limit}")
        if not 0 < self.decay_p_value < 1:
            raise ValueError(f"decay_p_value must be in (0, 1), got {self.decay_p_value}")
        if not 2 <= self.bins <= 100:
            raise ValueError(f"bins must be in 2..100, got {self.bins}")
        if not 1 <= self.live_min_rows <= self.live_window_rows:
            raise ValueError(
                f"live_min_rows must be in 1..live_window_rows ({self.live_window_rows}), "
                f"got {self.live_min_rows}"
            )
        if self.live_check_bars < 1:
            raise ValueError(f"live_check_bars must be >= 1, got {self.live_check_bars}")


def reference(
    features: FloatArray, names: Sequence[str], bins: int = 10
) -> dict[str, dict[str, list[float]]]:
    """Per feature but the calendar ones: quantile ``edges`` of its finite training values
    and the ``share`` of them in each bin."""
    out: dict[str, dict[str, list[float]]] = {}
    for k, name in enumerate(names):
        if name in CALENDAR:
            continue
        column = features[:, k]
        finite = column[np.isfinite(column)]
        edges = (
            np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
            if finite.size
            else np.empty(0)
        )
        out[name] = {"edges": edges.tolist(), "share": shares(column, edges).tolist()}
    return out


def shares(column: FloatArray, edges: FloatArray) -> FloatArray:
    """Shares of the finite values of ``column`` in the bins cut at ``edges`` (all zero
    when it has none)."""
    finite = column[np.isfinite(column)]
    counts = np.bincount(
        np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1
    ).astype(np.float64)
    return counts / finite.size if finite.size else counts


def psi(expected: Sequence[float] | FloatArray, actual: Sequence[float] | FloatArray) -> float:
    """Population-stability index of ``actual`` shares against ``expected`` ones."""
    e = np.maximum(np.asarray(expected, np.float64), FLOOR)
    a = np.maximum(np.asarray(actual, np.float64), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def feature_drift(
    ref: Mapping[str, Mapping[str, Sequence[float]]], features: FloatArray, names: Sequence[str]
) -> tuple[dict[str, float], list[str]]:
    """PSI of every referenced feature of the new rows ``features`` (columns ``names``),
    and the features that have no value at all in them (not compared)."""
    index = {name: k for k, name in enumerate(names)}
    out, missing = {}, []
    for name, bins in ref.items():
        if name not in index:
            continue
        column = features[:, index[name]]
        reference_shares = np.asarray(bins["share"], np.float64)
        edges = np.asarray(bins["edges"], np.float64)
        if reference_shares.shape != (len(edges) + 1,) or not np.isfinite(edges).all():
            raise ValueError(f"the training distribution of {name} is malformed")
        if not np.isfinite(column).any() or not reference_shares.sum():
            missing.append(name)
            continue
        out[name] = psi(reference_shares, shares(column, edges))
    return out, missing


def decay_test(hits: int, trials: int, expected: float) -> float:
    """One-sided binomial p-value of ``hits`` in ``trials`` under the expected hit rate
    (H1: the true rate is lower); 1.0 without trials."""
    if trials <= 0 or not 0 < expected < 1:
        return 1.0
    from scipy import stats  # imported on use: it is slow to import

    return float(stats.binomtest(hits, trials, expected, alternative="less").pvalue)


def verdict(
    drift: Mapping[str, float],
    hit_p_value: float,
    rules: DriftRules,
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """Drifted features, decay, and a one-line reason."""
    drifted = sorted((n for n, v in drift.items() if v > rules.psi_limit), key=lambda n: -drift[n])
    decayed = hit_p_value < rules.decay_p_value
    reasons = []
    if drifted:
        shown = ", ".join(f"{n} {drift[n]:.2f}" for n in drifted[:5])
        reasons.append(f"{len(drifted)} feature(s) above PSI {rules.psi_limit}: {shown}")
    if decayed:
        reasons.append(f"hit rate below the out-of-sample expectation (p = {hit_p_value:.3g})")
    worst = max(drift.values(), default=math.nan)
    return {
        "drift": bool(drifted),
        "decay": decayed,
        "drifted_features": drifted,
        "max_psi": worst,
        "missing_features": list(missing),
        "reason": "; ".join(reasons) or "no drift, no decay",
    }
