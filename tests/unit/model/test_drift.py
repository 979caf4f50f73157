"""Feature drift (PSI against the training distribution) and edge decay (a binomial test
of the hit rate on outcomes that do not overlap)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.model.drift import (
    CALENDAR,
    DriftRules,
    decay_test,
    feature_drift,
    psi,
    reference,
    shares,
    verdict,
)

NAMES = ("ret_1", "rvol_60", "tod_sin", "funding_rate")


def sample(rng: np.random.Generator, n: int, vol: float = 1.0) -> np.ndarray:
    x = np.column_stack(
        [rng.normal(0, vol, n), np.abs(rng.normal(1, 0.2, n)) * vol, rng.uniform(-1, 1, n),
         rng.normal(1e-4, 1e-5, n)]
    )  # fmt: skip
    x[:50, 1] = np.nan  # warm-up
    return x


def test_the_same_population_does_not_drift_and_a_wilder_one_does() -> None:
    rng = np.random.default_rng(0)
    train = sample(rng, 20_000)
    ref = reference(train, NAMES, bins=10)
    assert set(ref) == {"ret_1", "rvol_60", "funding_rate"}  # the calendar is not compared
    assert all(math.isclose(sum(r["share"]), 1.0) for r in ref.values())
    same, missing = feature_drift(ref, sample(rng, 5_000), NAMES)
    assert max(same.values()) < 0.02 and missing == []
    wild, _ = feature_drift(ref, sample(rng, 5_000, vol=3.0), NAMES)
    assert wild["ret_1"] > 0.25 and wild["rvol_60"] > 0.25 and wild["funding_rate"] < 0.02
    more_warmup = sample(rng, 5_000)
    more_warmup[:2_000, 1] = np.nan  # a short window's warm-up is not a market change
    assert feature_drift(ref, more_warmup, NAMES)[0]["rvol_60"] < 0.02
    no_funding = sample(rng, 5_000)
    no_funding[:, 3] = np.nan
    drifted, missing = feature_drift(ref, no_funding, NAMES)
    assert missing == ["funding_rate"] and "funding_rate" not in drifted
    rules = DriftRules()
    judged = verdict(wild, 0.5, rules, missing)
    assert judged["drift"] and not judged["decay"]
    assert judged["drifted_features"][0] in ("ret_1", "rvol_60")
    assert "above PSI 0.25" in judged["reason"]
    assert verdict(same, 0.5, rules)["reason"] == "no drift, no decay"
    assert "tod_sin" in CALENDAR


def test_psi_and_shares_by_hand() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.4 * math.log(1.8) - 0.4 * math.log(0.2))
    np.testing.assert_array_equal(
        shares(np.array([0.0, 1.0, 2.0, 3.0, np.nan]), np.array([1.5])), [0.5, 0.5]
    )
    with pytest.raises(ValueError, match="malformed"):
        feature_drift({"ret_1": {"edges": [0.0], "share": [1.0]}}, np.zeros((3, 1)), ("ret_1",))


def test_decay_is_a_one_sided_binomial_test() -> None:
    assert decay_test(40, 100, 0.55) < 0.01  # 40 % against an expected 55 %
    assert decay_test(55, 100, 0.55) > 0.4
    assert decay_test(70, 100, 0.55) > 0.99
    assert decay_test(0, 0, 0.55) == 1.0 and decay_test(5, 10, math.nan) == 1.0
    assert verdict({}, 0.001, DriftRules())["decay"]
    for kwargs in ({"psi_limit": 0.0}, {"decay_p_value": 1.0}, {"bins": 1}):
        with pytest.raises(ValueError):
            DriftRules(**kwargs)  # type: ignore[arg-type]
