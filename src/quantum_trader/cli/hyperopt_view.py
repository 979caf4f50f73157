"""The hyperopt report as tables: the best parameters, in sample next to out of sample,
walk-forward, importance and why trials did not finish."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from quantum_trader.domain.timefmt import iso_utc


def _num(value: object, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _day(ms: object) -> str:
    return iso_utc(ms) if isinstance(ms, int) else "—"


def print_report(report: dict[str, Any], console: Console) -> None:
    states = ", ".join(f"{k} {v}" for k, v in report["states"].items()) or "none"
    console.print(
        f"[bold]study[/] {report['study']} — {report['strategy']}, objective "
        f"{report['objective']}, {report['trials']} trials ({states}; "
        f"{report['retried']} re-run after a worker stopped)"
    )
    best = report.get("best")
    if best is None:
        console.print(f"[yellow]{report['verdict']}[/]")
        _reasons(report, console)
        return
    params = Table(title=f"best trial #{best['trial']}", title_justify="left")
    params.add_column("parameter")
    params.add_column("value", justify="right")
    params.add_column("importance", justify="right")
    importance = report.get("importance") or {}
    for name, value in best["params"].items():
        params.add_row(name, _num(value, 6), _num(importance.get(name), 3))
    console.print(params)

    side = Table(title="in sample (search folds) vs out of sample (holdout)", title_justify="left")
    for column in ("window", "from", "to", "score", "trades", "return", "Sharpe", "max DD"):
        side.add_column(column, justify="left" if column in ("window", "from", "to") else "right")
    for n, (fold, window) in enumerate(
        zip(best["in_sample"]["folds"], report["folds"], strict=True)
    ):
        side.add_row(
            f"fold {n + 1}",
            _day(window["start_ms"]),
            _day(window["end_ms"]),
            _num(fold["score"]),
            str(fold["trades"]),
            _num(fold["total_return"]),
            _num(fold["sharpe"]),
            _num(fold["max_drawdown"]),
        )
    side.add_row("search mean", "", "", _num(best["in_sample"]["mean"]), "", "", "", "")
    side.add_row("search worst", "", "", _num(best["in_sample"]["worst"]), "", "", "", "")
    held = report.get("holdout")
    if held is not None:
        side.add_row(
            "[bold]holdout[/]",
            _day(held["start_ms"]),
            _day(held["end_ms"]),
            _num(held.get("score")) if held.get("score") is not None else held.get("refused", "—"),
            _num(held.get("trades")),
            _num(held.get("total_return")),
            _num(held.get("sharpe")),
            _num(held.get("max_drawdown")),
        )
    console.print(side)
    if report.get("walk_forward"):
        walk = Table(title="walk-forward: chosen on earlier folds only", title_justify="left")
        for column in ("fold", "chosen trial", "in sample", "out of sample"):
            walk.add_column(column, justify="right")
        for row in report["walk_forward"]:
            walk.add_row(
                str(row["fold"]),
                f"#{row['chosen_trial']}",
                _num(row["in_sample"]),
                _num(row["out_of_sample"]),
            )
        console.print(walk)
    dsr = best.get("deflated_sharpe")
    psr = None if held is None else held.get("psr")
    console.print(
        f"deflated Sharpe (best of {report['trials']} trials): {_num(dsr, 3)}; "
        f"holdout probabilistic Sharpe: {_num(psr, 3)}"
    )
    colour = "green" if report["holds"] else "yellow"
    console.print(f"[bold {colour}]{report['verdict']}[/]")
    _reasons(report, console)


def _reasons(report: dict[str, Any], console: Console) -> None:
    reasons = report.get("not_finished_reasons") or {}
    if reasons:
        console.print("not complete: " + "; ".join(f"{k} ({v})" for k, v in reasons.items()))
