"""How a trial's backtest of one fold is scored, and when it is refused instead.

Objectives (higher is better): ``sharpe`` and ``sortino`` (daily returns, annualised,
as the backtest summary computes them), ``calmar`` (CAGR ÷ max drawdown), ``profit``
(total return, a fraction), ``expectancy`` (mean net PnL per position, USDT). A fold
with fewer than ``min_trades`` positions, or whose objective is undefined (a flat
equity curve has no Sharpe), is refused with that reason: a score from three trades is
noise the search would chase.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantum_trader.backtest.metrics import summarize
from quantum_trader.backtest.trades import BacktestResult

OBJECTIVES = ("sharpe", "sortino", "calmar", "profit", "expectancy")


class Refused(Exception):
    """A fold result the objective cannot score; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class FoldScore:
    score: float
    trades: int
    total_return: float
    sharpe: float | None
    max_drawdown: float

    def as_json(self) -> dict[str, object]:
        return {
            "score": self.score,
            "trades": self.trades,
            "total_return": self.total_return,
            "sharpe": self.sharpe,
            "max_drawdown": self.max_drawdown,
        }


def score_fold(
    result: BacktestResult, objective: str, interval_ms: int, min_trades: int
) -> FoldScore:
    summary = summarize(result, interval_ms)
    trades = int(summary["trades"])  # type: ignore[call-overload]
    if trades < min_trades:
        raise Refused(f"{trades} trades, fewer than --min-trades {min_trades}")
    value = _objective(summary, objective, result)
    if value is None:
        raise Refused(f"{objective} is undefined (flat or too short an equity curve)")
    return FoldScore(
        float(value),
        trades,
        float(summary["total_return"]),  # type: ignore[arg-type]
        summary["sharpe"],  # type: ignore[arg-type]
        float(summary["max_drawdown"]),  # type: ignore[arg-type]
    )


def _objective(summary: dict[str, object], objective: str, result: BacktestResult) -> float | None:
    if objective in ("sharpe", "sortino"):
        value = summary[objective]
        return value if isinstance(value, float) else None
    if objective == "profit":
        return float(summary["total_return"])  # type: ignore[arg-type]
    if objective == "calmar":
        growth, drawdown = summary["cagr"], summary["max_drawdown"]
        if not isinstance(growth, float) or not isinstance(drawdown, float) or drawdown <= 0:
            return None
        return growth / drawdown
    if objective == "expectancy":
        return sum(t.pnl for t in result.trades) / len(result.trades) if result.trades else None
    raise ValueError(f"--objective: one of {', '.join(OBJECTIVES)}, got {objective!r}")
