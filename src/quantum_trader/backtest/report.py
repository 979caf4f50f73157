"""Backtest output: the rich summary table and the JSON file.

JSON layout (``--json PATH``)::

    {"summary": {...metrics.summarize...},
     "trades": [{"symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price",
                 "qty", "pnl", "fees", "funding", "exit_reason", "r_multiple",
                 "exits": [{"time", "price", "qty", "reason", "pnl", "fees"}, ...]}, ...]}

One trade is one position, entry to final exit: ``exit_price`` is the quantity-weighted
average of its exits, ``exit_reason`` its final exit's, ``pnl`` / ``fees`` / ``funding``
summed over the position; ``exits`` lists its exit fills in order (each with its share
of the entry fees; funding stays on the position). Times are integers, milliseconds
since the epoch UTC (the open time of the bar in which the fill happened); prices,
quantities and money are JSON numbers (floats: analysis output, not exchange input);
undefined figures are ``null``. Summary money keys are the ones every summary uses:
``starting_balance``, ``ending_equity``, ``realized_pnl``, ``fees``, ``funding``
(+ received, − paid), ``net_pnl`` = realized − fees + funding.
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
    model = f" {summary['model_id']}" if summary.get("model_id") else ""
    table = Table(title=f"Backtest {summary['strategy']}{model} on {names} ({summary['interval']})")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    exits = summary.get("exits")
    fills = summary.get("exit_fills")
    skipped = summary.get("skipped_entries")
    rows = [
        ("period", f"{_time(summary['start_time'])} → {_time(summary['end_time'])} UTC"),
        ("bars", _num(summary["bars"], ",d")),
        ("starting balance", _num(summary["starting_balance"])),
        ("ending equity", _num(summary["ending_equity"])),
        ("realized PnL", _num(summary["realized_pnl"])),
        ("fees", _num(summary["fees"])),
        ("funding (+ received, − paid)", _num(summary["funding"])),
        ("net PnL (realized − fees + funding)", _num(summary["net_pnl"])),
        ("funding source", str(summary.get("funding_source", "—"))),
        ("total return", _pct(summary["total_return"])),
        ("CAGR", _pct(summary["cagr"])),
        ("max drawdown", _pct(summary["max_drawdown"]).lstrip("+")),
        (f"Sharpe ({summary['return_frequency']}, ann.)", _num(summary["sharpe"])),
        (f"Sortino ({summary['return_frequency']}, ann.)", _num(summary["sortino"])),
        ("profit factor", _num(summary["profit_factor"])),
        ("trades (positions)", _num(summary["trades"], ",d")),
        ("win rate", _pct(summary["win_rate"]).lstrip("+")),
        ("average R", _num(summary["avg_r"])),
    ]
    if isinstance(exits, dict) and exits:
        rows.append(
            ("exits by reason (positions)", ", ".join(f"{k} {v}" for k, v in exits.items()))
        )
    if isinstance(fills, dict) and fills:
        rows.append(("exit fills", ", ".join(f"{k} {v}" for k, v in fills.items())))
    if isinstance(skipped, dict) and skipped:
        rows.append(("entries skipped", ", ".join(f"{k} {v}" for k, v in skipped.items())))
    bars = summary["bars"]
    if seconds is not None and seconds > 0 and isinstance(bars, int):
        rows.append(("run time", f"{seconds:.2f} s ({bars / seconds:,.0f} bars/s)"))
    for name, value in rows:
        table.add_row(name, value)
    return table
