"""The model's entry rule (expected return after costs, no threshold), walk-forward
scoring that has no opinion outside its test windows, and the promotion rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.promotion import Incumbent, PromotionRules, decide
from quantum_trader.model.scorer import WindowScorer, entry_sides, expected_returns

BARRIER = BarrierConfig(take_profit_atr=3.0, stop_atr=2.0, horizon_bars=60)


def test_an_entry_needs_a_positive_expected_return_after_costs() -> None:
    atr_rel = np.full(5, 0.01)  # barriers at +3 % / −2 %
    p_long = np.array([0.45, 0.40, 0.30, 0.50, math.nan])
    p_short = np.array([0.30, 0.30, 0.46, 0.55, 0.50])
    side, ev = entry_sides(p_long, p_short, atr_rel, BARRIER, cost=0.001)
    # 0.45·3 % − 0.55·2 % − 0.1 % = +0.15 %; 0.40 → −0.1 % (below break-even after costs)
    assert side.tolist() == [1, 0, -1, -1, -1]
    assert ev[0] == pytest.approx(0.0015)
    assert ev[1] == 0.0
    # both sides positive: the larger one; an unknown probability is never traded
    ev_long, ev_short = expected_returns(p_long, p_short, atr_rel, BARRIER, 0.001)
    assert ev_short[3] > ev_long[3] > 0
    assert side[4] == -1 and ev_short[4] > 0
    costly, _ = entry_sides(p_long, p_short, atr_rel, BARRIER, cost=0.05)
    assert not costly.any()


class Constant:
    names = ("x",)

    def __init__(self, p: float) -> None:
        self.p = p

    def probabilities(self, features, times):  # type: ignore[no-untyped-def]
        return np.full(len(times), self.p), np.full(len(times), 1 - self.p)


def test_walk_forward_scoring_uses_each_windows_own_model_and_nothing_outside() -> None:
    scorer = WindowScorer(("x",), ((100, 199, Constant(0.2)), (200, 299, Constant(0.7))))  # type: ignore[arg-type]
    times = np.array([50, 100, 199, 200, 299, 300])
    p_long, p_short = scorer.probabilities(np.zeros((6, 1)), times)
    assert np.isnan(p_long[[0, 5]]).all() and np.isnan(p_short[[0, 5]]).all()
    assert p_long[1:5].tolist() == [0.2, 0.2, 0.7, 0.7]


GOOD = {"ic_p_value": 0.001, "deflated_sharpe": 0.99, "trades": 50, "net_return": 0.05,
        "fold_ic_mean": 0.04, "trials": 1}  # fmt: skip


def test_promotion_needs_every_test_to_pass_and_names_each_failure() -> None:
    rules = PromotionRules()
    assert decide(GOOD, rules).promote
    assert decide(GOOD, rules, Incumbent("m-old", 0.03, 0.04, "same rows")).promote
    cases = {
        "ic_p_value": (0.2, "fold IC not significant"),
        "deflated_sharpe": (0.5, "deflated Sharpe"),
        "trades": (3, "out-of-sample trades"),
        "net_return": (-0.01, "not profitable"),
    }
    for key, (value, words) in cases.items():
        decision = decide({**GOOD, key: value}, rules)
        assert not decision.promote and words in decision.reason, key
        assert len(decision.failed) == 1 and not decision.promotable
    beaten = decide(GOOD, rules, Incumbent("m-old", 0.05, 0.04, "on 2 fold(s)' rows"))
    assert not beaten.promote and "does not beat the promoted model m-old" in beaten.reason
    assert beaten.promotable and "on 2 fold(s)' rows" in beaten.reason  # kept servable
    tie = decide(GOOD, rules, Incumbent("m-old", 0.04, 0.04, "same rows"))
    assert not tie.promote  # no better is not better
    missing = decide({}, rules)  # no evidence is no promotion
    assert not missing.promote and len(missing.failed) == 4


def test_promotion_rules_refuse_values_that_mean_nothing() -> None:
    for kwargs in ({"ic_p_value": 0.0}, {"deflated_sharpe": 1.0}, {"min_trades": 0}):
        with pytest.raises(ValueError):
            PromotionRules(**kwargs)  # type: ignore[arg-type]
