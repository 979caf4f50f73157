"""Backtest output: the rich summary table and the JSON file.

JSON layout (``--json PATH``)::

    {"summary": {...metrics.summarize...},
     "trades": [{"symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price",
                 "qty", "pnl", "fees", "funding", "exit_reason", "r_multiple"}, ...]}

Times are integers, milliseconds since the epoch UTC (the open time of the bar in which
the fill happened); prices, quantities and money are JSON numbers (floats: analysis
output, not exchange input); undefined figures are ``null``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from quantum_trader.backtest.trades import BacktestResult


def result_json(result: BacktestResult, summary: dict[str, object]) -> dict[str, object]:
    return {"summary": summary, "trades": [t.as_json() for t in result.trades]}


def write_json(path: Path, result: BacktestResult, summary: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result_json(result, summary), indent=1, allow_nan=False) + "\n")
    return path


def _pct(value: object) -> str:
    return f"{value:+.2%}" if isinstance(value, float) else "—"


def _num(value: object, spec: str = ",.2f") -> str:
    return format(value, spec) if isinstance(value, int | float) else "—"


def _time(value: object) -> str:
    if not isinstance(value, int):
        return "—"
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def summary_table(summary: dict[str, object], seconds: float | None = None) -> Table:
    """The figures a trader reads first, one per row."""
    symbols = summary.get("symbols")
    names = ", ".join(symbols) if isinstance(symbols, list) else "?"
    table = Table(title=f"Backtest {summary['strategy']} on {names} ({summary['interval']})")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    exits = summary.get("exits")
    skipped = summary.get("skipped_entries")
    rows = [
        ("period", f"{_time(summary['start_time'])} → {_time(summary['end_time'])} UTC"),
        ("bars", _num(summary["bars"], ",d")),
        ("starting balance", _num(summary["starting_balance"])),
        ("final equity", _num(summary["final_equity"])),
        ("total return", _pct(summary["total_return"])),
        ("CAGR", _pct(summary["cagr"])),
        ("max drawdown", _pct(summary["max_drawdown"]).lstrip("+")),
        (f"Sharpe ({summary['return_frequency']}, ann.)", _num(summary["sharpe"])),
        (f"Sortino ({summary['return_frequency']}, ann.)", _num(summary["sortino"])),
        ("profit factor", _num(summary["profit_factor"])),
        ("win rate", _pct(summary["win_rate"]).lstrip("+")),
        ("trades", _num(summary["trades"], ",d")),
        ("average R", _num(summary["avg_r"])),
        ("fees", _num(summary["fees"])),
        ("funding (+ received)", _num(summary["funding"])),
    ]
    if isinstance(exits, dict) and exits:
        rows.append(("exits", ", ".join(f"{k} {v}" for k, v in exits.items())))
    if isinstance(skipped, dict) and skipped:
        rows.append(("entries skipped", ", ".join(f"{k} {v}" for k, v in skipped.items())))
    bars = summary["bars"]
    if seconds is not None and seconds > 0 and isinstance(bars, int):
        rows.append(("run time", f"{seconds:.2f} s ({bars / seconds:,.0f} bars/s)"))
    for name, value in rows:
        table.add_row(name, value)
    return table
