"""``quantum run`` and ``quantum demo``: the whole system in one command."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from quantum_trader.config import Mode
from quantum_trader.ops.run_summary import RunSummary

console = Console()


def _symbols(text: str | None, count: int) -> tuple[str, ...]:
    from quantum_trader.config import DEFAULT_SYMBOLS
    from quantum_trader.data.symbols import DEFAULT_SYMBOLS as UNIVERSE

    if text:
        return tuple(s.strip().upper() for s in text.split(",") if s.strip())
    pool = list(DEFAULT_SYMBOLS) + [s for s in UNIVERSE if s not in DEFAULT_SYMBOLS]
    return tuple(pool[:count])


def run_command(
    mode: Annotated[
        Mode, typer.Option(help="paper (simulated exchange), demo or live.")
    ] = Mode.PAPER,
    symbols: Annotated[str | None, typer.Option(help="Comma list, e.g. BTCUSDT,ETHUSDT.")] = None,
    count: Annotated[
        int,
        typer.Option(
            "--symbol-count",
            min=1,
            max=22,
            help="How many default symbols when --symbols is not given.",
        ),
    ] = 8,
    duration: Annotated[
        float | None,
        typer.Option(
            help="Hours to run: market hours in paper (default 6), wall-clock hours "
            "in demo / live (default: until Ctrl-C).",
            min=0.001,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market and simulator.")] = 7,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the summary as JSON here.")
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option(help="Serve /metrics and /health on 127.0.0.1:PORT (0: off).", min=0),
    ] = 0,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            help="Paper in real time against a running `quantum sim-exchange serve` "
            "(e.g. http://127.0.0.1:8765) instead of the built-in stepped market."
        ),
    ] = None,
    i_understand_live: Annotated[
        bool, typer.Option("--i-understand-live", help="Required to trade real money.")
    ] = False,
    processes: Annotated[
        bool,
        typer.Option(
            "--processes",
            help="Paper: every service as its own process (checked "
            "by the same independent invariant checker as `quantum chaos`).",
        ),
    ] = False,
    panic_flatten_after: Annotated[
        float | None,
        typer.Option(
            help="Close every position at market after this many seconds with no "
            "working exit path (off by default).",
            min=1.0,
        ),
    ] = None,
) -> None:
    """Run every service against the exchange; print a summary at the end."""
    from quantum_trader.cli import fail, settings
    from quantum_trader.ops.paper_run import PaperRun, PaperRunConfig

    s = settings()
    if mode in (Mode.DEMO, Mode.LIVE) or exchange_url:
        _run_real_time(
            s,
            mode,
            _symbols(symbols, count),
            duration,
            exchange_url,
            i_understand_live,
            json_path,
            panic_flatten_after,
        )
        return
    if mode is not Mode.PAPER:
        raise fail(f"--mode {mode.value}: use `quantum backtest` for backtests")
    duration = 6.0 if duration is None else duration
    if processes:
        _run_processes(_symbols(symbols, count), duration, seed, json_path)
        return
    config = PaperRunConfig(
        symbols=_symbols(symbols, count),
        hours=duration,
        seed=seed,
        metrics_port=metrics_port,
        panic_flatten_after_s=panic_flatten_after,
    )
    with Progress(
        TextColumn("[bold]paper[/] market minutes"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("run", total=int(duration * 60) + 1)
        run = PaperRun(s, config, on_step=lambda done, total: progress.update(task, completed=done))
        try:
            summary = asyncio.run(run.run())
        except ValueError as exc:
            raise fail(str(exc)) from None
    show(summary)
    if json_path:
        json_path.write_text(json.dumps(summary.to_json(), indent=2))
        console.print(f"summary written to {json_path}")
    console.print(
        f"next: the trade journal is {s.data_dir / 'journal.sqlite'} "
        "(sqlite3 … 'select * from closed_positions'); [cyan]quantum status[/] shows a running "
        "system (QUANTUM_REDIS_URL); [cyan]quantum run --metrics-port 9108[/] serves "
        "/metrics and /health while it runs"
    )
    if summary.violations:
        raise typer.Exit(1)


def _run_real_time(
    s: object,
    mode: Mode,
    symbols: tuple[str, ...],
    duration: float | None,
    exchange_url: str | None,
    i_understand_live: bool,
    json_path: Path | None,
    panic_flatten_after: float | None = None,
) -> None:
    from quantum_trader.cli import fail
    from quantum_trader.config import Settings
    from quantum_trader.exchange.interface import ExchangeError
    from quantum_trader.ops.live_run import LiveRunConfig, run_live

    assert isinstance(s, Settings)
    if mode is Mode.LIVE and not i_understand_live:
        raise fail("--mode live trades real money: add --i-understand-live to confirm")
    venues: dict[Mode, Literal["sim", "demo", "live"]] = {
        Mode.PAPER: "sim",
        Mode.DEMO: "demo",
        Mode.LIVE: "live",
    }
    config = LiveRunConfig(
        mode=venues[mode],
        symbols=symbols,
        hours=duration,
        exchange_url=exchange_url,
        i_understand_live=i_understand_live,
        panic_flatten_after_s=panic_flatten_after,
    )
    try:
        result = asyncio.run(run_live(s, config, say=console.print))
    except (ValueError, ExchangeError, OSError) as exc:
        raise fail(f"--mode {mode.value}: {exc}") from None
    console.print(result)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2))


def _run_processes(
    symbols: tuple[str, ...], hours: float, seed: int, json_path: Path | None
) -> None:
    """The same orchestration as `quantum chaos`, with no fault scheduled."""
    from quantum_trader.ops.chaos.cli import show as show_report
    from quantum_trader.ops.chaos.run import ChaosConfig, ChaosRun

    config = ChaosConfig(symbols=symbols, hours=hours, seed=seed, kinds=(), per_kind=0)
    with console.status("paper run, one process per service") as status:
        run = ChaosRun(
            config,
            on_step=lambda done, total: status.update(
                f"paper run, one process per service: market minute {done}/{total}"
            ),
        )
        report = asyncio.run(run.run())
    show_report(report)
    if json_path:
        json_path.write_text(json.dumps(report.to_json(), indent=2))
    if report.violations_total:
        raise typer.Exit(1)


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
        ("skipped by reason", _fmt(summary.skipped_by_reason)),
        ("realized PnL (USDT)", summary.realized_pnl),
        ("fees (USDT)", summary.fees),
        ("funding (USDT)", summary.funding),
        ("open positions", str(summary.open_positions)),
        ("dead letters", str(summary.dead_letters)),
        ("restarts", str(summary.restarts)),
        ("reconcile repairs", str(summary.reconcile_repairs)),
    ]
    for name, value in summary.invariants.items():
        rows.append((f"invariant: {name}", str(value)))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "—"
