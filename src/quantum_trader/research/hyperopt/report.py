"""What a finished study found, and whether it holds out of sample.

* **search** (in sample): the best trial by mean fold score — its parameters, each
  fold's score, the mean and the worst;
* **walk-forward**: for each fold k ≥ 2, the trial with the best mean over the folds
  before k, scored on fold k — what choosing on the past alone would have earned;
* **holdout** (out of sample): the best parameters backtested once on the bars no trial
  read; its score next to the search's;
* **deflated Sharpe** of the best trial's daily search returns for the number of trials
  tried (``model.evidence.deflated_sharpe``): the chance its Sharpe is not the luck of
  the best of N; and the holdout's probabilistic Sharpe against 0;
* **importance** of each dimension (PED-ANOVA over the complete trials);
* counts of trials by state, and the reasons trials were refused or pruned.

``holds`` is True when the holdout scores above 0 and the deflated Sharpe is at least
``DSR_BAR``: parameters that fail either are not evidence of an edge.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections import Counter
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from quantum_trader.model.evidence import deflated_sharpe, probabilistic_sharpe
from quantum_trader.research.hyperopt.objective import Refused
from quantum_trader.research.hyperopt.space import suggest
from quantum_trader.research.hyperopt.trials import BARS_ATTR, TrialContext, daily_returns
from quantum_trader.research.hyperopt.worker import REASON_ATTR, RETRY_ATTR

DSR_BAR = 0.95


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that used a slot: complete, pruned, refused (not the failed ones that were
    queued again: interrupted, or abandoned by a dead worker)."""
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def outcome(trial: FrozenTrial) -> str:
    """complete, pruned or refused (a refused trial is told to Optuna as pruned)."""
    if str(trial.user_attrs.get(REASON_ATTR, "")).startswith("refused"):
        return "refused"
    return trial.state.name.lower()


def _fold_scores(trial: FrozenTrial) -> list[float]:
    return [float(f["score"]) for f in trial.user_attrs.get("folds", [])]


def walk_forward(complete: list[FrozenTrial], folds: int) -> list[dict[str, Any]]:
    rows = []
    for k in range(1, folds):
        chosen = max(complete, key=lambda t: statistics.fmean(_fold_scores(t)[:k]))
        scores = _fold_scores(chosen)
        rows.append(
            {
                "fold": k + 1,
                "chosen_trial": chosen.number,
                "in_sample": statistics.fmean(scores[:k]),
                "out_of_sample": scores[k],
            }
        )
    return rows


def _sharpe_variance(complete: list[FrozenTrial]) -> float:
    sharpes = []
    for t in complete:
        r = np.asarray(t.user_attrs.get("daily_returns", []), dtype=np.float64)
        if r.size > 1 and r.std(ddof=1) > 0:
            sharpes.append(float(r.mean() / r.std(ddof=1)))
    return float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0


def _importance(study: optuna.Study) -> dict[str, float]:
    try:
        with warnings.catch_warnings():  # PED-ANOVA is "experimental" in Optuna's terms
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}  # too few complete trials, or one value each
    return {k: round(float(v), 4) for k, v in found.items() if math.isfinite(v)}


def holdout_result(ctx: TrialContext, best: FrozenTrial) -> dict[str, Any] | None:
    window = ctx.market.split.holdout
    if window is None:
        return None
    params, overrides = suggest(optuna.trial.FixedTrial(best.params), ctx.dimensions)
    result = ctx.backtest(window, params, ctx.config(overrides))
    returns = daily_returns(result)
    out: dict[str, Any] = {"start_ms": window.start_ms, "end_ms": window.end_ms}
    try:
        fold = ctx.score(result)
    except Refused as exc:
        return out | {"score": None, "refused": str(exc), "trades": len(result.trades)}
    psr = probabilistic_sharpe(returns, 0.0) if len(returns) > 2 else math.nan
    return out | fold.as_json() | {"psr": None if math.isnan(psr) else psr}


def study_report(study: optuna.Study, ctx: TrialContext) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    used = counted(trials)
    complete = [t for t in used if t.state is TrialState.COMPLETE]
    states = Counter(outcome(t) for t in used)
    reasons = Counter(
        str(t.user_attrs[REASON_ATTR]).split(":")[0] + ": " + _reason_kind(t)
        for t in used
        if t.state is not TrialState.COMPLETE and REASON_ATTR in t.user_attrs
    )
    report: dict[str, Any] = {
        "study": study.study_name,
        "strategy": ctx.spec.strategy,
        "objective": ctx.spec.objective,
        "trials": len(used),
        "states": dict(sorted(states.items())),
        "retried": sum(1 for t in trials if RETRY_ATTR in t.user_attrs),
        # bars replayed by every trial's backtests (fold warm-ups included)
        "bars_backtested": sum(int(t.user_attrs.get(BARS_ATTR, 0)) for t in trials),
        "not_finished_reasons": dict(reasons.most_common()),
        "space": [d.spec() for d in ctx.dimensions],
        "folds": [{"start_ms": w.start_ms, "end_ms": w.end_ms} for w in ctx.market.split.folds],
    }
    if not complete:
        return report | {"best": None, "holds": False, "verdict": "no trial completed"}
    best = max(complete, key=lambda t: float(t.value or -math.inf))
    scores = _fold_scores(best)
    returns = best.user_attrs.get("daily_returns", [])
    dsr = (
        deflated_sharpe(returns, len(used), _sharpe_variance(complete))
        if len(returns) > 2
        else math.nan
    )
    held = holdout_result(ctx, best)
    report["best"] = {
        "trial": best.number,
        "params": best.params,
        "in_sample": {
            "mean": statistics.fmean(scores),
            "worst": min(scores),
            "folds": best.user_attrs.get("folds"),
        },
        "deflated_sharpe": None if math.isnan(dsr) else dsr,
    }
    report["walk_forward"] = walk_forward(complete, len(ctx.market.split.folds))
    report["holdout"] = held
    report["importance"] = _importance(study)
    score = None if held is None else held.get("score")
    holds = score is not None and score > 0 and not math.isnan(dsr) and dsr >= DSR_BAR
    report["holds"] = holds
    report["verdict"] = _verdict(score, dsr, held is not None)
    return report


def _reason_kind(trial: FrozenTrial) -> str:
    """The reason without its numbers, so alike reasons count together."""
    text = str(trial.user_attrs.get(REASON_ATTR, "")).split(":", 1)[-1]
    words = [w for w in text.replace(",", " ").split() if not any(c.isdigit() for c in w)]
    return " ".join(words[:8])


def _verdict(score: float | None, dsr: float, has_holdout: bool) -> str:
    if not has_holdout:
        return "no holdout (--holdout 0): nothing out of sample to judge by"
    if score is None:
        return "the holdout could not be scored"
    if score <= 0:
        return f"does not hold: the holdout scores {score:.4g}"
    if math.isnan(dsr) or dsr < DSR_BAR:
        return f"not evidence: deflated Sharpe {dsr:.3g} below {DSR_BAR}"
    return f"holds: holdout {score:.4g}, deflated Sharpe {dsr:.3g}"
