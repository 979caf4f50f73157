"""``quantum data …``: generate synthetic markets and inspect kline files.

Mounted by the root CLI as a Typer sub-app. Bad input ends in a one-line message that
names the option and the fix, with exit code 2 — never a traceback.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from quantum_trader.cli.checks import output_dir, writable_output
from quantum_trader.cli.download import download_command
from quantum_trader.data.bars import MINUTE_MS, BarSeries, DataError, binance_interval, interval_ms
from quantum_trader.data.binance import parse_dump_name, read_kline_file, scan
from quantum_trader.data.funding import generate_funding, load_funding_rates, write_funding_csv
from quantum_trader.data.marks import mark_dump_name, synthetic_marks
from quantum_trader.data.quality import RawKlines, check_bars, fmt_time, repair_bars
from quantum_trader.data.resample import resample
from quantum_trader.data.summary import SeriesSummary, summarize
from quantum_trader.data.symbols import DEFAULT_SYMBOLS
from quantum_trader.data.synthetic import MarketConfig, generate_market
from quantum_trader.data.writers import dump_name, write_klines_csv, write_parquet

app = typer.Typer(
    help="Market data: generate synthetic markets, inspect Binance kline dumps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

MAX_DAYS = 3660
app.command("download")(download_command)


class FileFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def parse_symbols(text: str) -> list[str]:
    """'BTCUSDT,ETHUSDT' or a count ('5': the first five built-in symbols)."""
    text = text.strip()
    if not text.strip(" ,"):
        raise typer.BadParameter(
            "is empty; give a comma list such as BTCUSDT,ETHUSDT or a count such as 5",
            param_hint="--symbols",
        )
    if text.isdigit():
        count = int(text)
        if not 1 <= count <= len(DEFAULT_SYMBOLS):
            raise typer.BadParameter(
                f"a count must be 1–{len(DEFAULT_SYMBOLS)} (the built-in symbols)",
                param_hint="--symbols",
            )
        return list(DEFAULT_SYMBOLS)[:count]
    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEFAULT_SYMBOLS]
    if not names or unknown:
        raise typer.BadParameter(
            f"unknown symbol(s) {', '.join(unknown) or '(none given)'}; use a comma list of "
            f"{', '.join(DEFAULT_SYMBOLS)} or a count",
            param_hint="--symbols",
        )
    if len(set(names)) != len(names):
        raise typer.BadParameter("each symbol may appear once", param_hint="--symbols")
    return names


def _parse_start(text: str) -> int:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2024-01-01", param_hint="--start"
        ) from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@app.command()
def synth(
    symbols: str = typer.Option(
        "BTCUSDT,ETHUSDT,SOLUSDT", help="Comma list of symbols, or how many built-in ones."
    ),
    days: float = typer.Option(30.0, help="Length of the market in days."),
    start: str = typer.Option("2024-01-01", help="First day (UTC), YYYY-MM-DD."),
    seed: int = typer.Option(0, min=0, help="Random seed; same seed, same bytes."),
    interval: str = typer.Option("1m", help="Bar interval to write (1m, 5m, 15m, 1h, 4h, 1d)."),
    correlation: float = typer.Option(0.6, min=0.0, max=1.0, help="Pairwise correlation."),
    planted_drift: float = typer.Option(
        0.0,
        min=0.0,
        help="Plant a learnable edge: drift of this many bar volatilities times a hidden "
        "persistent hourly state (0: none; 0.05 is faint, 0.3 strong). For trying "
        "`quantum model train` on a market that has something to find.",
    ),
    out: Path = typer.Option(Path("data/synthetic"), help="Output directory."),
    fmt: FileFormat = typer.Option(FileFormat.csv, "--format", help="csv or parquet."),
    funding: bool = typer.Option(True, help="Also write an 8 h funding-rate file per symbol."),
    mark: bool = typer.Option(
        True, help="Also write a markPriceKlines file per symbol (the mark price's bars)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Generate a seeded synthetic market and write Binance-style kline files."""
    names = parse_symbols(symbols)
    if not (math.isfinite(days) and 0 < days <= MAX_DAYS):
        raise typer.BadParameter(f"must be within (0, {MAX_DAYS}]", param_hint="--days")
    try:
        step = interval_ms(binance_interval(interval))
    except DataError as exc:
        raise typer.BadParameter(str(exc), param_hint="--interval") from None
    if step % MINUTE_MS or step > days * 86_400_000:
        raise typer.BadParameter(
            "must be whole minutes and no longer than --days", param_hint="--interval"
        )
    start_ms = _parse_start(start)
    output_dir(out, "--out")
    n_bars = round(days * 1440)
    config = MarketConfig(
        seed=seed, start_ms=start_ms, correlation=correlation, planted_drift=planted_drift
    )
    quiet = as_json or len(names) < 3
    with Progress(transient=True, disable=quiet) as progress:
        task = progress.add_task("generating", total=len(names))
        market = generate_market(names, n_bars, config, lambda _: progress.advance(task))
        written: list[dict[str, Any]] = []
        write_task = progress.add_task("writing", total=len(names))
        for name, bars in market.bars.items():
            spec = market.specs[name]
            series = bars if interval == "1m" else resample(bars, interval)
            suffix = "." + fmt.value
            path = out / dump_name(series, suffix)
            if fmt is FileFormat.csv:
                write_klines_csv(series, path, tick_size=spec.tick_size, step_size=spec.step_size)
            else:
                write_parquet(series, path)
            entry: dict[str, Any] = {"symbol": name, "interval": interval, "rows": len(series)}
            entry["path"] = str(path)
            if mark:
                marks = synthetic_marks(market, name, series)
                mark_path = out / mark_dump_name(path.name)
                if fmt is FileFormat.csv:
                    write_klines_csv(
                        marks, mark_path, tick_size=spec.tick_size, step_size=spec.step_size
                    )
                else:
                    write_parquet(marks, mark_path)
                entry["mark_path"] = str(mark_path)
            if funding:
                rates = generate_funding(market, name)
                funding_path = out / dump_name(series).replace(f"-{interval}-", "-fundingRate-")
                entry["funding_path"] = str(write_funding_csv(rates, funding_path))
            written.append(entry)
            progress.advance(write_task)
    if as_json:
        typer.echo(json.dumps({"seed": seed, "files": written}, indent=2))
        return
    table = Table(title=f"synthetic market, seed {seed}, {days:g} days from {start}")
    for column in ("symbol", "interval", "rows", "file"):
        table.add_column(column)
    for entry in written:
        table.add_row(entry["symbol"], interval, str(entry["rows"]), entry["path"])
    Console().print(table)


def _fmt(value: float | None, spec: str = ".6g") -> str:
    return "–" if value is None else format(value, spec)


def _summary_table(s: SeriesSummary) -> Table:
    table = Table(title=f"{s.symbol} {s.interval}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    span = (
        f"{fmt_time(s.first)} → {fmt_time(s.last)} UTC"
        if s.first is not None and s.last is not None
        else "–"
    )
    rows = [
        ("rows", f"{s.rows} from {s.files} file(s)"),
        ("time", span),
        ("gaps", f"{s.gaps} ({s.missing_bars} missing bars)"),
        ("duplicates", f"{s.duplicates} exact, {s.conflicting_duplicates} conflicting"),
        ("out of order", str(s.unsorted)),
        (
            "bad rows",
            f"{s.non_finite} non-finite, {s.bad_ohlc} bad OHLC, {s.outliers} price "
            f"outliers, {s.misaligned} misaligned",
        ),
        ("price range", f"{_fmt(s.price_min)} – {_fmt(s.price_max)}"),
        (
            "log returns",
            f"mean {_fmt(s.return_mean, '.3g')}, std {_fmt(s.return_std, '.3g')}, "
            f"min {_fmt(s.return_min, '.3g')}, max {_fmt(s.return_max, '.3g')}",
        ),
        ("annualised vol", _fmt(s.annualised_vol, ".1%")),
    ]
    if s.repair is not None:
        r = s.repair
        rows.append(
            (
                "repair would",
                f"reorder: {r['reordered']}, drop "
                f"{r['duplicates_dropped']} duplicates, fill {r['gaps_filled']} gaps "
                f"with {r['bars_inserted']} flat bars",
            )
        )
    for problem in s.problems:
        rows.append(("problem", problem))
    for field, value in rows:
        table.add_row(field, value)
    return table


def _inspect_funding(path: Path, as_json: bool) -> None:
    rates = load_funding_rates(path)
    info = {
        "symbol": rates.symbol,
        "rows": len(rates),
        "first": int(rates.funding_time[0]) if len(rates) else None,
        "last": int(rates.funding_time[-1]) if len(rates) else None,
        "rate_min": float(rates.rate.min()) if len(rates) else None,
        "rate_max": float(rates.rate.max()) if len(rates) else None,
        "share_at_base_rate": float((rates.rate == 0.0001).mean()) if len(rates) else None,
    }
    if as_json:
        typer.echo(json.dumps({"funding": [info]}, indent=2))
        return
    table = Table(title=f"{rates.symbol} funding", show_header=False)
    for key, value in info.items():
        shown = fmt_time(value) if key in ("first", "last") and isinstance(value, int) else value
        table.add_row(key, str(shown))
    Console().print(table)


@app.command()
def inspect(
    path: Path = typer.Argument(..., exists=True, help="A kline file or a directory of them."),
    repair: bool = typer.Option(
        False, "--repair", help="Also report what repair would do (with --out: write it)."
    ),
    out: Path | None = typer.Option(
        None,
        help="With --repair: write the repaired bars here (a .csv or .parquet file; a "
        "directory when PATH holds several series).",
    ),
    symbol: str | None = typer.Option(None, help="Symbol of a file not named like a dump."),
    interval: str | None = typer.Option(
        None, help="Bar interval of a file not named like a dump (1m, 5m, 1h, …)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Report rows, time span, gaps, duplicates, price outliers and returns per symbol."""
    if out is not None and not repair:
        raise typer.BadParameter("writes the repaired bars; add --repair", param_hint="--out")
    if (symbol is not None or interval is not None) and not path.is_file():
        raise typer.BadParameter(
            "names the series of one file; a directory's files must be named like "
            "BTCUSDT-1m-2024-01.zip",
            param_hint="--symbol" if symbol is not None else "--interval",
        )
    if interval is not None:
        try:
            binance_interval(interval)
        except DataError as exc:
            raise typer.BadParameter(str(exc), param_hint="--interval") from None
    try:
        if path.is_file() and "-fundingRate" in path.name:
            if out is not None:
                raise typer.BadParameter("repairs kline files only", param_hint="--out")
            _inspect_funding(path, as_json)
            return
        raws = (
            [read_kline_file(path, symbol and symbol.strip().upper(), interval)]
            if path.is_file()
            else scan(path)
        )
        target = _out_target(out, raws)
        summaries = [summarize(raw, repair=repair) for raw in raws]
    except DataError as exc:
        raise _fail(str(exc)) from None
    written = _write_repaired(raws, target) if target else []
    if as_json:
        doc: dict[str, Any] = {"series": [s.as_dict() for s in summaries]}
        if target:
            doc["written"] = written
        typer.echo(json.dumps(doc, indent=2))
    else:
        console = Console()
        for summary in summaries:
            console.print(_summary_table(summary))
        for e in written:
            hint = "" if parse_dump_name(e["path"]) else (
                f" (not named like a dump: read it with --symbol {e['symbol']} "
                f"--interval {e['interval']})"
            )  # fmt: skip
            console.print(f"repaired {e['symbol']} {e['interval']} written to {e['path']}{hint}")


def _out_target(out: Path | None, raws: list[RawKlines]) -> tuple[Path, bool] | None:
    """Where repaired bars go (a file, or a directory when True), checked up front."""
    if out is None:
        return None
    if len(raws) == 1 and not out.is_dir():
        if out.suffix not in (".csv", ".parquet"):
            raise typer.BadParameter(
                f"{out}: end the name in .csv or .parquet (or give a directory)",
                param_hint="--out",
            )
        writable_output(out, "--out")
        return out, False
    return output_dir(out, "--out"), True


def _write_repaired(raws: list[RawKlines], target: tuple[Path, bool]) -> list[dict[str, Any]]:
    """Repair and write every series; refuse (one line) when repair cannot fix one."""
    repaired: list[tuple[BarSeries, str]] = []
    for raw in raws:
        quality = check_bars(raw)
        if quality.fatal:
            first = quality.error()
            raise _fail(f"--out: nothing written; repair cannot fix {raw.series.symbol}: {first}")
        series, report = repair_bars(raw, quality)
        repaired.append((series, report.describe()))
    out, is_dir = target
    written = []
    for series, what in repaired:
        path = out / dump_name(series) if is_dir else out
        if path.suffix == ".parquet":
            write_parquet(series, path)
        else:
            write_klines_csv(series, path)
        entry = {"symbol": series.symbol, "interval": series.interval, "path": str(path)}
        written.append({**entry, "repair": what})
    return written
