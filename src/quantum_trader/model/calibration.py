"""Probability calibration fitted out of sample: isotonic regression.

A classifier's score ranks trades but is rarely a probability: a LightGBM output of 0.7
need not win 70% of the time. Sizing and expected-value filters need the probability, so
the score is mapped through a monotone, non-decreasing function fitted on rows the model
never trained on (the validation set of a walk-forward fold), never on its own training
rows, whose scores are over-confident.

The fit is the weighted isotonic regression of the 0/1 outcome on the score, solved by
pool-adjacent-violators (PAV): rows with equal scores are pooled first, then adjacent
groups whose win rates decrease are merged until the rates are non-decreasing. Each
final block is a step at its win rate; between blocks the map is linear (knots at the
first and last score of each block) and beyond the fitted range it is flat, so an
unseen extreme score gets the nearest fitted probability rather than an extrapolation.

Only the knots are kept — at most two per block, less the redundant ones (duplicates,
knots collinear with their neighbours, end knots level with the next) — so the
calibrator is small and serialisable. On noisy 0/1 outcomes the block count grows
roughly like ``n^(1/3)``: a few hundred knots for a million rows. (An adversarial
ordering can reach ``O(n^(2/3))`` blocks, since the block rates are distinct fractions.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_SWITCH = 0.97  # leave the vectorised passes once a pass keeps > 97% of the blocks


def _vector_passes(
    sums: FloatArray, weights: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Merge every chain of adjacent violators at once, while that shrinks the problem.

    Adjacent violating groups share a level in the isotonic solution, so each pass is
    exact. Returns block starts (into the input) with their weighted sums and weights.
    """
    starts = np.arange(sums.size, dtype=np.int64)
    while sums.size > 1:
        means = sums / weights
        violation = means[:-1] > means[1:]
        if not violation.any():
            break
        keep = np.concatenate(([True], ~violation))
        heads = np.flatnonzero(keep)
        shrink = heads.size / sums.size
        starts = starts[heads]
        sums = np.add.reduceat(sums, heads)
        weights = np.add.reduceat(weights, heads)
        if shrink > _SWITCH:
            break
    return starts, sums, weights


def _stack_pav(sums: FloatArray, weights: FloatArray) -> tuple[IntArray, FloatArray]:
    """Classic stack PAV over groups; returns block heads (group positions) and levels."""
    heads: list[int] = []
    block_sum: list[float] = []
    block_weight: list[float] = []
    for i, (s, w) in enumerate(zip(sums.tolist(), weights.tolist(), strict=True)):
        heads.append(i)
        block_sum.append(s)
        block_weight.append(w)
        while (
            len(heads) > 1 and block_sum[-2] / block_weight[-2] > block_sum[-1] / block_weight[-1]
        ):
            s_top, w_top = block_sum.pop(), block_weight.pop()
            heads.pop()
            block_sum[-1] += s_top
            block_weight[-1] += w_top
    levels = np.asarray(block_sum, dtype=np.float64) / np.asarray(block_weight, dtype=np.float64)
    return np.asarray(heads, dtype=np.int64), levels


def pav(sums: FloatArray, weights: FloatArray) -> tuple[IntArray, FloatArray]:
    """Isotonic (non-decreasing) weighted regression of group means ``sums / weights``.

    Returns the start position of each final block (ascending) and its level.
    """
    starts, block_sums, block_weights = _vector_passes(sums, weights)
    heads, levels = _stack_pav(block_sums, block_weights)
    return starts[heads], levels


def _prune(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Drop knots that lie on the segment between their neighbours, and end knots level
    with their neighbour (the map is flat beyond the ends): the function is unchanged."""
    while x.size > 1 and y[0] == y[1]:
        x, y = x[1:], y[1:]
    while x.size > 1 and y[-1] == y[-2]:
        x, y = x[:-1], y[:-1]
    if x.size < 3:
        return x, y
    dx0, dy0 = x[1:-1] - x[:-2], y[1:-1] - y[:-2]
    dx1, dy1 = x[2:] - x[1:-1], y[2:] - y[1:-1]
    cross = dy0 * dx1 - dy1 * dx0
    scale = np.abs(dy0 * dx1) + np.abs(dy1 * dx0)
    keep = np.concatenate(([True], np.abs(cross) > 1e-12 * scale, [True]))
    return x[keep], y[keep]


@dataclass(frozen=True, slots=True)
class Isotonic:
    """A monotone score → probability map, stored as knots (``x`` strictly increasing,
    ``y`` non-decreasing in [0, 1]); linear between knots, flat beyond them."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(
                f"x and y must have the same length, got {len(self.x)} and {len(self.y)}"
            )
        if not self.x:
            raise ValueError("an isotonic calibrator needs at least one knot")
        x = np.asarray(self.x, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError("knots must be finite numbers")
        if np.any(np.diff(x) <= 0):
            raise ValueError("x must be strictly increasing")
        if np.any(np.diff(y) < 0):
            raise ValueError("y must be non-decreasing")
        if np.any((y < 0) | (y > 1)):
            raise ValueError("y must lie in [0, 1]")

    @classmethod
    def fit(
        cls,
        score: npt.ArrayLike,
        outcome: npt.ArrayLike,
        weight: npt.ArrayLike | None = None,
    ) -> Isotonic:
        """Fit on out-of-sample ``score`` and 0/1 ``outcome`` (optional non-negative row
        ``weight``; zero-weight rows are ignored). Needs at least two rows and both
        outcomes present."""
        s = np.asarray(score, dtype=np.float64)
        o = np.asarray(outcome, dtype=np.float64)
        w = np.ones_like(s) if weight is None else np.asarray(weight, dtype=np.float64)
        if s.ndim != 1 or s.shape != o.shape or s.shape != w.shape:
            raise ValueError(
                f"score, outcome and weight must be 1-D of one length, got shapes "
                f"{s.shape}, {o.shape}, {w.shape}"
            )
        if not np.all(np.isfinite(s)):
            raise ValueError("score must be finite")
        if not np.all((o == 0) | (o == 1)):
            raise ValueError("outcome must be 0 or 1")
        if not np.all(np.isfinite(w) & (w >= 0)):
            raise ValueError("weight must be finite and non-negative")
        used = w > 0
        s, o, w = s[used], o[used], w[used]
        if s.size < 2:
            raise ValueError(f"need at least 2 rows with positive weight, got {s.size}")
        if not (np.any(o == 1) and np.any(o == 0)):
            raise ValueError("need both outcomes (0 and 1) present to calibrate")

        order = np.argsort(s)
        s, o, w = s[order], o[order], w[order]
        first = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))  # ties pooled
        groups = s[first]
        sums = np.add.reduceat(w * o, first)
        weights = np.add.reduceat(w, first)
        heads, levels = pav(sums, weights)
        tails = np.concatenate((heads[1:], [groups.size])) - 1
        x = np.column_stack((groups[heads], groups[tails])).ravel()
        y = np.repeat(np.clip(levels, 0.0, 1.0), 2)
        distinct = np.concatenate(([True], x[1:] != x[:-1]))  # one-group blocks
        x, y = _prune(x[distinct], y[distinct])
        return cls(x=tuple(x.tolist()), y=tuple(y.tolist()))

    def apply(self, score: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities for ``score`` (same shape; NaN stays NaN)."""
        s = np.asarray(score, dtype=np.float64)
        x = np.asarray(self.x, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        return np.clip(np.interp(s, x, y), 0.0, 1.0)

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Isotonic:
        """Rebuild from :meth:`to_dict` output; ``ValueError`` if the knots are invalid."""
        if not isinstance(d, Mapping) or set(d) != {"x", "y"}:
            raise ValueError("an isotonic calibrator dict needs exactly the keys 'x' and 'y'")
        x, y = d["x"], d["y"]
        if not (isinstance(x, list | tuple) and isinstance(y, list | tuple)):
            raise ValueError("'x' and 'y' must be lists of numbers")
        try:
            xs = tuple(float(v) for v in x if not isinstance(v, bool | str))
            ys = tuple(float(v) for v in y if not isinstance(v, bool | str))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"'x' and 'y' must be lists of numbers: {exc}") from None
        if len(xs) != len(x) or len(ys) != len(y):
            raise ValueError("'x' and 'y' must be lists of numbers")
        return cls(x=xs, y=ys)
