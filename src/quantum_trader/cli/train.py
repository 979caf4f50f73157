"""``quantum model train``: train, evaluate out of sample, register, promote on evidence.

The bars come as for ``quantum backtest`` (``--data`` files or ``--synthetic``), the
barriers, walk-forward and promotion rules from the ``model`` settings (``--horizon``,
``--folds`` override two of them), the account and every trading decision of the
out-of-sample backtest from the same settings ``quantum run`` trades with.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.runner import InputError, load_bars, load_funding
from quantum_trader.cli.backtest_request import build_request, file_options
from quantum_trader.cli.checks import writable_output
from quantum_trader.cli.context import fail, settings, usable_data_dir
from quantum_trader.clock import SystemClock
from quantum_trader.config import Settings
from quantum_trader.data import BarSeries, DataError
from quantum_trader.data.funding import FundingSeries
from quantum_trader.data.marks import MarkBars
from quantum_trader.domain.timefmt import iso_utc
from quantum_trader.model.registry import ModelError, Registry
from quantum_trader.model.walk_forward import FoldLayoutError
from quantum_trader.research.training import TrainingOutcome, TrainingRequest, train_model

console = Console()
err_console = Console(stderr=True)


def train_command(
    data: Annotated[
        Path | None,
        typer.Option(help="Binance kline file, directory of them, or Parquet (as for backtest)."),
    ] = None,
    synthetic: Annotated[bool, typer.Option(help="Train on a seeded synthetic market.")] = False,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols (default: all in --data).")
    ] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Bar interval to train on (resampled).")
    ] = None,
    days: Annotated[
        int | None, typer.Option(help="Synthetic: days to generate; files: the last N days.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="Day after the last, YYYY-MM-DD (UTC).")] = None,
    horizon: Annotated[
        int | None,
        typer.Option(help="Label horizon in bars (default: model.barrier.horizon_bars)."),
    ] = None,
    folds: Annotated[
        int | None, typer.Option(help="Walk-forward test folds (default: model.train.folds).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of a synthetic market and the exchange.")] = 0,
    funding_feature: Annotated[
        bool,
        typer.Option(
            "--funding-feature/--no-funding-feature",
            help="Learn from the funding rates the exchange settles: the fundingRate files "
            "beside --data, else the flat rate (which, constant, teaches nothing). The "
            "running system takes the same rates from the exchange.",
        ),
    ] = True,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the result as JSON here ('-': stdout).")
    ] = None,
) -> None:
    """Train a model over the universe; promote it only on out-of-sample evidence."""
    if json_path is not None and str(json_path) != "-":
        try:
            writable_output(json_path, "--json")
        except typer.BadParameter as exc:
            raise fail(exc.format_message()) from None
    s = settings()
    registry = Registry(usable_data_dir(s) / "models")
    model = s.model
    try:
        barrier = model.barrier if horizon is None else replace(model.barrier, horizon_bars=horizon)
        train = model.train if folds is None else replace(model.train, folds=folds)
    except ValueError as exc:
        raise fail(f"{'--horizon' if 'horizon' in str(exc) else '--folds'}: {exc}") from None
    try:
        series, funding, engine, marks = load_market(
            s, data, synthetic, symbols, interval, days, start, end, seed
        )
    except InputError as exc:  # the bar loader names backtest's --timeframe
        raise fail(str(exc).replace("--timeframe:", "--interval:", 1)) from None
    except DataError as exc:
        raise fail(str(exc)) from None
    request = TrainingRequest(
        series, barrier, train, engine, funding, funding_feature, model.promotion,
        model.drift.bins, marks=marks,
    )  # fmt: skip
    try:
        outcome = _train_with_progress(request, registry)
    except DataError as exc:
        raise fail(f"{exc} (give more --days, a shorter --horizon or fewer --folds)") from None
    except ModelError as exc:
        raise fail(f"training: {exc}") from None
    except FoldLayoutError as exc:  # a walk-forward that cannot be laid out on these bars
        raise fail(
            f"training: {exc}; give more --days, a shorter --horizon or fewer --folds"
        ) from None
    result = outcome.as_json()
    if json_path is not None:
        text = json.dumps(result, indent=2, allow_nan=False)
        if str(json_path) == "-":
            typer.echo(text)
            return
        json_path.write_text(text + "\n")
    console.print(_table(outcome))
    if json_path is not None:
        console.print(f"result: {json_path}")


Market = tuple[list[BarSeries], dict[str, FundingSeries], EngineConfig, MarkBars]


def load_market(
    s: Settings,
    data: Path | None,
    synthetic: bool,
    symbols: str | None,
    interval: str | None,
    days: int | None,
    start: str | None,
    end: str | None,
    seed: int,
) -> Market:
    """The bars, funding and account a model command works on, chosen as for backtest."""
    file_symbol, file_interval = file_options(data, False, None, None)
    backtest = build_request(
        None, data, synthetic, symbols, interval, days, start, end, None, None, None,
        None, None, None, seed, True, [], (False, file_symbol, file_interval), s,
    )  # fmt: skip
    loaded = load_bars(backtest)
    return loaded.series, load_funding(backtest, loaded.series), backtest.engine, loaded.marks


def _train_with_progress(request: TrainingRequest, registry: Registry) -> TrainingOutcome:
    progress = Progress(
        TextColumn("{task.description:<24}"), BarColumn(),
        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
        console=err_console, transient=True,
    )  # fmt: skip
    tasks: dict[str, Any] = {}

    def note(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with progress:
        return train_model(request, registry, SystemClock(), note)


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "-"
    if kind == "%":
        return f"{value:.2%}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(outcome: TrainingOutcome) -> Table:
    card, ev = outcome.card, outcome.card.evidence
    oos, ins = ev["oos"], ev["in_sample"]
    table = Table(
        title=f"model {card.model_id}: {'PROMOTED' if outcome.promoted else 'not promoted'}",
        caption=outcome.reason,
    )
    table.add_column("metric")
    table.add_column("out of sample", justify="right")
    table.add_column("in sample", justify="right")
    rows = [
        ("IC", "ic", ""), ("rank IC", "rank_ic", ""), ("ICIR (folds)", "icir", ""),
        ("IC t-stat", "ic_t_stat", ""), ("IC p-value", "ic_p_value", ""),
        ("hit rate", "hit_rate", "%"), ("Brier", "brier", ""), ("net return", "net_return", "%"),
        ("Sharpe (daily, ann.)", "sharpe", ""), ("trades", "trades", ""),
        ("net PnL", "net_pnl", ""),
    ]  # fmt: skip
    for label, key, kind in rows:
        table.add_row(label, _fmt(oos.get(key), kind), _fmt(ins.get(key), kind))
    table.add_row("deflated Sharpe", _fmt(oos.get("deflated_sharpe")), "")
    table.add_row("folds", str(oos.get("folds")), "")
    table.add_row(
        "out-of-sample span",
        f"{iso_utc(ev['oos_from_ms'])} → {iso_utc(ev['oos_to_ms'])}",
        "",
    )
    table.add_row("symbols", ", ".join(card.symbols), "")
    table.add_row("seconds", f"{outcome.seconds:.1f}", "")
    return table
