"""``quantum chaos``: run the whole system under injected faults and print the verdict."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from quantum_trader.cli.checks import finite, writable_output
from quantum_trader.ops.stepped.report import ChaosReport

console = Console()


def chaos_command(
    hours: Annotated[
        float, typer.Option(help="Market hours to run.", min=0.1, callback=finite)
    ] = 2.0,
    symbols: Annotated[int, typer.Option(help="How many default symbols.", min=1, max=22)] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the market and the fault schedule.")] = 7,
    faults: Annotated[str, typer.Option(help="Comma list of fault kinds, or 'all'.")] = "all",
    per_kind: Annotated[int, typer.Option(help="Faults of every kind.", min=0)] = 50,
    expensive_per_kind: Annotated[
        int | None,
        typer.Option(help="Process kills and Redis restarts per kind (default: --per-kind)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON here.")
    ] = None,
) -> None:
    """The whole system, each service its own process, under seeded faults; exit code 1
    on any invariant violation."""
    from quantum_trader.cli.context import fail, settings
    from quantum_trader.cli.run import _symbols
    from quantum_trader.ops.chaos.run import ChaosRun
    from quantum_trader.ops.chaos.schedule import ChaosConfig, parse_kinds

    s = settings()
    writable_output(json_path, "--json")  # before the run, not after it
    try:
        kinds = parse_kinds(faults) if faults.strip(" ,") else ()
    except ValueError as exc:
        raise fail(f"--faults: {exc}") from None
    if not kinds:
        raise fail("--faults is empty: give a comma list of fault kinds, or 'all'")
    config = ChaosConfig(
        symbols=_symbols(None, symbols),
        hours=hours,
        seed=seed,
        kinds=kinds,
        per_kind=per_kind,
        expensive_per_kind=expensive_per_kind,
    )
    with console.status("chaos run: market minute 0") as status:
        run = ChaosRun(
            config,
            on_step=lambda done, total: status.update(f"chaos run: market minute {done}/{total}"),
            settings=s,
        )
        report = asyncio.run(run.run())
    show(report)
    if json_path:
        json_path.write_text(json.dumps(report.to_json(), indent=2))
        console.print(f"report written to {json_path}")
    if report.violations_total:
        raise typer.Exit(1)


def show(report: ChaosReport) -> None:
    faults = Table(title=f"faults injected: {report.faults_total}")
    faults.add_column("kind", style="cyan")
    faults.add_column("count", justify="right")
    for kind, n in report.faults_by_kind.items():
        faults.add_row(kind, str(n))
    console.print(faults)
    verdict = Table(title=f"invariant violations: {report.violations_total}")
    verdict.add_column("invariant", style="cyan")
    verdict.add_column("count", justify="right")
    verdict.add_column("first offending event")
    for name, v in report.violations_by_invariant.items():
        first = v["first"]
        text = f"{first['symbol']} @ {first['at']}: {first['detail']}" if first else "—"
        verdict.add_row(name, str(v["count"]), text)
    console.print(verdict)
    trades = Table(title="trades: exchange fills vs the system's journal")
    trades.add_column("what", style="cyan")
    trades.add_column("exchange", justify="right")
    trades.add_column("internal", justify="right")
    ex, internal = report.trades["exchange"], report.trades["internal"]
    for label, a, b in (
        ("closed positions", ex["closed_positions"], internal.get("closed_positions")),
        ("net PnL (USDT)", ex["net_pnl"], internal.get("net_pnl")),
        ("win rate", ex["win_rate"], internal.get("win_rate")),
        ("fills per position", ex["fills_per_position"], "—"),
    ):
        trades.add_row(label, str(a), str(b))
    console.print(trades)
    console.print(
        f"entry orders {report.trades['entry_orders']}, plans {report.trades['plans']}, "
        f"dead letters {report.trades['dead_letters']}, longest unprotected "
        f"{report.trades['longest_unprotected_s']:.0f}s, stalled bars "
        f"{len(report.stalled_bars)}, runtime {report.runtime_s:.0f}s"
    )
    if any(report.struck.values()):
        console.print(
            "struck: " + ", ".join(f"{k} {v}" for k, v in report.struck.items()), highlight=False
        )
