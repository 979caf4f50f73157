"""``quantum backtest``: run a strategy over historical or synthetic bars and report.

Registered by the root app with ``app.command("backtest")(backtest_command)``. Bad input
ends with one line naming the option and the fix, never a traceback.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.metrics import summarize
from quantum_trader.backtest.plots import html_report, png_report
from quantum_trader.backtest.report import summary_table, write_json
from quantum_trader.backtest.runner import (
    BacktestRequest,
    BacktestRun,
    FillModel,
    InputError,
    run_backtest,
)
from quantum_trader.data import BarSeries, DataError
from quantum_trader.decide.exit_brain import ExitConfig
from quantum_trader.decide.harvest_ladder import HarvestConfig, Tranche
from quantum_trader.decide.kill_score import KillScoreConfig
from quantum_trader.domain.enums import PlanAction
from quantum_trader.exchange.sim import SlippageModel
from quantum_trader.strategies import available

console = Console()
err_console = Console(stderr=True)
LONG_RUN_BARS = 200_000  # show a progress bar above this many bars


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _decimal(option: str, text: str | None, *, low: Decimal, high: Decimal) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(option, f"{text!r} is not a number") from None
    if not value.is_finite() or not low <= value <= high:
        raise InputError(option, f"{text} is outside [{low}, {high}]")
    return value


def parse_ladder(text: str) -> HarvestConfig:
    """``"1:25,2:25,3:25"``: take PARTIAL_<pct> at each R (pct 25, 50 or 75)."""
    tranches = []
    for part in text.split(","):
        at_r, _, pct = part.strip().partition(":")
        try:
            action = PlanAction(f"PARTIAL_{int(pct)}")
            tranches.append(Tranche(Decimal(at_r), action))
        except (ValueError, InvalidOperation):
            raise InputError(
                "--ladder", f"bad rung {part!r}; write R:PCT pairs like 1:25,2:25,3:50"
            ) from None
    try:
        return HarvestConfig(tranches=tuple(tranches))
    except ValueError as exc:
        raise InputError("--ladder", str(exc)) from None


def parse_params(items: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError("--param", f"{item!r} must look like name=value")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def build_request(
    strategy: str,
    data: Path | None,
    synthetic: bool,
    symbols: str | None,
    timeframe: str | None,
    days: int | None,
    start: str | None,
    end: str | None,
    balance: str | None,
    fee: str | None,
    slippage: int,
    leverage: int,
    ladder: str | None,
    kill_threshold: str | None,
    seed: int,
    fill_model: FillModel,
    params: list[str],
) -> BacktestRequest:
    if strategy not in available():
        raise InputError("--strategy", f"unknown {strategy!r}; known: {', '.join(available())}")
    if data is not None and synthetic:
        raise InputError("--synthetic", "give either --data PATH or --synthetic, not both")
    if not 1 <= leverage <= 125:
        raise InputError("--leverage", f"{leverage} is outside 1..125")
    if slippage < 0:
        raise InputError("--slippage", "ticks of slippage cannot be negative")
    money = _decimal("--balance", balance, low=Decimal("1"), high=Decimal("1e12"))
    fee_rate = _decimal("--fee", fee, low=Decimal(0), high=Decimal("0.01"))
    exits = ExitConfig()
    if ladder is not None:
        exits = ExitConfig(harvest=parse_ladder(ladder), kill=exits.kill)
    threshold = _decimal("--kill-threshold", kill_threshold, low=Decimal(0), high=Decimal(1))
    if threshold is not None:
        exits = ExitConfig(harvest=exits.harvest, kill=KillScoreConfig(threshold=threshold))
    defaults = EngineConfig()
    engine = EngineConfig(
        balance=money if money is not None else defaults.balance,
        taker_fee=fee_rate if fee_rate is not None else defaults.taker_fee,
        leverage=leverage,
        slippage=SlippageModel(half_spread_ticks=slippage),
        exits=exits,
        seed=seed,
    )
    names = tuple(s.strip().upper() for s in (symbols or "").split(",") if s.strip())
    return BacktestRequest(
        strategy=strategy,
        data=data,
        synthetic=synthetic,
        symbols=names,
        timeframe=timeframe,
        days=days,
        start=start,
        end=end,
        seed=seed,
        fill_model=fill_model,
        balance=money,
        fee=fee_rate,
        params=parse_params(params),
        engine=engine,
    )


def backtest_command(
    strategy: Annotated[str, typer.Option(help="Strategy name (see `available()`).")],
    data: Annotated[
        Path | None,
        typer.Option(help="Binance kline file (SYMBOL-INTERVAL-….csv/.zip), directory or Parquet."),
    ] = None,
    synthetic: Annotated[bool, typer.Option(help="Generate a seeded synthetic market.")] = False,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols.")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Bar interval, e.g. 1m, 5m, 1h.")] = None,
    days: Annotated[
        int | None, typer.Option(help="Synthetic: days to generate; files: keep the last N days.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="Day after the last, YYYY-MM-DD (UTC).")] = None,
    balance: Annotated[
        str | None, typer.Option(help="Starting USDT (reference 100000, engine 10000).")
    ] = None,
    fee: Annotated[
        str | None, typer.Option(help="Taker fee rate (reference 0.0004, engine 0.0005).")
    ] = None,
    slippage: Annotated[int, typer.Option(help="Engine: half-spread ticks per market fill.")] = 1,
    leverage: Annotated[int, typer.Option(help="Engine: leverage, 1..125.")] = 5,
    ladder: Annotated[
        str | None, typer.Option(help="Harvest ladder R:PCT pairs, e.g. 1:25,2:25,3:25.")
    ] = None,
    kill_threshold: Annotated[
        str | None, typer.Option(help="Exit-brain kill-score threshold, 0..1.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for synthetic data and the exchange.")] = 0,
    fill_model: Annotated[
        FillModel, typer.Option(help="auto: reference for ref_ema_cross, else exchange.")
    ] = FillModel.AUTO,
    param: Annotated[
        list[str] | None, typer.Option(help="Strategy parameter name=value (repeatable).")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write summary and trades as JSON here.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write an interactive HTML report (and a PNG) here.")
    ] = None,
) -> None:
    """Backtest a strategy on the same decision code the services run."""
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        raise _fail(f"--report: {report} must end in .html")
    try:
        request = build_request(
            strategy, data, synthetic, symbols, timeframe, days, start, end, balance, fee,
            slippage, leverage, ladder, kill_threshold, seed, fill_model, param or [],
        )  # fmt: skip
        run = _run_with_progress(request)
    except (InputError, DataError) as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:  # a strategy or config rejected a parameter
        raise _fail(f"--param: {exc}") from None
    result = run.result
    summary = summarize(result, run.series[result.symbols[0]].interval_ms)
    summary["fill_model"] = run.fill_model.value
    console.print(summary_table(summary, run.seconds))
    if json_path is not None:
        console.print(f"trades and summary: {write_json(json_path, result, summary)}")
    if report is not None:
        title = f"{result.strategy} on {', '.join(result.symbols)} ({result.interval})"
        console.print(f"report: {html_report(report, result, run.series, title)}")
        png = png_report(report.with_suffix(".png"), result, title)
        if png is None:
            console.print("PNG skipped: matplotlib is not installed (pip install matplotlib)")
        else:
            console.print(f"image: {png}")


def _run_with_progress(request: BacktestRequest) -> BacktestRun:
    """Run, with a progress bar when the replay is long."""
    progress = Progress(
        TextColumn("backtest"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(), console=err_console, transient=True,
    )  # fmt: skip
    task = progress.add_task("replay", total=1)
    shown = False

    def loaded(series: list[BarSeries]) -> None:
        nonlocal shown
        shown = sum(len(s) for s in series) >= LONG_RUN_BARS
        if shown:
            progress.start()

    def advance(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    try:
        return run_backtest(request, advance, loaded)
    finally:
        if shown:
            progress.stop()
