"""``quantum run`` and ``quantum demo``: the whole system in one command."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from quantum_trader.cli.checks import finite, free_port_or_off, writable_output
from quantum_trader.cli.dashboard import listenable_port
from quantum_trader.cli.run_output import show, show_mapping
from quantum_trader.config import Mode
from quantum_trader.data.bars import interval_ms
from quantum_trader.ops.run_summary import RunSummary

if TYPE_CHECKING:
    from quantum_trader.cli.dashboard import RunDashboard
    from quantum_trader.config import Settings
    from quantum_trader.ops.paper_run import PaperRun

console = Console()
err_console = Console(stderr=True)


def _symbols(text: str | None, count: int) -> tuple[str, ...]:
    from quantum_trader.config import DEFAULT_SYMBOLS
    from quantum_trader.data.symbols import DEFAULT_SYMBOLS as UNIVERSE

    if text is not None:
        chosen = tuple(s.strip().upper() for s in text.split(",") if s.strip())
        if not chosen:
            raise typer.BadParameter(
                "give at least one symbol, e.g. BTCUSDT,ETHUSDT", param_hint="--symbols"
            )
        return chosen
    pool = list(DEFAULT_SYMBOLS) + [s for s in UNIVERSE if s not in DEFAULT_SYMBOLS]
    return tuple(pool[:count])


def run_command(
    mode: Annotated[
        Mode | None,
        typer.Option(help="paper (simulated exchange), demo or live (default: QUANTUM_MODE)."),
    ] = None,
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
            callback=finite,  # inf and nan pass min=; refuse them while parsing
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market and simulator.")] = 7,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the summary as JSON here.")
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option(
            help="Serve /metrics and /health on 127.0.0.1:PORT (0: off).",
            min=0,
            max=65535,
            callback=free_port_or_off,
        ),
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
    cancel_foreign_orders: Annotated[
        bool,
        typer.Option(
            "--cancel-foreign-orders",
            help="demo / live: cancel open orders on the traded symbols that this system "
            "did not place (without it the run refuses to start and lists them).",
        ),
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Paper: replay these kline files (a Binance dump, a directory of them, "
            "or Parquet, as `quantum backtest --data` reads) instead of the synthetic "
            "market; every symbol in them unless --symbols; all of it unless --duration.",
        ),
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            help="Paper: accelerated real time, X market seconds per wall second (60: a "
            "1m bar a second), to watch a run in `quantum status`, metrics or a "
            "dashboard. Default: stepped, as fast as the system settles.",
            min=0.01,
        ),
    ] = None,
    dashboard: Annotated[
        int,
        typer.Option(
            "--dashboard",
            help="Paper: serve the operator's dashboard for this run on 127.0.0.1:PORT "
            "(0: off; use it with --speed to watch). Other runs: `quantum dashboard`.",
            min=0,
            max=65535,
            callback=listenable_port,
        ),
    ] = 0,
) -> None:
    """Run every service against the exchange; print a summary at the end."""
    from quantum_trader.cli.context import fail, settings
    from quantum_trader.infra.data_dir import DataDirError
    from quantum_trader.infra.embedded_redis import EmbeddedRedisError
    from quantum_trader.ops.paper_run import PaperRun, PaperRunConfig

    s = settings(mode=mode)
    mode = s.mode
    writable_output(json_path, "--json")  # before the run, not after hours of it
    if dashboard and (mode in (Mode.DEMO, Mode.LIVE) or exchange_url or processes):
        raise fail(
            "--dashboard serves a paper run in this process; for this run start "
            "`quantum dashboard` in another terminal"
        )
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
            metrics_port,
            cancel_foreign_orders,
        )
        return
    if mode is not Mode.PAPER:
        raise fail(f"--mode {mode.value}: use `quantum backtest` for backtests")
    data_hours = duration
    duration = 6.0 if duration is None else duration
    if processes:
        _run_processes(s, _symbols(symbols, count), duration, seed, json_path, metrics_port)
        return
    config = PaperRunConfig(
        symbols=(_symbols(symbols, count) if symbols is not None or data is None else ()),
        hours=duration,
        data=data,
        data_hours=data_hours,
        seed=seed,
        speed=speed,
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
        minutes_per_bar = interval_ms(s.strategies.interval) // 60_000
        bars = int(duration * 60 / minutes_per_bar) + 1 if data is None or data_hours else None
        task = progress.add_task("run", total=bars)
        run = PaperRun(
            s,
            config,
            on_step=lambda done, total: progress.update(task, completed=done, total=total),
        )
        served = None
        if dashboard:
            from quantum_trader.cli.dashboard import RunDashboard

            served = RunDashboard(s, dashboard, lambda line: console.print(line, highlight=False))
            served.attach(run)
        try:
            summary = run_until_signalled(run, served)
        except (ValueError, DataDirError, EmbeddedRedisError) as exc:
            raise fail(str(exc)) from None
    show(summary)
    if run.stop_reason:
        console.print(f"[yellow]stopped early[/] after {run.bars_run} bars: {run.stop_reason}")
    if json_path:
        json_path.write_text(json.dumps({**summary.to_json(), "settings": s.masked()}, indent=2))
        console.print(f"summary written to {json_path}")
    console.print(
        f"run {run.run_id}: its trades are in the journal {s.data_dir / 'journal.sqlite'} "
        "(sqlite3 … 'select * from closed_positions'); [cyan]quantum status[/] shows a "
        "running system; [cyan]quantum run --metrics-port 9108[/] serves /metrics and "
        "/health while it runs"
    )
    if run.stop_reason and run.stop_reason.startswith("error"):
        raise typer.Exit(1)
    if summary.violations:
        raise typer.Exit(1)


def run_until_signalled(run: PaperRun, dashboard: RunDashboard | None = None) -> RunSummary:
    """Run; the first SIGINT / SIGTERM stops new bars (and so new entries), lets the work
    in flight finish and still writes the summary (exit 0); a second one aborts. A
    ``--dashboard`` served beside the run stops with it."""

    async def main() -> RunSummary:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        seen: list[str] = []

        def on_signal(name: str) -> None:
            seen.append(name)
            if len(seen) == 1:
                run.request_stop(f"{name}: stopped by the operator")
                err_console.print(
                    f"{name}: finishing the bar in hand, then the summary "
                    "(send it again to abort without one)"
                )
            elif me is not None:
                me.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig.name)
        try:
            return await run.run()
        except asyncio.CancelledError:
            raise Aborted(seen[-1] if seen else "cancelled") from None
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if dashboard is not None:
                await dashboard.stop()

    try:
        return asyncio.run(main())
    except Aborted as exc:
        err_console.print(f"{exc}: aborted; no summary written")
        raise typer.Exit(143 if str(exc) == "SIGTERM" else 130) from None


class Aborted(Exception):
    """A second signal: the run was abandoned without its summary."""


def _run_real_time(
    s: object,
    mode: Mode,
    symbols: tuple[str, ...],
    duration: float | None,
    exchange_url: str | None,
    i_understand_live: bool,
    json_path: Path | None,
    panic_flatten_after: float | None = None,
    metrics_port: int = 0,
    cancel_foreign_orders: bool = False,
) -> None:
    from quantum_trader.cli.context import fail
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
        metrics_port=metrics_port,
        cancel_foreign_orders=cancel_foreign_orders,
    )
    try:
        result = asyncio.run(run_live(s, config, say=console.print))
    except (ValueError, ExchangeError, OSError) as exc:
        raise fail(f"--mode {mode.value}: {exc}") from None
    show_mapping(f"Quantum Trader {mode.value} run {result['run_id']} (this run only)", result)
    if json_path:
        json_path.write_text(json.dumps({**result, "settings": s.masked()}, indent=2))


def _run_processes(
    s: Settings,
    symbols: tuple[str, ...],
    hours: float,
    seed: int,
    json_path: Path | None,
    metrics_port: int,
) -> None:
    """The orchestration `quantum chaos` runs, with nothing done to it; it holds the
    data directory and records its Redis and namespace so `quantum status` finds it."""
    from quantum_trader.bootstrap import check_serving, trading_config
    from quantum_trader.cli.context import fail
    from quantum_trader.infra import data_dir
    from quantum_trader.ops.stepped.faults import RunConfig
    from quantum_trader.ops.stepped.run import SteppedRun
    from quantum_trader.ops.stepped.summary import processes_summary

    try:  # a model with nothing to serve is one line here, not a service that never starts
        check_serving(trading_config(s, symbols).signal)
    except ValueError as exc:
        raise fail(str(exc)) from None
    run_id = data_dir.new_run_id()
    prefix = f"{s.key_prefix}run-{run_id}:"
    config = RunConfig(symbols=symbols, hours=hours, seed=seed, key_prefix=prefix)
    try:
        with (
            data_dir.hold(
                s.data_dir, command="quantum run --processes", run_id=run_id, key_prefix=prefix
            ),
            console.status("paper run, one process per service") as status,
        ):
            run = SteppedRun(
                config,
                on_step=lambda done, total: status.update(
                    f"paper run, one process per service: market minute {done}/{total}"
                ),
                on_redis=lambda url: data_dir.update(s.data_dir, redis_url=url),
                metrics_port=metrics_port,
                run_id=run_id,
                settings=s,
            )
            report = asyncio.run(run.run())
    except data_dir.DataDirError as exc:
        raise fail(str(exc)) from None
    assert run.evidence is not None
    summary = processes_summary(
        report,
        run.evidence,
        mode="paper",
        hours=hours,
        symbols=list(symbols),
        run_id=run_id,
        closes_by_reason=run.closes_by_reason,
        intents_rejected=run.intents_rejected,
        reconcile_repairs=run.repairs,
        trades=run.trades,
        models=run.models,
    )
    shown = {k: v for k, v in summary.items() if k != "trades"}
    shown["closed positions (trades in --json)"] = len(summary["trades"])
    show_mapping(f"Quantum Trader paper run {run_id}, one process per service", shown)
    if json_path:
        json_path.write_text(json.dumps({**summary, "settings": s.masked()}, indent=2))
    if report.violations_total:
        raise typer.Exit(1)
