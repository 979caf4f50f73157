"""``quantum backtest``: run a strategy over historical or synthetic bars and report.

Registered by the root app with ``app.command("backtest")(backtest_command)``. Bad input
ends with one line naming the option and the fix, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from quantum_trader.backtest.metrics import summarize
from quantum_trader.backtest.plots import html_report, png_report
from quantum_trader.backtest.profile import profile_of
from quantum_trader.backtest.report import summary_table, write_json
from quantum_trader.backtest.runner import (
    BacktestRequest,
    BacktestRun,
    InputError,
    LoadedBars,
    run_backtest,
)
from quantum_trader.bootstrap import engine_config
from quantum_trader.cli_checks import writable_output
from quantum_trader.cli_context import settings as context_settings
from quantum_trader.config import Settings
from quantum_trader.data import DataError, binance_interval, interval_ms
from quantum_trader.decide.harvest_ladder import HarvestConfig, Tranche
from quantum_trader.domain.enums import PlanAction
from quantum_trader.exchange.sim import SlippageModel
from quantum_trader.exchange.sim.universe import UnlistedSymbol, derive_missing, describe_derived
from quantum_trader.strategies import available
from quantum_trader.strategies.base import ExitRules

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


def parse_symbols(text: str | None) -> tuple[str, ...]:
    """``--symbols``: a comma list; given but empty is an error, not "the default"."""
    if text is None:
        return ()
    names = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    if not names:
        raise InputError("--symbols", "is empty; give a comma list such as BTCUSDT,ETHUSDT")
    bad = [n for n in names if not n.isalnum()]
    if bad:
        raise InputError("--symbols", f"{', '.join(bad)}: write symbols like BTCUSDT")
    if len(set(names)) != len(names):
        raise InputError("--symbols", "each symbol may appear once")
    return names


def _interval(option: str, text: str) -> str:
    try:
        return binance_interval(text)
    except DataError as exc:
        raise InputError(option, str(exc)) from None


def file_options(
    data: Path | None, repair: bool, symbol: str | None, interval: str | None
) -> tuple[str | None, str | None]:
    """Check --repair / --symbol / --interval against --data; the name and interval to use."""
    if repair and data is None:
        raise InputError("--repair", "repairs --data files; synthetic bars need no repair")
    if symbol is None and interval is None:
        return None, None
    option = "--symbol" if symbol is not None else "--interval"
    if data is None or not data.is_file():
        raise InputError(
            option, "names the series in one --data FILE; a directory's files must be "
            "named like BTCUSDT-1m-2024-01.zip",
        )  # fmt: skip
    name = symbol.strip().upper() if symbol is not None else None
    if name is not None and not name.isalnum():
        raise InputError("--symbol", f"{symbol!r}: write a symbol like BTCUSDT")
    return name, _interval("--interval", interval) if interval is not None else None


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


def parse_strategies(text: str | None, settings: Settings) -> tuple[str, ...]:
    """``--strategy``: one name or a comma list; omitted, the configured strategies (the
    set ``quantum run`` trades, in its order)."""
    if text is None:
        return settings.strategies.names
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in available()]
    if not names or unknown:
        shown = repr(unknown[0]) if unknown else "empty"
        raise InputError("--strategy", f"unknown {shown}; known: {', '.join(available())}")
    if len(set(names)) != len(names):
        raise InputError("--strategy", "each strategy may appear once")
    return names


def build_request(
    strategy: str | None,
    data: Path | None,
    synthetic: bool,
    symbols: str | None,
    timeframe: str | None,
    days: int | None,
    start: str | None,
    end: str | None,
    balance: str | None,
    fee: str | None,
    slippage: int | None,
    leverage: int | None,
    ladder: str | None,
    kill_threshold: str | None,
    seed: int,
    strategy_rules: bool,
    params: list[str],
    files: tuple[bool, str | None, str | None] = (False, None, None),
    settings: Settings | None = None,
) -> BacktestRequest:
    """``files``: (--repair, --symbol, --interval) for --data. What an option leaves
    unsaid comes from ``settings``, as for ``quantum run``: the strategies, the universe
    and interval of a synthetic market, and every decision parameter."""
    settings = settings or Settings()
    strategies = parse_strategies(strategy, settings)
    names = parse_symbols(symbols)
    if synthetic and not names:
        names = settings.trading_symbols
    if timeframe is not None:
        timeframe = _interval("--timeframe", timeframe)
    elif synthetic and settings.strategies.interval != "1m":
        timeframe = settings.strategies.interval
    if data is not None and synthetic:
        raise InputError("--synthetic", "give either --data PATH or --synthetic, not both")
    if leverage is not None and not 1 <= leverage <= 125:
        raise InputError("--leverage", f"{leverage} is outside 1..125")
    if slippage is not None and slippage < 0:
        raise InputError("--slippage", "ticks of slippage cannot be negative")
    money = _decimal("--balance", balance, low=Decimal("1"), high=Decimal("1e12"))
    fee_rate = _decimal("--fee", fee, low=Decimal(0), high=Decimal("0.01"))
    exits = settings.exits
    if ladder is not None:
        exits = replace(exits, harvest=parse_ladder(ladder))
    threshold = _decimal("--kill-threshold", kill_threshold, low=Decimal(0), high=Decimal(1))
    if threshold is not None:
        exits = replace(exits, kill=replace(exits.kill, threshold=threshold))
    account: dict[str, object] = {"exits": exits, "seed": seed, "strategy_rules": strategy_rules}
    if money is not None:
        account["balance"] = money
    if fee_rate is not None:
        account["taker_fee"] = fee_rate
    if leverage is not None:
        account["leverage"] = leverage
    if slippage is not None:
        account["slippage"] = replace(SlippageModel(), half_spread_ticks=slippage)
    try:
        engine = engine_config(settings, **account)
    except ValueError as exc:
        raise InputError("--config", str(exc)) from None
    if params and len(strategies) > 1:
        raise InputError("--param", "sets one strategy's parameters; give one --strategy")
    repair, file_symbol, file_interval = files
    return BacktestRequest(
        strategy=strategies[0] if len(strategies) == 1 else strategies,
        data=data,
        synthetic=synthetic,
        symbols=names,
        timeframe=timeframe,
        days=days,
        start=start,
        end=end,
        seed=seed,
        balance=money,
        fee=fee_rate,
        params=parse_params(params),
        engine=engine,
        repair=repair,
        symbol=file_symbol,
        interval=file_interval,
    )


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
        Path | None, typer.Option("--json", help="Write summary and trades as JSON here.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write an interactive HTML report (and a PNG) here.")
    ] = None,
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
        run = _run_with_progress(request, lambda loaded: check_loaded(loaded, request))
    except (InputError, DataError) as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:  # a strategy or config rejected a parameter
        raise _fail(f"--param: {exc}") from None
    for r in run.files if repair else []:
        _note(f"--repair: {r.series.symbol} {r.series.interval}: {r.repair.describe()}")
    result = run.result
    summary = summarize(result, run.series[result.symbols[0]].interval_ms)
    summary["rules"] = "strategy" if run.strategy_rules else "system"
    summary["settings"] = settings.masked()
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
