"""The building blocks: every kernel and elementwise operation gives the same result in
its column form and its bar-by-bar form, edge cases included, and the indicators follow
the conventions of the strategies' own (``strategies/vector.py``)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from quantum_trader.features import compute
from quantum_trader.features.kernels import KERNELS
from quantum_trader.features.ops import ELEMENTWISE, quiet
from quantum_trader.strategies import vector
from tests.unit.features.samples import bars, with_gaps

NAN = math.nan
SPECIAL = (-math.inf, -2.0, -1.0, -0.5, -0.0, 0.0, 1e-300, 0.5, 1.0, 2.0, 1e300, math.inf, NAN)
PARAMS = {"mod": [(7.0,), (86_400_000.0,)], "div_or": [(0.5,), (NAN,)]}


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def column_with_holes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(100.0, 5.0, n)
    x[: min(n, 3)] = NAN  # an upstream warm-up
    if n > 40:
        x[20:23] = NAN
        x[rng.integers(25, n, 3)] = NAN
    return x


@pytest.mark.parametrize("op", sorted(KERNELS))
def test_each_kernel_gives_the_same_bits_over_a_column_and_bar_by_bar(op: str) -> None:
    kernel = KERNELS[op]
    for n, param in itertools.product((0, 1, 4, 60, 400), (1, 2, 5, 17)):
        x = column_with_holes(n, seed=n + param)
        tracker = kernel.tracker(param)
        stepped = np.array([tracker.step(v) for v in x.tolist()], dtype=np.float64)
        assert same(kernel.vector(x, param), stepped), (op, n, param)


@pytest.mark.parametrize("op", sorted(ELEMENTWISE))
def test_each_operation_agrees_on_edge_cases_in_both_forms(op: str) -> None:
    spec = ELEMENTWISE[op]
    grid = list(itertools.product(SPECIAL, repeat=spec.arity))
    columns = [np.array(c, dtype=np.float64) for c in zip(*grid, strict=True)]
    for params in PARAMS.get(op, [()]):
        with quiet():
            array_form = spec.vector(*columns, *params)
        scalar_form = np.array([spec.scalar(*args, *params) for args in grid], dtype=np.float64)
        assert same(array_form, scalar_form), (op, params)


def test_window_kernels_are_nan_while_a_hole_is_in_the_window() -> None:
    x = np.arange(10.0)
    x[4] = NAN
    assert np.flatnonzero(np.isnan(KERNELS["window_sum"].vector(x, 3))).tolist() == [0, 1, 4, 5, 6]
    assert KERNELS["window_max"].vector(x, 3)[7] == 7.0
    # Recursive kernels step over it: the state does not move, the output is NaN there.
    ema = KERNELS["ema"].vector(x, 2)
    assert math.isnan(ema[4]) and ema[5] == ema[3] + (2 / 3) * (5.0 - ema[3])


def test_recursive_kernels_follow_the_strategy_indicators_once_warm() -> None:
    close = bars("ETHUSDT").close
    for span in (9, 21, 200):
        ours, theirs = KERNELS["ema"].vector(close, span), vector.ema(close, span)
        assert np.isnan(ours[: span - 1]).all() and same(ours[span - 1 :], theirs[span - 1 :])
    for period in (5, 14):
        assert same(KERNELS["wilder"].vector(close, period), vector.wilder_average(close, period))


def test_rsi_and_atr_are_the_strategies_rsi_and_atr() -> None:
    series = with_gaps(bars("BTCUSDT"), 7)
    frame = compute(series)
    assert same(frame.column("rsi_14"), vector.rsi(series.close, 14))
    atr = frame.column("atr_rel_14") * series.close
    expected = vector.atr(series.high, series.low, series.close, 14)
    assert same(np.isnan(atr), np.isnan(expected))
    np.testing.assert_allclose(atr, expected, rtol=1e-12)
