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
4. **It beats the model in service**: its mean fold IC on the same test rows is higher
   than the promoted model's (which may even have trained on them: that only makes the
   bar higher). A promoted model the code can no longer load is no obstacle.

The decision names every test that failed, in this order.
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


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.nan


def decide(
    oos: dict[str, Any], rules: PromotionRules, incumbent_fold_ic: float | None = None
) -> Decision:
    """The promotion decision for out-of-sample evidence ``oos`` (see module docstring);
    ``incumbent_fold_ic``: the promoted model's mean fold IC on the same rows, if any."""
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
    mine = _number(oos.get("fold_ic_mean"))
    if incumbent_fold_ic is not None and not mine > incumbent_fold_ic:
        failed.append(
            f"does not beat the promoted model on the same folds "
            f"(mean fold IC {mine:.4f} vs {incumbent_fold_ic:.4f})"
        )
    if failed:
        return Decision(False, "not promoted: " + "; ".join(failed), tuple(failed))
    return Decision(True, "promoted: every out-of-sample test passed", ())
