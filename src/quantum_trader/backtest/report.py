"""Backtest output: the rich tables (summary, breakdowns, lookahead) and the JSON file.

JSON layout (``--json PATH``)::

    {"summary": {...metrics.summarize..., "breakdowns": {"symbol": {...}, "month": …}},
     "trades": [{"symbol", "strategy", "side", "entry_time", "exit_time", "entry_price",
                 "exit_price", "qty", "pnl", "fees", "funding", "exit_reason",
                 "r_multiple", "exits": [{"time", "price", "qty", "reason", "pnl",
                 "fees"}, ...]}, ...],
     "lookahead": {...}}  # with --lookahead-check: LookaheadReport.as_json()

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

from quantum_trader.backtest.lookahead_changes import LookaheadReport
from quantum_trader.backtest.trades import BacktestResult
from quantum_trader.domain.timefmt import iso_utc

BREAKDOWN_TITLES = {
    "symbol": "symbol",
    "month": "month (UTC, by exit)",
    "exit_reason": "final exit",
    "strategy": "strategy",
    "side": "side",
}
LOOKAHEAD_ROWS = 20  # changes listed in the table; --json has them all (up to MAX_CHANGES)


def result_json(
    result: BacktestResult, summary: dict[str, object], lookahead: LookaheadReport | None = None
) -> dict[str, object]:
    doc: dict[str, object] = {"summary": summary, "trades": [t.as_json() for t in result.trades]}
    if lookahead is not None:
        doc["lookahead"] = lookahead.as_json()
    return doc


def write_json(
    path: Path,
    result: BacktestResult,
    summary: dict[str, object],
    lookahead: LookaheadReport | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = result_json(result, summary, lookahead)
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return path


def _pct(value: object) -> str:
    return f"{value:+.2%}" if isinstance(value, float) else "—"


def _num(value: object, spec: str = ",.2f") -> str:
    return format(value, spec) if isinstance(value, int | float) else "—"


def _time(value: object) -> str:
    if not isinstance(value, int):
        return "—"
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def summary_rows(summary: dict[str, object], seconds: float | None = None) -> list[tuple[str, str]]:
    """The figures a trader reads first, as (name, value) text: the table's rows."""
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
        ("mark price source", str(summary.get("mark_source", "—"))),
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
    return rows


def title_of(summary: dict[str, object]) -> str:
    symbols = summary.get("symbols")
    names = ", ".join(symbols) if isinstance(symbols, list) else "?"
    model = f" {summary['model_id']}" if summary.get("model_id") else ""
    return f"Backtest {summary['strategy']}{model} on {names} ({summary['interval']})"


def summary_table(summary: dict[str, object], seconds: float | None = None) -> Table:
    """The figures a trader reads first, one per row."""
    table = Table(title=title_of(summary))
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    for name, value in summary_rows(summary, seconds):
        table.add_row(name, value)
    return table


def breakdown_rows(summary: dict[str, object]) -> list[tuple[str, str, list[str]]]:
    """(group title, row name, [trades, win rate, net PnL, avg R, profit factor]) text."""
    groups = summary.get("breakdowns")
    out: list[tuple[str, str, list[str]]] = []
    for group, rows in groups.items() if isinstance(groups, dict) else ():
        for name, row in rows.items():
            cells = [
                _num(row["trades"], ",d"),
                _pct(row["win_rate"]).lstrip("+"),
                _num(row["net_pnl"]),
                _num(row["avg_r"]),
                _num(row["profit_factor"]),
            ]
            out.append((BREAKDOWN_TITLES.get(str(group), str(group)), str(name), cells))
    return out


BREAKDOWN_COLUMNS = ("trades", "win rate", "net PnL", "avg R", "profit factor")


def breakdown_table(summary: dict[str, object]) -> Table:
    """Positions by symbol, month, final exit, strategy and side, a section each."""
    table = Table(title="Breakdowns (positions)")
    table.add_column("by", style="bold")
    table.add_column("")
    for name in BREAKDOWN_COLUMNS:
        table.add_column(name, justify="right")
    last = None
    for group, name, cells in breakdown_rows(summary):
        if last is not None and group != last:
            table.add_section()
        table.add_row(group if group != last else "", name, *cells)
        last = group
    return table


def _value(value: object) -> str:
    if value is None:
        return "no signal"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def lookahead_tables(report: LookaheadReport) -> list[Table]:
    """What the lookahead check compared; then, if any, the values that changed."""
    clean = "nothing changed" if report.clean else f"{report.changed_total:,} values changed"
    table = Table(title=f"Lookahead check: {clean} ({report.seconds:.1f} s)")
    table.add_column("strategy", style="bold")
    table.add_column("symbol")
    for name in ("signals", "cut at a signal bar", "bar by bar", "features"):
        table.add_column(name, justify="right")
    table.add_column("note")
    for c in report.coverage:
        cells = [f"{c.signals:,}", f"{c.truncations:,}", f"{c.bar_by_bar:,}"]
        features = f"{c.features:,}" if c.features else ""
        table.add_row(c.strategy, c.symbol or "universe", *cells, features, c.note)
    if report.clean:
        return [table]
    changed = Table(title="Changed: the full run's value against the data cut at the bar")
    for name in ("strategy", "signal field / feature", "symbol", "bar (UTC)", "full run",
                 "cut at the bar / bar by bar", "check"):  # fmt: skip
        changed.add_column(name)
    for change in report.changes[:LOOKAHEAD_ROWS]:
        what = change.name if change.kind == "signal" else f"feature {change.name}"
        full, truncated = _value(change.full), _value(change.truncated)
        at = iso_utc(change.bar_time)
        check = change.check.replace("_", " ")
        changed.add_row(change.strategy, what, change.symbol, at, full, truncated, check)
    if report.changed_total > LOOKAHEAD_ROWS:
        changed.caption = f"the first {LOOKAHEAD_ROWS} of {report.changed_total:,}; see --json"
    return [table, changed]
