"""What ``quantum run`` prints: the run summary's table, and a mapping as a table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from quantum_trader.exchange.sim.http.security import DEFAULT_WEIGHT_LIMIT
from quantum_trader.ops.run_summary import RunSummary

console = Console()


def show(summary: RunSummary) -> None:
    table = Table(
        title=f"Quantum Trader {summary.mode} run — {summary.market_hours:g} market hours"
    )
    table.add_column("what", style="cyan")
    table.add_column("value", justify="right")
    rows = [
        ("symbols", ", ".join(summary.symbols)),
        ("entries", str(summary.entries)),
        ("exits by reason", _fmt(summary.exits_by_reason)),
        ("plans skipped by reason", _fmt(summary.skipped_by_reason)),
        ("signals refused by reason", _fmt(summary.intents_rejected_by_reason)),
        ("starting balance (USDT)", summary.starting_balance),
        ("ending equity (USDT)", summary.ending_equity),
        ("realized PnL (USDT)", summary.realized_pnl),
        ("fees (USDT)", summary.fees),
        ("funding (USDT; + received, − paid)", summary.funding),
        ("net PnL (USDT; realized − fees + funding)", summary.net_pnl),
        ("funding source", summary.funding_source or "—"),
        ("mark price source", summary.mark_source or "—"),
        ("open positions", str(summary.open_positions)),
        ("dead letters", str(summary.dead_letters)),
        ("restarts", str(summary.restarts)),
        ("reconcile repairs", str(summary.reconcile_repairs)),
        (
            "request weight, busiest minute",
            f"{summary.request_weight_peak} of Binance's {DEFAULT_WEIGHT_LIMIT}",
        ),
    ]
    if summary.models:
        rows.insert(1, ("signal model(s) served", " → ".join(summary.models)))
    for name, value in summary.invariants.items():
        rows.append((f"invariant: {name}", str(value)))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def show_mapping(title: str, data: dict[str, object]) -> None:
    """A summary whose keys are its rows: counts inline, nested checks one row each."""
    table = Table(title=title)
    table.add_column("what", style="cyan")
    table.add_column("value", justify="right")
    for name, text in _rows(data):
        table.add_row(name, text)
    console.print(table)


def _rows(data: dict[str, object], within: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{within}{key.replace('_', ' ')}"
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            rows += _rows(value, f"{name}: ")
        elif isinstance(value, dict) and (within or key.endswith("by_reason")):
            rows.append((name, _fmt(value)))
        elif isinstance(value, dict):
            rows += [(f"{name}: {k}", str(v)) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            rows.append((name, ", ".join(str(v) for v in value)))
        else:
            rows.append((name, "—" if value is None else str(value)))
    return rows


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "—"
