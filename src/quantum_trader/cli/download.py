"""``quantum data download``: Binance USDⓈ-M klines, mark-price klines and funding rates
from Binance's public data archive — the REST API for the days it has not published —
into the files ``quantum backtest --data`` reads (``data/download.py``).

Mounted by ``cli/data.py`` on ``quantum data``. Bad input is one line naming the option
and the fix (exit 2); a server that stops answering or files that fail their checksum end
in one line too (exit 1) after the summary of what was done.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from quantum_trader.cli.checks import output_dir
from quantum_trader.cli.context import fail, settings
from quantum_trader.clock import Clock, steady_clock
from quantum_trader.data.archive import DEFAULT_KINDS, KINDS, SYMBOL_RE
from quantum_trader.data.bars import BINANCE_INTERVALS, DataError, binance_interval
from quantum_trader.data.download import download
from quantum_trader.data.download_report import (
    ARCHIVE_URL,
    REST_URL,
    DownloadFailed,
    DownloadReport,
    DownloadRequest,
    FileResult,
)
from quantum_trader.domain.timefmt import iso_utc

# What the download waits with (backoff, Retry-After, the weight minute) and reads
# "today" from; tests replace it so they never wait.
CLOCK: Callable[[], Clock] = steady_clock
MAX_JOBS = 8
_URL_RE = re.compile(r"^https?://[^/\s]+")


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=option)


def parse_symbols(text: str) -> tuple[str, ...]:
    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    if not names:
        raise _bad("--symbols", "is empty; give a comma list such as BTCUSDT,ETHUSDT")
    wrong = [n for n in names if not SYMBOL_RE.match(n)]
    if wrong:
        raise _bad(
            "--symbols",
            f"{', '.join(wrong)}: not a USDⓈ-M perpetual name; use letters and digits "
            "ending in USDT, e.g. BTCUSDT,ETHUSDT",
        )
    if len(set(names)) != len(names):
        raise _bad("--symbols", "each symbol may appear once")
    return tuple(names)


def parse_kinds(text: str) -> tuple[str, ...]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in KINDS]
    if not names or unknown:
        raise _bad(
            "--kinds",
            f"unknown {', '.join(unknown) or '(none given)'}; use a comma list of "
            f"{', '.join(KINDS)}",
        )
    return tuple(k for k in KINDS if k in names)


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(option, f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2024-01-01") from None


def parse_range(start_text: str, end_text: str | None, today: date) -> tuple[date, date]:
    """``[start, end)`` in whole UTC days, ``end`` at most today (complete days only)."""
    start = _day("--start", start_text)
    if start >= today:
        when = "today" if start == today else "in the future"
        raise _bad(
            "--start",
            f"{start} is {when}: only complete UTC days are downloaded (today is {today}); "
            f"give a day before {today}",
        )
    if end_text is None:
        return start, today
    end = _day("--end", end_text)
    if end <= start:
        raise _bad(
            "--end",
            f"{end} is not after --start {start}; --end is the first day not downloaded, "
            f"e.g. --end {start + timedelta(days=1)}",
        )
    return start, min(end, today)


def _url(option: str, text: str) -> str:
    if not _URL_RE.match(text):
        raise _bad(option, f"{text!r} is not an http(s) URL; e.g. {ARCHIVE_URL}")
    return text.rstrip("/")


class _Bar:
    """The progress bar over files (rich), advanced as each file finishes."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID = progress.add_task("files", total=0)
        self.total = 0

    def planned(self, count: int) -> None:
        self.total += count
        self.progress.update(self.task, total=self.total)

    def done(self, result: FileResult) -> None:
        name = result.path.name if result.path is not None else result.period
        self.progress.update(self.task, advance=1, description=f"{result.source:>7} {name}")


def download_command(
    symbols: str = typer.Option(..., help="Comma list of USDⓈ-M perpetuals, e.g. BTCUSDT,ETHUSDT."),
    interval: str = typer.Option(
        "1m", help=f"Kline interval: one of {', '.join(BINANCE_INTERVALS)}."
    ),
    start: str = typer.Option(..., help="First UTC day to download, YYYY-MM-DD."),
    end: str | None = typer.Option(
        None,
        help="First UTC day NOT downloaded, YYYY-MM-DD (default: today, so through "
        "yesterday; later days are cut to today: only complete days are fetched).",
    ),
    kinds: str = typer.Option(
        ",".join(DEFAULT_KINDS),
        help=f"Comma list of {', '.join(KINDS)} (markPriceKlines: the mark price's klines).",
    ),
    out: Path | None = typer.Option(
        None,
        help="Directory to write to, one folder per symbol (default: market/ in the data "
        "directory, QUANTUM_DATA_DIR). Give it to `quantum backtest --data`.",
    ),
    archive_url: str = typer.Option(
        ARCHIVE_URL, "--archive-url", help="Base URL of Binance's public data archive."
    ),
    rest_url: str = typer.Option(
        REST_URL,
        "--rest-url",
        help="Base URL of the USDⓈ-M REST API, for the days the archive does not have yet.",
    ),
    rest: bool = typer.Option(
        True, "--rest/--no-rest", help="Fill what the archive lacks from the REST API."
    ),
    jobs: int = typer.Option(
        4, min=1, max=MAX_JOBS, help="Archive files downloaded at once (1–8)."
    ),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print a JSON summary (files fetched / skipped / from REST, "
        "bytes, seconds) instead of the table.",
    ),
) -> None:
    """Download Binance USDⓈ-M market data: whole months from the archive's monthly zips,
    the rest from its daily zips, each verified against its .CHECKSUM; the days it does
    not have yet from the REST API. Files already downloaded are skipped, so running it
    again resumes an interrupted download."""
    clock = CLOCK()
    today = datetime.fromtimestamp(clock.now_ms() / 1000, tz=UTC).date()
    names, chosen = parse_symbols(symbols), parse_kinds(kinds)
    try:
        binance_interval(interval)
    except DataError as exc:
        raise _bad("--interval", str(exc)) from None
    first, stop = parse_range(start, end, today)
    target = output_dir(out if out is not None else settings().data_dir / "market", "--out")
    request = DownloadRequest(
        names, interval, first, stop, target, chosen,
        _url("--archive-url", archive_url), _url("--rest-url", rest_url) if rest else None,
        jobs,
    )  # fmt: skip
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(
        *columns, TimeElapsedColumn(), console=console, transient=True,
        disable=as_json or not console.is_terminal,
    ) as progress:  # fmt: skip
        try:
            report = asyncio.run(download(request, clock=clock, listener=_Bar(progress)))
        except DownloadFailed as exc:
            progress.stop()
            _show(exc.report, as_json, str(exc))
            raise fail(str(exc), exc.code) from None
    _show(report, as_json)
    failed = [r for r in report.results if r.source == "failed"]
    if failed:
        raise fail(
            f"{len(failed)} file(s) failed, first {failed[0].symbol} {failed[0].kind} "
            f"{failed[0].period}: {failed[0].detail}; run the same command again to fetch "
            "what is missing",
            1,
        )


def _show(report: DownloadReport, as_json: bool, error: str | None = None) -> None:
    doc = report.as_dict()
    if as_json:
        typer.echo(json.dumps(doc | ({"error": error} if error else {}), indent=2))
        return
    if not report.results:
        return
    table = Table(
        title=f"{', '.join(report.request.symbols)} {report.request.interval}, "
        f"{doc['start']} → {doc['end']} (end exclusive)"
    )
    sources = ("archive", "rest", "local", "missing", "failed")
    for column in ("symbol", "kind", "from archive", "from REST", "already there"):
        table.add_column(column)
    for column in ("missing", "failed"):
        table.add_column(column)
    groups = sorted({(r.symbol, r.kind) for r in report.results})
    for symbol, kind in groups:
        mine = [r for r in report.results if (r.symbol, r.kind) == (symbol, kind)]
        counts = [str(sum(1 for r in mine if r.source == s)) for s in sources]
        table.add_row(symbol, kind, *counts)
    console = Console()
    console.print(table)
    mb = doc["bytes"] / 1e6
    seconds = max(doc["seconds"], 1e-9)
    console.print(
        f"{mb:.1f} MB in {doc['seconds']:.1f} s ({mb / seconds:.1f} MB/s), finished "
        f"{iso_utc(report.finished_ms)}; files in {doc['out']}",
        highlight=False,
    )
    for row in doc["missing"][:10]:
        console.print(
            f"missing: {row['symbol']} {row['kind']} {row['period']}: {row['reason']}",
            highlight=False,
        )
    if len(doc["missing"]) > 10:
        console.print(f"… and {len(doc['missing']) - 10} more missing (see --json)")
