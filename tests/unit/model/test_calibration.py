"""Isotonic calibration: PAV against a brute-force reference, monotonicity, a calibrated
input staying calibrated, serialisation, validation and the knot bound."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from quantum_trader.model import calibration
from quantum_trader.model.calibration import Isotonic, pav


def reference_pav(values: list[float], weights: list[float]) -> list[float]:
    """O(n²) PAV: merge the first adjacent violating pair of blocks until none is left;
    returns the fitted value of every input position."""
    blocks = [[v * w, w, 1] for v, w in zip(values, weights, strict=True)]  # sum, weight, size
    merged = True
    while merged:
        merged = False
        for i in range(len(blocks) - 1):
            if blocks[i][0] / blocks[i][1] > blocks[i + 1][0] / blocks[i + 1][1]:
                a, b = blocks[i], blocks.pop(i + 1)
                blocks[i] = [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
                merged = True
                break
    out: list[float] = []
    for total, weight, size in blocks:
        out.extend([total / weight] * int(size))
    return out


def reference_fit(score: np.ndarray, outcome: np.ndarray, weight: np.ndarray) -> dict[float, float]:
    """Fitted probability at each distinct score: ties pooled, then the reference PAV."""
    xs = sorted(set(score.tolist()))
    means, weights = [], []
    for x in xs:
        at = score == x
        weights.append(float(weight[at].sum()))
        means.append(float((weight[at] * outcome[at]).sum()) / weights[-1])
    return dict(zip(xs, reference_pav(means, weights), strict=True))


@pytest.mark.parametrize("seed", range(8))
def test_fit_matches_brute_force_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    score = np.round(rng.normal(size=n), 1)  # plenty of ties
    outcome = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(np.float64)
    outcome[:2] = [0.0, 1.0]
    weight = rng.uniform(0.1, 3.0, size=n) if seed % 2 else np.ones(n)
    iso = Isotonic.fit(score, outcome, weight)
    expected = reference_fit(score, outcome, weight)
    fitted = iso.apply(np.array(list(expected)))
    np.testing.assert_allclose(fitted, list(expected.values()), rtol=0, atol=1e-12)


@pytest.mark.parametrize("switch", [0.0, 0.97, 1.1])  # one pass then the stack, hybrid, passes only
@pytest.mark.parametrize("seed", range(6))
def test_pav_matches_reference_on_group_means(
    seed: int, switch: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calibration, "_SWITCH", switch)
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 500))
    values = rng.normal(size=n) + np.linspace(0, rng.uniform(0, 3), n)
    weights = rng.uniform(0.5, 2.0, size=n)
    heads, levels = pav(values * weights, weights)
    assert heads[0] == 0 and np.all(np.diff(heads) > 0) and np.all(np.diff(levels) > 0)
    sizes = np.diff(np.append(heads, n))
    np.testing.assert_allclose(
        np.repeat(levels, sizes), reference_pav(values.tolist(), weights.tolist()), atol=1e-12
    )


def test_monotone_and_flat_beyond_the_ends() -> None:
    rng = np.random.default_rng(3)
    score = rng.normal(size=5000)
    outcome = (rng.random(5000) < 1 / (1 + np.exp(-2 * score))).astype(np.float64)
    iso = Isotonic.fit(score, outcome)
    grid = np.linspace(-6, 6, 2001)
    p = iso.apply(grid)
    assert np.all(np.diff(p) >= 0)
    assert np.all((p >= 0) & (p <= 1))
    assert iso.apply(-100.0) == iso.y[0] and iso.apply(100.0) == iso.y[-1]
    assert iso.apply(np.array([-100.0, 100.0])).tolist() == [iso.y[0], iso.y[-1]]
    assert np.isnan(iso.apply(np.array([np.nan]))[0])
    assert all(b > a for a, b in itertools.pairwise(iso.x))


def test_calibrated_input_stays_near_identity() -> None:
    rng = np.random.default_rng(11)
    score = rng.random(200_000)
    outcome = (rng.random(score.size) < score).astype(np.float64)
    iso = Isotonic.fit(score, outcome)
    grid = np.linspace(0.05, 0.95, 91)
    assert np.max(np.abs(iso.apply(grid) - grid)) < 0.03


def test_integer_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(5)
    score = rng.normal(size=200)
    outcome = (rng.random(200) < 0.5).astype(np.float64)
    weight = rng.integers(0, 4, size=200).astype(np.float64)  # zero weight: row ignored
    weighted = Isotonic.fit(score, outcome, weight)
    repeated = Isotonic.fit(
        np.repeat(score, weight.astype(int)), np.repeat(outcome, weight.astype(int))
    )
    np.testing.assert_allclose(weighted.x, repeated.x)
    np.testing.assert_allclose(weighted.y, repeated.y, atol=1e-12)


def test_separable_and_constant_scores() -> None:
    iso = Isotonic.fit([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert iso.x == (0.2, 0.8) and iso.y == (0.0, 1.0)
    np.testing.assert_allclose(iso.apply([0.5, 0.0, 1.0]), [0.5, 0.0, 1.0])
    flat = Isotonic.fit([0.3, 0.3, 0.3, 0.3], [1, 0, 0, 0])
    assert flat.x == (0.3,) and flat.y == (0.25,)
    assert flat.apply([0.0, 1.0]).tolist() == [0.25, 0.25]


def test_round_trip_through_dict_and_json() -> None:
    rng = np.random.default_rng(9)
    score = rng.normal(size=1000)
    iso = Isotonic.fit(score, (rng.random(1000) < 0.4).astype(np.float64))
    d = iso.to_dict()
    assert set(d) == {"x", "y"} and all(type(v) is float for v in d["x"] + d["y"])
    assert Isotonic.from_dict(d) == iso
    assert Isotonic.from_dict(json.loads(json.dumps(d))) == iso


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ({"x": [0.0, 1.0]}, "exactly the keys"),
        ({"x": [0.0], "y": [0.5], "z": []}, "exactly the keys"),
        ({"x": 0.0, "y": 0.5}, "lists of numbers"),
        ({"x": ["a"], "y": [0.5]}, "lists of numbers"),
        ({"x": [True], "y": [0.5]}, "lists of numbers"),
        ({"x": [None], "y": [0.5]}, "lists of numbers"),
        ({"x": [], "y": []}, "at least one knot"),
        ({"x": [0.0, 1.0], "y": [0.5]}, "same length"),
        ({"x": [0.0, 0.0], "y": [0.1, 0.2]}, "strictly increasing"),
        ({"x": [1.0, 0.0], "y": [0.1, 0.2]}, "strictly increasing"),
        ({"x": [0.0, 1.0], "y": [0.3, 0.2]}, "non-decreasing"),
        ({"x": [0.0, 1.0], "y": [0.3, 1.2]}, r"in \[0, 1\]"),
        ({"x": [0.0, 1.0], "y": [-0.1, 0.2]}, r"in \[0, 1\]"),
        ({"x": [0.0, float("nan")], "y": [0.1, 0.2]}, "finite"),
    ],
)
def test_bad_dicts_rejected(d: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Isotonic.from_dict(d)


def test_bad_fit_inputs_rejected() -> None:
    with pytest.raises(ValueError, match="at least 2 rows"):
        Isotonic.fit([0.5], [1])
    with pytest.raises(ValueError, match="at least 2 rows"):
        Isotonic.fit([0.1, 0.2, 0.3], [0, 1, 1], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="both outcomes"):
        Isotonic.fit([0.1, 0.2, 0.3], [1, 1, 1])
    with pytest.raises(ValueError, match="both outcomes"):
        Isotonic.fit([0.1, 0.2, 0.3], [0, 1, 1], [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="outcome must be 0 or 1"):
        Isotonic.fit([0.1, 0.2], [0, 0.5])
    with pytest.raises(ValueError, match="score must be finite"):
        Isotonic.fit([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError, match="weight must be finite and non-negative"):
        Isotonic.fit([0.1, 0.2], [0, 1], [1.0, -1.0])
    with pytest.raises(ValueError, match="1-D of one length"):
        Isotonic.fit([0.1, 0.2], [0, 1, 1])


def test_knots_stay_bounded_on_a_million_rows() -> None:
    rng = np.random.default_rng(42)
    score = rng.normal(size=1_000_000)
    outcome = (rng.random(score.size) < 1 / (1 + np.exp(-score))).astype(np.float64)
    iso = Isotonic.fit(score, outcome)
    assert 2 <= len(iso.x) <= 3000
    p = iso.apply(np.linspace(-3, 3, 7))
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-np.linspace(-3, 3, 7))), atol=0.03)
