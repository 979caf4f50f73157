"""When a trained model may be served: only on out-of-sample evidence.

A model is promoted only if **every** test passes, all on its walk-forward out-of-sample
results (nothing it was fitted, stopped or calibrated on):

1. **Its signal is significant**: the one-sided t-test of "mean fold IC > 0" over the
   folds (:func:`quantum_trader.model.evidence.fold_ic_test`) has ``p < ic_p_value``.
2. **Its returns survive the multiple-testing haircut**: the deflated Sharpe ratio of
   the out-of-sample backtest's daily returns — the probability that the true Sharpe
   exceeds the best one expected from ``trials`` unskilled attempts (every model trained
   on the same data counts as one) — is at least ``deflated_sharpe``.
3. **It makes money**: the out-of-sample backtest through the one engine, fees and
   funding included, ends with a positive net return.
4. **It beats the model in service**, out of sample for both: on the test rows stamped
   after the promoted model's own training window, the new model's mean fold IC must be
   higher than the promoted model's on the same rows. When no fold has such rows (the
   new data lies inside the old model's window) or the two models read different
   features, the new model's mean fold IC is compared with the promoted model's recorded
   out-of-sample one instead, and the reason says which comparison was made. A promoted
   model the code can no longer load is no obstacle.

Tests 1–3 decide whether the model is *promotable* (kept in its card: ``quantum model
promote`` serves a promotable model without ``--force``); test 4 decides whether this
training promotes it. The decision names every test that failed, in this order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PromotionRules:
    ic_p_value: float = 0.05
    deflated_sharpe: float = 0.95
    min_trades: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.ic_p_value < 1:
            raise ValueError(f"ic_p_value must be in (0, 1), got {self.ic_p_value}")
        if not 0 < self.deflated_sharpe < 1:
            raise ValueError(f"deflated_sharpe must be in (0, 1), got {self.deflated_sharpe}")
        if self.min_trades < 1:
            raise ValueError(f"min_trades must be >= 1, got {self.min_trades}")


@dataclass(frozen=True, slots=True)
class Decision:
    promote: bool
    reason: str
    failed: tuple[str, ...]
    promotable: bool = False  # tests 1–3 passed


@dataclass(frozen=True, slots=True)
class Incumbent:
    """The promoted model against the new one: both mean fold ICs and how they compare."""

    model_id: str
    theirs: float
    mine: float
    basis: str  # e.g. "on 3 folds' rows after its training window"


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.nan


def decide(
    oos: dict[str, Any], rules: PromotionRules, incumbent: Incumbent | None = None
) -> Decision:
    """The promotion decision for out-of-sample evidence ``oos`` (see module docstring)."""
    failed: list[str] = []
    p = _number(oos.get("ic_p_value"))
    if not p < rules.ic_p_value:
        failed.append(f"fold IC not significant (p = {p:.3g}, needs < {rules.ic_p_value})")
    dsr = _number(oos.get("deflated_sharpe"))
    if not dsr >= rules.deflated_sharpe:
        failed.append(
            f"deflated Sharpe {dsr:.3g} below {rules.deflated_sharpe} "
            f"over {oos.get('trials', 1)} trial(s)"
        )
    trades = int(oos.get("trades") or 0)
    net = _number(oos.get("net_return"))
    if trades < rules.min_trades:
        failed.append(f"{trades} out-of-sample trades, needs {rules.min_trades}")
    if not net > 0:
        failed.append(f"out-of-sample backtest not profitable net of fees (return {net:.3%})")
    promotable = not failed
    if incumbent is not None and not _number(incumbent.mine) > _number(incumbent.theirs):
        failed.append(
            f"does not beat the promoted model {incumbent.model_id} "
            f"(mean fold IC {incumbent.mine:.4f} vs {incumbent.theirs:.4f}, {incumbent.basis})"
        )
    if failed:
        prefix = "not promoted (promotable: passes its own tests): " if promotable else ""
        reason = prefix or "not promoted: "
        return Decision(False, reason + "; ".join(failed), tuple(failed), promotable)
    beats = (
        f" and beats {incumbent.model_id} (mean fold IC {incumbent.mine:.4f} vs "
        f"{incumbent.theirs:.4f}, {incumbent.basis})"
        if incumbent is not None
        else ""
    )
    return Decision(True, f"promoted: every out-of-sample test passed{beats}", (), True)
