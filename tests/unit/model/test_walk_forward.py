"""Purged walk-forward splits: the leakage property on random multi-symbol data, a row-by-row
reference of the selection rules, window coverage, the embargo, and every argument check."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from quantum_trader.model.walk_forward import Fold, purged_walk_forward

MINUTE = 60_000


def panel(
    seed: int, stamps: int = 120, symbols: int = 4
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Shuffled rows of several symbols on a shared minute grid with gaps, missing
    symbol-bars and per-row horizons."""
    rng = np.random.default_rng(seed)
    grid = np.cumsum(rng.integers(1, 4, size=stamps)) * MINUTE + 1_700_000_000_000
    times = np.repeat(grid, symbols)
    present = rng.random(times.size) < 0.8
    present[::symbols] = True  # every stamp has at least one row
    times = times[present]
    horizon = rng.integers(0, 6, size=times.size) * MINUTE
    order = rng.permutation(times.size)
    return times[order].astype(np.int64), (times + horizon)[order].astype(np.int64)


def reference(
    times: npt.NDArray[np.int64],
    label_end: npt.NDArray[np.int64],
    fold: Fold,
    earlier: list[Fold],
    embargo_ms: int,
    validation_fraction: float,
) -> tuple[set[int], set[int]]:
    """The train and validation rows of ``fold``, row by row from the rules."""
    start = fold.test_from_ms
    candidates = [
        i
        for i in range(times.size)
        if times[i] < start
        and label_end[i] < start
        and not any(f.test_to_ms < times[i] <= f.test_to_ms + embargo_ms for f in earlier)
    ]
    stamps = sorted({int(times[i]) for i in candidates})
    n_validation = max(1, int(len(stamps) * validation_fraction))
    validation_start = stamps[len(stamps) - n_validation]
    validation = {i for i in candidates if times[i] >= validation_start}
    train = {
        i for i in candidates if times[i] < validation_start and label_end[i] < validation_start
    }
    return train, validation


@pytest.mark.parametrize("seed", range(12))
def test_random_panels_never_leak_and_follow_the_rules(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    times, label_end = panel(seed)
    folds = int(rng.integers(1, 6))
    embargo_ms = int(rng.integers(0, 8)) * MINUTE
    validation_fraction = float(rng.uniform(0.1, 0.4))
    first_train_fraction = float(rng.uniform(0.3, 0.6))
    result = purged_walk_forward(
        times,
        label_end,
        folds=folds,
        embargo_ms=embargo_ms,
        validation_fraction=validation_fraction,
        first_train_fraction=first_train_fraction,
    )
    assert [f.index for f in result] == list(range(folds))

    distinct = np.unique(times)
    n_initial = int(distinct.size * first_train_fraction)
    tested: list[int] = []
    for k, fold in enumerate(result):
        for rows in (fold.train, fold.validation, fold.test):
            assert rows.dtype == np.int64
            assert np.all(np.diff(rows) > 0)  # sorted, no repeats
            assert rows.size > 0
        train, validation, test = set(fold.train), set(fold.validation), set(fold.test)
        assert not (train & validation or train & test or validation & test)

        # Leakage: every train/validation label is known before the first test stamp.
        test_times = times[fold.test]
        learn = np.concatenate((fold.train, fold.validation))
        assert label_end[learn].max() < test_times.min()
        assert label_end[fold.train].max() < times[fold.validation].min()
        assert fold.test_from_ms == test_times.min() and fold.test_to_ms == test_times.max()
        assert isinstance(fold.test_from_ms, int) and isinstance(fold.test_to_ms, int)

        # The test set is every row of the window's stamps.
        window = distinct[(distinct >= fold.test_from_ms) & (distinct <= fold.test_to_ms)]
        assert set(np.flatnonzero(np.isin(times, window))) == test
        tested.extend(window.tolist())

        # Embargo: nothing just after an earlier test window.
        for earlier in result[:k]:
            stamps = times[learn]
            assert not np.any(
                (stamps > earlier.test_to_ms) & (stamps <= earlier.test_to_ms + embargo_ms)
            )

        assert (train, validation) == reference(
            times, label_end, fold, result[:k], embargo_ms, validation_fraction
        )

    # Test windows cover the post-initial stamps exactly once, in order, evenly.
    assert tested == distinct[n_initial:].tolist()
    sizes = [np.unique(times[f.test]).size for f in result]
    assert max(sizes) - min(sizes) <= 1


def test_hand_case_single_symbol() -> None:
    times = np.arange(10, dtype=np.int64) * 10
    label_end = times + 10  # one-bar horizon
    folds = purged_walk_forward(
        times, label_end, folds=2, embargo_ms=10, validation_fraction=0.25, first_train_fraction=0.6
    )
    # Initial stamps 0..50; windows {60, 70} and {80, 90}.
    first, second = folds
    assert (first.test_from_ms, first.test_to_ms) == (60, 70)
    assert first.test.tolist() == [6, 7]
    # Candidates: label_end < 60 → stamps 0..40; validation = last 1 stamp (40);
    # train: label_end < 40 → stamps 0..20 (30 is purged against validation).
    assert first.validation.tolist() == [4]
    assert first.train.tolist() == [0, 1, 2]
    # Fold 2: label_end < 80 → stamps 0..60 (the embargo (70, 80] holds no candidate);
    # validation = int(7 × 0.25) = 1 stamp (60); train: label_end < 60 → stamps 0..40.
    assert (second.test_from_ms, second.test_to_ms) == (80, 90)
    assert second.validation.tolist() == [6]
    assert second.train.tolist() == [0, 1, 2, 3, 4]


def test_embargo_removes_rows_after_an_earlier_window() -> None:
    times = np.arange(40, dtype=np.int64)
    label_end = times.copy()  # labels known at the bar: no purge
    plain = purged_walk_forward(times, label_end, folds=3, embargo_ms=0, first_train_fraction=0.5)
    embargoed = purged_walk_forward(
        times, label_end, folds=3, embargo_ms=3, first_train_fraction=0.5
    )
    end = embargoed[0].test_to_ms  # window 0 is stamps 20..25, window 1 26..32
    learn_plain = np.concatenate((plain[2].train, plain[2].validation))
    learn = np.concatenate((embargoed[2].train, embargoed[2].validation))
    after = list(range(end + 1, end + 4))
    assert set(after) <= set(times[learn_plain].tolist())
    assert not set(after) & set(times[learn].tolist())
    assert set(times[learn_plain].tolist()) - set(times[learn].tolist()) == set(after)


def test_unsorted_shared_stamps_keep_whole_stamps_together() -> None:
    times, label_end = panel(7, stamps=60, symbols=5)
    for fold in purged_walk_forward(times, label_end, folds=3, embargo_ms=MINUTE):
        for rows in (fold.train, fold.validation):
            # A stamp in the learning set is never also in the test set.
            assert not set(times[rows].tolist()) & set(times[fold.test].tolist())


GOOD_TIMES = np.arange(50, dtype=np.int64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"folds": 0, "embargo_ms": 0}, "folds must be an integer >= 1"),
        ({"folds": 2.0, "embargo_ms": 0}, "folds must be an integer >= 1"),
        ({"folds": 2, "embargo_ms": -1}, "embargo_ms must be >= 0"),
        ({"folds": 2, "embargo_ms": 1.5}, "embargo_ms must be an integer"),
        ({"folds": 2, "embargo_ms": 0, "validation_fraction": 0.0}, "validation_fraction"),
        ({"folds": 2, "embargo_ms": 0, "validation_fraction": 1.0}, "validation_fraction"),
        ({"folds": 2, "embargo_ms": 0, "validation_fraction": float("nan")}, "validation_fraction"),
        ({"folds": 2, "embargo_ms": 0, "first_train_fraction": 0.0}, "first_train_fraction"),
        ({"folds": 2, "embargo_ms": 0, "first_train_fraction": 1.2}, "first_train_fraction"),
        ({"folds": 40, "embargo_ms": 0}, "times has too few distinct stamps"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        purged_walk_forward(GOOD_TIMES, GOOD_TIMES, **kwargs)  # type: ignore[arg-type]


def test_bad_arrays() -> None:
    with pytest.raises(ValueError, match="same length"):
        purged_walk_forward(GOOD_TIMES, GOOD_TIMES[:-1], folds=2, embargo_ms=0)
    with pytest.raises(ValueError, match="label_end must not precede times"):
        purged_walk_forward(GOOD_TIMES, GOOD_TIMES - 1, folds=2, embargo_ms=0)
    with pytest.raises(ValueError, match="times must hold integer"):
        purged_walk_forward(GOOD_TIMES.astype(float), GOOD_TIMES, folds=2, embargo_ms=0)
    with pytest.raises(ValueError, match="label_end must be one-dimensional"):
        purged_walk_forward(GOOD_TIMES, GOOD_TIMES.reshape(5, 10), folds=2, embargo_ms=0)
    with pytest.raises(ValueError, match="times has too few distinct stamps"):
        purged_walk_forward(np.zeros(0, dtype=np.int64), [], folds=1, embargo_ms=0)


def test_long_horizons_leave_no_training_rows() -> None:
    times = np.arange(20, dtype=np.int64)
    # Horizons so long that nothing is known before the validation stamps start.
    with pytest.raises(ValueError, match="too few distinct stamps before fold 0"):
        purged_walk_forward(times, times + 7, folds=2, embargo_ms=0, first_train_fraction=0.5)
    with pytest.raises(ValueError, match="train set is empty"):
        purged_walk_forward(times, times + 3, folds=2, embargo_ms=0, first_train_fraction=0.3)
