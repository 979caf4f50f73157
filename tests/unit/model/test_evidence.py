"""Signal-quality and significance statistics against direct numpy/scipy computations and
hand cases; every output JSON-serialisable."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats

from quantum_trader.model.evidence import (
    EULER_GAMMA,
    brier,
    deflated_sharpe,
    expected_max_sharpe,
    fold_ic_test,
    hit_rate,
    ic,
    probabilistic_sharpe,
    rank_ic,
    reliability,
    sharpe,
)

RNG_SEED = 20240601


def signal(n: int = 500, seed: int = RNG_SEED) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    forward = 0.1 * score + rng.standard_t(4, size=n)
    return score, forward


def test_ic_and_rank_ic_match_numpy_and_scipy() -> None:
    score, forward = signal()
    assert ic(score, forward) == pytest.approx(np.corrcoef(score, forward)[0, 1], abs=1e-12)
    assert rank_ic(score, forward) == pytest.approx(
        stats.spearmanr(score, forward).statistic, abs=1e-12
    )
    ties = np.round(score, 0)
    assert rank_ic(ties, forward) == pytest.approx(
        stats.spearmanr(ties, forward).statistic, abs=1e-12
    )
    assert type(ic(score, forward)) is float and type(rank_ic(score, forward)) is float


def test_nan_rows_dropped_pairwise() -> None:
    score, forward = signal(100)
    s, f = score.copy(), forward.copy()
    s[3], f[7], f[11] = np.nan, np.nan, np.inf
    keep = np.ones(100, dtype=bool)
    keep[[3, 7, 11]] = False
    assert ic(s, f) == pytest.approx(ic(score[keep], forward[keep]), abs=1e-15)
    assert rank_ic(s, f) == pytest.approx(rank_ic(score[keep], forward[keep]), abs=1e-15)
    assert hit_rate(s, f) == hit_rate(score[keep], forward[keep])


def test_rank_ic_is_invariant_to_monotone_transforms() -> None:
    score, forward = signal()
    base = rank_ic(score, forward)
    assert rank_ic(np.exp(score), forward**3) == pytest.approx(base, abs=1e-12)
    assert rank_ic(np.arctan(5 * score) + 7, np.sinh(forward)) == pytest.approx(base, abs=1e-12)
    assert ic(np.exp(score), forward**3) != pytest.approx(ic(score, forward), abs=1e-3)


def test_degenerate_correlations_are_nan() -> None:
    assert math.isnan(ic([1.0, 2.0], [1.0, 2.0]))
    assert math.isnan(ic([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(rank_ic([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert math.isnan(ic([1.0, np.nan, 2.0, 3.0], [1.0, 2.0, np.nan, 3.0]))
    with pytest.raises(ValueError, match="same length"):
        ic([1.0, 2.0, 3.0], [1.0, 2.0])


def test_hit_rate_hand_case() -> None:
    score = [1.0, -2.0, 0.5, 0.0, -1.0, 3.0]
    forward = [0.2, -0.1, -0.3, 0.5, 0.0, 0.1]
    # Active rows: 0 (agree), 1 (agree), 2 (disagree), 5 (agree); 3 and 4 have a zero.
    assert hit_rate(score, forward) == 0.75
    assert math.isnan(hit_rate([0.0, 1.0], [1.0, 0.0]))


def test_brier_hand_case() -> None:
    assert brier([0.9, 0.2, 0.5, 1.0], [1, 0, 1, 0]) == pytest.approx(
        (0.01 + 0.04 + 0.25 + 1.0) / 4
    )
    assert brier([0.0, 1.0], [0, 1]) == 0.0
    assert math.isnan(brier([], []))


def test_reliability_hand_case() -> None:
    prob = [0.05, 0.15, 0.12, 0.5, 0.55, 0.95, 1.0, 0.0]
    outcome = [0, 0, 1, 1, 0, 1, 1, 0]
    table = reliability(prob, outcome, bins=4)
    # [0, .25): 0.05, 0.15, 0.12, 0.0; [.25, .5): none; [.5, .75): 0.5, 0.55; [.75, 1]: 0.95, 1.0
    assert [(b["bin_from"], b["bin_to"], b["rows"], b["observed"]) for b in table] == [
        (0.0, 0.25, 4, 0.25),
        (0.5, 0.75, 2, 0.5),
        (0.75, 1.0, 2, 1.0),
    ]
    assert [b["mean_prob"] for b in table] == pytest.approx([0.08, 0.525, 0.975])
    assert reliability([0.3, np.nan], [1, 0]) == [
        {"bin_from": 0.3, "bin_to": 0.4, "rows": 1, "mean_prob": 0.3, "observed": 1.0}
    ]
    numpy_bins = reliability([0.3], [1], bins=np.int64(10))  # type: ignore[arg-type]
    assert numpy_bins == reliability([0.3], [1]) and type(numpy_bins[0]["bin_from"]) is float
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\]"):
        reliability([1.2], [1])
    with pytest.raises(ValueError, match="bins must be an integer >= 1"):
        reliability([0.5], [1], bins=0)


@pytest.mark.parametrize("seed", range(5))
def test_fold_ic_test_matches_one_sided_ttest(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ics = rng.normal(0.02, 0.03, size=int(rng.integers(2, 12)))
    result = fold_ic_test(ics.tolist())
    expected = stats.ttest_1samp(ics, 0.0, alternative="greater")
    assert result["t_stat"] == pytest.approx(expected.statistic, rel=1e-12)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-10)
    assert result["mean"] == pytest.approx(ics.mean())
    assert result["std"] == pytest.approx(ics.std(ddof=1))
    assert result["icir"] == pytest.approx(ics.mean() / ics.std(ddof=1))
    assert result["folds"] == ics.size
    assert all(type(v) in (float, int) for v in result.values())


def test_fold_ic_test_without_evidence() -> None:
    for ics in ([], [0.05], [0.03, 0.03, 0.03], [0.02, float("nan")]):
        result = fold_ic_test(ics)
        assert math.isnan(result["icir"]) and math.isnan(result["t_stat"])
        assert result["p_value"] == 1.0
    assert fold_ic_test([0.02, float("nan"), 0.04])["folds"] == 2


def test_sharpe_hand_case() -> None:
    returns = [0.01, -0.01, 0.02, 0.0]  # mean 0.005, std (ddof=1) sqrt(0.0005/3)
    expected = 0.005 / math.sqrt(0.0005 / 3) * math.sqrt(252)
    assert sharpe(returns, 252) == pytest.approx(expected)
    assert math.isnan(sharpe([0.01], 252))
    assert math.isnan(sharpe([0.01, 0.01, 0.01], 252))
    with pytest.raises(ValueError, match="periods_per_year"):
        sharpe(returns, 0)


def test_probabilistic_sharpe_formula_and_properties() -> None:
    rng = np.random.default_rng(RNG_SEED)
    returns = 0.0005 + 0.01 * rng.standard_t(5, size=750)
    sr = returns.mean() / returns.std(ddof=1)
    skew, kurt = stats.skew(returns), stats.kurtosis(returns, fisher=False)
    z = sr * math.sqrt(returns.size - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert probabilistic_sharpe(returns) == pytest.approx(stats.norm.cdf(z), rel=1e-12)
    assert probabilistic_sharpe(returns, benchmark=sr) == pytest.approx(0.5, abs=1e-12)
    assert probabilistic_sharpe(returns, benchmark=sr + 0.01) < 0.5
    # Same distribution, more of it: more confidence in a positive Sharpe.
    psrs = [probabilistic_sharpe(np.tile(returns, k)) for k in (1, 2, 4, 8)]
    assert all(b > a for a, b in itertools.pairwise(psrs))
    assert 0.5 < psrs[0] < psrs[-1] < 1.0
    assert math.isnan(probabilistic_sharpe([0.01])) and math.isnan(probabilistic_sharpe([0.0, 0.0]))


def test_deflated_sharpe() -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    returns = 0.001 + 0.01 * rng.normal(size=1000)
    psr0 = probabilistic_sharpe(returns)
    assert deflated_sharpe(returns, trials=1, trial_sharpe_variance=0.01) == psr0
    assert expected_max_sharpe(1, 0.5) == 0.0
    v = 0.02**2
    expected = math.sqrt(v) * (
        (1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / 50)
        + EULER_GAMMA * stats.norm.ppf(1 - 1 / (50 * math.e))
    )
    assert expected_max_sharpe(50, v) == pytest.approx(expected, rel=1e-12)
    dsrs = [deflated_sharpe(returns, trials=n, trial_sharpe_variance=v) for n in (2, 10, 100)]
    assert all(d < psr0 for d in dsrs)
    assert dsrs[0] > dsrs[1] > dsrs[2]
    assert dsrs[1] == probabilistic_sharpe(returns, expected_max_sharpe(10, v))
    assert deflated_sharpe(returns, np.int64(10), v) == dsrs[1]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="trials"):
        deflated_sharpe(returns, trials=0, trial_sharpe_variance=v)
    with pytest.raises(ValueError, match="trial_sharpe_variance"):
        deflated_sharpe(returns, trials=5, trial_sharpe_variance=-1.0)


def test_outputs_are_json_serialisable() -> None:
    score, forward = signal(200)
    prob = 1 / (1 + np.exp(-score))
    outcome = (forward > 0).astype(np.float64)
    report = {
        "ic": ic(score, forward),
        "rank_ic": rank_ic(score, forward),
        "hit_rate": hit_rate(score, forward),
        "brier": brier(prob, outcome),
        "reliability": reliability(prob, outcome),
        "folds": fold_ic_test([0.01, 0.03, 0.02]),
        "folds_none": fold_ic_test([0.01]),
        "sharpe": sharpe(forward, 365),
        "psr": probabilistic_sharpe(forward),
        "dsr": deflated_sharpe(forward, 20, 0.001),
        "nan": ic([1.0], [1.0]),
    }
    text = json.dumps(report)
    assert json.loads(text)["reliability"][0]["rows"] >= 1

    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(plain(v) for v in value.values())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return type(value) in (float, int)

    assert plain(report)
