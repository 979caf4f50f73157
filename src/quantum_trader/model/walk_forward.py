"""Purged walk-forward splits for a pooled, multi-symbol dataset.

A research dataset here has one row per (symbol, bar): many symbols share the same bar
stamp, and a row's label is only known ``horizon`` later, at ``label_end``. A model is
honest only if nothing it was fitted or tuned on could have seen the outcome of a row it
is scored on. So the split works on *time*, never on rows:

* The distinct stamps, sorted, are the clock. The first ``first_train_fraction`` of them
  is history only (never tested); the rest is cut into ``folds`` contiguous test windows
  with (as near as possible) the same number of distinct stamps each. All rows of a
  stamp — every symbol — fall in the same window, so no symbol's same-bar information
  leaks across the split.
* Fold ``k`` is tested on the rows of window ``k`` and may learn only from rows that are
  both stamped before the window starts *and* whose label is known before it starts
  (``label_end < start``: the purge, which drops the rows whose horizon overlaps the
  test window).
* Rows stamped just after an earlier test window ``j`` — within ``embargo_ms`` of its
  last stamp — are dropped too (the embargo): serially correlated features right after a
  scored period would otherwise carry that period's information into training.
* The last ``validation_fraction`` of the remaining stamps is the validation set (early
  stopping, calibration, model choice); the train set is what precedes it, purged
  against the validation start the same way. So train → validation → test is a strict,
  leak-free chain: every train label is known before validation starts and every
  train/validation label is known before the test window starts.

Windows expand: fold ``k`` trains on everything allowed before it (an anchored walk
forward). Index arrays are row positions in the caller's arrays, sorted ascending.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class Fold:
    """One walk-forward step: row indices per role and the test window's stamps."""

    index: int
    train: IntArray
    validation: IntArray
    test: IntArray
    test_from_ms: int  # stamp of the first test row (inclusive)
    test_to_ms: int  # stamp of the last test row (inclusive)


class FoldLayoutError(ValueError):
    """The bars are too few for the folds asked for (a fact of the data, not a bug)."""


def _as_stamps(values: npt.ArrayLike, name: str) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer millisecond stamps, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _check_fraction(value: float, name: str) -> None:
    if not (np.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")


def _rows(mask: BoolArray) -> IntArray:
    return np.flatnonzero(mask).astype(np.int64, copy=False)


def purged_walk_forward(
    times: npt.ArrayLike,
    label_end: npt.ArrayLike,
    *,
    folds: int,
    embargo_ms: int,
    validation_fraction: float = 0.2,
    first_train_fraction: float = 0.4,
) -> list[Fold]:
    """Split rows into ``folds`` purged, embargoed walk-forward folds (see the module doc).

    ``times`` is each row's bar stamp (int ms; rows of several symbols share stamps and
    need not be sorted), ``label_end`` the stamp at which its label becomes known
    (``times + horizon``; never before ``times``). Raises ``ValueError`` on bad arguments
    or when the data has too few distinct stamps for every fold to get a test stamp and
    non-empty train and validation sets.
    """
    if isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 1:
        raise ValueError(f"folds must be an integer >= 1, got {folds!r}")
    if isinstance(embargo_ms, bool) or not isinstance(embargo_ms, int | np.integer):
        raise ValueError(f"embargo_ms must be an integer number of ms, got {embargo_ms!r}")
    if embargo_ms < 0:
        raise ValueError(f"embargo_ms must be >= 0, got {embargo_ms}")
    _check_fraction(validation_fraction, "validation_fraction")
    _check_fraction(first_train_fraction, "first_train_fraction")
    stamps = _as_stamps(times, "times")
    known = _as_stamps(label_end, "label_end")
    if stamps.shape != known.shape:
        raise ValueError(
            f"times and label_end must have the same length, got {stamps.size} and {known.size}"
        )
    if np.any(known < stamps):
        raise ValueError("label_end must not precede times (a label is known after its bar)")

    distinct = np.unique(stamps)
    n_initial = int(distinct.size * first_train_fraction)
    n_tested = distinct.size - n_initial
    if n_initial < 2 or n_tested < folds:
        raise FoldLayoutError(
            f"times has too few distinct stamps ({distinct.size}) for {folds} folds with "
            f"first_train_fraction={first_train_fraction}: need at least 2 initial training "
            f"stamps and one test stamp per fold"
        )
    bounds = n_initial + (n_tested * np.arange(folds + 1, dtype=np.int64)) // folds

    embargoed = np.zeros(stamps.size, dtype=np.bool_)
    out: list[Fold] = []
    for k in range(folds):
        start = int(distinct[bounds[k]])
        end = int(distinct[bounds[k + 1] - 1])
        test = (stamps >= start) & (stamps <= end)
        candidate = (stamps < start) & (known < start) & ~embargoed
        candidate_stamps = np.unique(stamps[candidate])
        n_validation = max(1, int(candidate_stamps.size * validation_fraction))
        if candidate_stamps.size - n_validation < 1:
            raise FoldLayoutError(
                f"times has too few distinct stamps before fold {k} "
                f"({candidate_stamps.size} after purge and embargo) to split into train "
                f"and validation with validation_fraction={validation_fraction}"
            )
        validation_start = int(candidate_stamps[candidate_stamps.size - n_validation])
        validation = candidate & (stamps >= validation_start)
        train = candidate & (stamps < validation_start) & (known < validation_start)
        if not train.any():
            raise FoldLayoutError(
                f"times has too few distinct stamps before fold {k}: the train set is empty "
                f"after purging against the validation start {validation_start} "
                f"(horizons too long for the history; lower folds or first_train_fraction)"
            )
        out.append(
            Fold(
                index=k,
                train=_rows(train),
                validation=_rows(validation),
                test=_rows(test),
                test_from_ms=start,
                test_to_ms=end,
            )
        )
        embargoed |= (stamps > end) & (stamps <= end + embargo_ms)
    return out
