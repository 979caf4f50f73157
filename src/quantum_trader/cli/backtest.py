"""``quantum backtest``: run a strategy over historical or synthetic bars and report.

Registered by the root app with ``app.command("backtest")(backtest_command)``. Bad input
ends with one line naming the option and the fix, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from quantum_trader.backtest.breakdowns import breakdowns
from quantum_trader.backtest.lookahead_changes import DEFAULT_SAMPLES, LookaheadReport
from quantum_trader.backtest.metrics import summarize
from quantum_trader.backtest.plots import png_report, report_view
from quantum_trader.backtest.profile import profile_of
from quantum_trader.backtest.report import (
    breakdown_table,
    lookahead_tables,
    summary_table,
    write_json,
)
from quantum_trader.backtest.report_html import html_report
from quantum_trader.backtest.runner import (
    BacktestRequest,
    BacktestRun,
    InputError,
    LoadedBars,
    lookahead_check,
    run_backtest,
)
from quantum_trader.cli.backtest_output import (
    check_view,
    lookahead_samples,
    parse_window,
    report_symbol,
)
from quantum_trader.cli.backtest_request import build_request, file_options
from quantum_trader.cli.checks import writable_output
from quantum_trader.cli.context import settings as context_settings
from quantum_trader.data import BarSeries, DataError, interval_ms
from quantum_trader.domain.enums import ExitRules
from quantum_trader.domain.timefmt import iso_utc
from quantum_trader.exchange.sim.universe import UnlistedSymbol, derive_missing, describe_derived
from quantum_trader.strategies import ModelStrategy, available

console = Console()
err_console = Console(stderr=True)
LONG_RUN_BARS = 200_000  # show a progress bar above this many bars
STRATEGY_HELP = (
    f"Strategy, or a comma list traded together: {', '.join(available())} (or a registered "
    "plugin). Default: the configured strategies (QUANTUM_STRATEGIES__NAMES), as `quantum "
    "run` trades them."
)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _note(message: str, label: str = "note") -> None:
    err_console.print(f"[yellow]{label}:[/] {escape(message)}", highlight=False, soft_wrap=True)


def ignored_options(ctx: typer.Context, request: BacktestRequest) -> list[str]:
    """Options given on the command line that the strategy's own rules override."""
    rules = profile_of(request.strategy, request.params) if request.engine.strategy_rules else None
    if rules is None:
        return []
    names = ["ladder", "kill_threshold"] if rules.exits is ExitRules.FIXED else []
    names += [
        n for n, fixed in (("leverage", rules.leverage), ("slippage", not rules.slippage)) if fixed
    ]
    given = [n for n in names if (src := ctx.get_parameter_source(n)) and src.name != "DEFAULT"]
    return ["--" + n.replace("_", "-") for n in given]


def check_loaded(loaded: LoadedBars, request: BacktestRequest) -> None:
    """Before the replay: one interval, every symbol tradable on the simulated exchange
    (listed, or derived from its bars; a non-…USDT symbol is refused by name), and a
    warning for every file with suspect prices."""
    series = loaded.series
    names = {s.symbol for s in series}
    for result in loaded.files:
        warning = result.quality.warning()
        if warning and result.series.symbol in names:
            _note(f"--data: {warning}", "warning")
    intervals = sorted({s.interval for s in series}, key=interval_ms)
    if len(intervals) > 1:
        found = ", ".join(f"{s.symbol} {s.interval}" for s in series)
        raise InputError(
            "--data", f"the series have different intervals ({found}); add --timeframe "
            f"{intervals[-1]} to resample them all to one, or give files of one interval",
        )  # fmt: skip
    prices = {s.symbol: np.concatenate([s.open, s.high, s.low, s.close]) for s in series}
    try:
        derived = derive_missing(prices)
    except UnlistedSymbol as exc:
        option = "--symbols" if request.synthetic else "--data"
        raise InputError(option, f"{exc}; give data for such a symbol") from None
    for instrument in derived:
        _note(describe_derived(instrument))


def backtest_command(
    ctx: typer.Context,
    strategy: Annotated[str | None, typer.Option(help=STRATEGY_HELP)] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Binance kline file (SYMBOL-INTERVAL-….csv/.zip), directory or Parquet."),
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Repair --data before the run: sort, drop exact duplicates, fill gaps "
            "with flat bars (what `quantum data inspect --repair` reports).",
        ),
    ] = False,
    symbol: Annotated[
        str | None,
        typer.Option(help="Symbol of a --data FILE not named like a Binance dump."),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(
            help="Bar interval of a --data FILE not named like a Binance dump "
            "(--timeframe resamples it)."
        ),
    ] = None,
    synthetic: Annotated[bool, typer.Option(help="Generate a seeded synthetic market.")] = False,
    symbols: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated symbols (synthetic default: the configured "
            "QUANTUM_TRADING_SYMBOLS; files: every symbol found)."
        ),
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option(
            help="Bar interval to trade, e.g. 1m, 5m, 1h (synthetic default: the "
            "configured strategies.interval; files: their own)."
        ),
    ] = None,
    days: Annotated[
        int | None, typer.Option(help="Synthetic: days to generate; files: keep the last N days.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="Day after the last, YYYY-MM-DD (UTC).")] = None,
    balance: Annotated[
        str | None,
        typer.Option(
            help="Starting USDT (default: the strategy's, ref_ema_cross 100000; else 10000)."
        ),
    ] = None,
    fee: Annotated[
        str | None,
        typer.Option(
            help="Taker fee rate (default: the strategy's, ref_ema_cross 0.0004; else the "
            "configured sizing.taker_fee_rate)."
        ),
    ] = None,
    slippage: Annotated[
        int | None, typer.Option(help="Half-spread ticks per market fill (default 1).")
    ] = None,
    leverage: Annotated[
        int | None, typer.Option(help="Leverage, 1..125 (default: sizing.leverage).")
    ] = None,
    ladder: Annotated[
        str | None,
        typer.Option(
            help="Harvest ladder R:PCT pairs, e.g. 1:25,2:25,3:25 (default: exits.harvest)."
        ),
    ] = None,
    kill_threshold: Annotated[
        str | None,
        typer.Option(help="Exit-brain kill-score threshold, 0..1 (default: exits.kill)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for synthetic data and the exchange.")] = 0,
    strategy_rules: Annotated[
        bool,
        typer.Option(
            help="Apply the strategy's own execution rules, if it has any (ref_ema_cross: "
            "full-equity entries, fixed stop/target filled at their levels); "
            "--no-strategy-rules trades its signals with the system's sizing and exits."
        ),
    ] = True,
    param: Annotated[
        list[str] | None, typer.Option(help="Strategy parameter name=value (repeatable).")
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write the summary (with its breakdowns), the trades and, with "
            "--lookahead-check, the check's findings as JSON here.",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write an interactive HTML report here (a PNG, and plotly.js once, beside "
            "it): metrics, breakdowns, price with entries, exits and stops, equity, monthly "
            "returns."
        ),
    ] = None,
    report_symbol_: Annotated[
        str | None,
        typer.Option(
            "--report-symbol",
            help="Symbol the report's price chart shows (default: the one with the most trades).",
        ),
    ] = None,
    report_window: Annotated[
        str | None,
        typer.Option(
            help="START/END of the report's price chart, ISO dates or times UTC, e.g. "
            "2024-01-08/2024-01-15 (default: that symbol's busiest week)."
        ),
    ] = None,
    lookahead: Annotated[
        bool,
        typer.Option(
            "--lookahead-check",
            help="Also check that no signal (and no model feature) reads a later bar: "
            "recompute them on the data cut at sampled signal bars and bar by bar, list "
            "every value that changes (--json: `lookahead`); exit code 1 if any did.",
        ),
    ] = False,
    samples: Annotated[
        int,
        typer.Option(
            "--lookahead-samples",
            help="Signal bars per strategy and symbol (the model: per universe) recomputed "
            "on data cut at their bar: all of them when there are fewer, else the first, "
            "the last and a seeded sample; 0: all.",
        ),
    ] = DEFAULT_SAMPLES,
) -> None:
    """Backtest a strategy on the same decision code the services run."""
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        raise _fail(f"--report: {report} must end in .html")
    try:  # output paths are checked before the run, so it cannot end in an unwritable one
        writable_output(json_path, "--json")
        writable_output(report, "--report")
    except typer.BadParameter as exc:
        raise _fail(exc.format_message()) from None
    settings = context_settings()
    try:
        view_symbol, window = report_symbol(report_symbol_), parse_window(report_window)
        samples = lookahead_samples(samples)
        if report is None and (view_symbol or window):
            given = "--report-symbol" if view_symbol else "--report-window"
            raise InputError(given, "chooses what --report draws; add --report PATH.html")
        file_symbol, file_interval = file_options(data, repair, symbol, interval)
        request = build_request(
            strategy, data, synthetic, symbols, timeframe, days, start, end, balance, fee,
            slippage, leverage, ladder, kill_threshold, seed, strategy_rules, param or [],
            (repair, file_symbol, file_interval), settings,
        )  # fmt: skip
        ignored = ignored_options(ctx, request)
        if ignored:
            _note(
                f"{request.strategy} trades by its own rules and ignores {', '.join(ignored)}; add "
                "--no-strategy-rules to trade its signals with the system's sizing and exits",
                "warning",
            )

        def check(loaded: LoadedBars) -> None:
            check_loaded(loaded, request)
            check_view(view_symbol, window, loaded.series)

        run = _run_with_progress(request, check)
    except (InputError, DataError) as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:  # a strategy or config rejected a parameter
        raise _fail(f"{'--param' if param else '--strategy'}: {exc}") from None
    for r in run.files if repair else []:
        _note(f"--repair: {r.series.symbol} {r.series.interval}: {r.repair.describe()}")
    result = run.result
    summary = summarize(result, run.series[result.symbols[0]].interval_ms)
    summary["rules"] = "strategy" if run.strategy_rules else "system"
    summary["breakdowns"] = breakdowns(result.trades)
    if request.strategy == ModelStrategy.name:  # which model traded, and on what
        summary["model_id"] = _model_notes(request, result.symbols, run.series)
    summary["settings"] = settings.masked()
    console.print(summary_table(summary, run.seconds))
    if result.trades:
        console.print(breakdown_table(summary))
    checked = _lookahead(run, request, samples) if lookahead else None
    if json_path is not None:
        console.print(f"trades and summary: {write_json(json_path, result, summary, checked)}")
    if report is not None:
        title = f"{result.strategy} on {', '.join(result.symbols)} ({result.interval})"
        view = report_view(result, run.series, view_symbol, window)
        console.print(f"report: {html_report(report, result, run.series, title, summary, view)}")
        png = png_report(report.with_suffix(".png"), result, run.series, view, title)
        if png is None:
            console.print("PNG skipped: matplotlib is not installed (pip install matplotlib)")
        else:
            console.print(f"image: {png}")
    if checked is not None and not checked.clean:
        raise typer.Exit(1)


def _lookahead(run: BacktestRun, request: BacktestRequest, samples: int) -> LookaheadReport:
    """The lookahead check of the run, its tables printed."""
    err_console.print("lookahead check: recomputing the signals on cut data …", highlight=False)
    try:
        checked = lookahead_check(run, request, samples)
    except (DataError, ValueError) as exc:  # bars or a strategy the check cannot take
        raise _fail(f"--lookahead-check: {exc}") from None
    for table in lookahead_tables(checked):
        console.print(table)
    return checked


def _model_notes(
    request: BacktestRequest, symbols: tuple[str, ...], series: dict[str, BarSeries]
) -> str:
    """The traded model's id; warnings when the bars are not new to it."""
    strategy = ModelStrategy(**request.params)  # type: ignore[arg-type]
    card = strategy.card
    if card is None:
        return strategy.model_id
    unseen = sorted(set(symbols) - set(card.symbols))
    if unseen:
        _note(f"model {card.model_id} was not trained on {', '.join(unseen)}", "warning")
    first = min(int(s.open_time[0]) for s in series.values())
    last = max(int(s.open_time[-1]) for s in series.values())
    if first < card.train_to_ms and last >= card.train_from_ms:
        _note(
            f"these bars overlap model {card.model_id}'s training window "
            f"({iso_utc(card.train_from_ms)} → {iso_utc(card.train_to_ms)}): this backtest "
            "is in sample; its out-of-sample evidence is in `quantum model show`",
            "warning",
        )
    return card.model_id


def _run_with_progress(
    request: BacktestRequest, check: Callable[[LoadedBars], None] | None = None
) -> BacktestRun:
    """Run, with a progress bar when the replay is long; ``check`` sees the bars first."""
    progress = Progress(
        TextColumn("backtest"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(), console=err_console, transient=True,
    )  # fmt: skip
    task = progress.add_task("replay", total=1)
    shown = False

    def loaded(bars: LoadedBars) -> None:
        nonlocal shown
        if check is not None:
            check(bars)
        shown = sum(len(s) for s in bars.series) >= LONG_RUN_BARS
        if shown:
            progress.start()

    def advance(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    try:
        return run_backtest(request, advance, loaded)
    finally:
        if shown:
            progress.stop()
