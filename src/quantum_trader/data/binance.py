"""Binance kline files: the public dumps (CSV or zipped CSV), directories of them, Parquet.

Handles both dump generations: old files have no header, newer ones start with
``open_time,open,high,…``; newer spot dumps use microsecond timestamps, which are
converted to ms. Symbol and interval come from the file name as Binance writes it
(``BTCUSDT-1m-2024-01.zip``, ``BTCUSDT-1m-2024-01-15.zip``,
``XRPUSDT-5m-2021-11-15_2021-11-21.csv``) or, for Parquet, from columns or metadata.
Every load is checked (``quality.check_bars``); problems raise ``DataError`` naming the
file and row unless ``repair=True`` can fix them; ``symbol`` / ``interval`` name a
file that is not named like a dump. (``load_options`` sets those for a block, for a caller
that cannot pass them down; ``quantum backtest`` passes them explicitly.)
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from quantum_trader.data.bars import BarSeries, DataError, interval_ms
from quantum_trader.data.quality import (
    QualityReport,
    RawKlines,
    RepairReport,
    check_bars,
    repair_bars,
)

KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
PRICE_KINDS = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines")
_DATE = r"\d{4}-\d{2}(?:-\d{2})?"
_NAME_RE = re.compile(
    rf"^(?P<symbol>[A-Z0-9]+)-(?:(?P<kind>{'|'.join(PRICE_KINDS[1:])})-)?"
    rf"(?P<interval>\d+[smhdw])(?:-{_DATE}(?:_{_DATE})?)?$"
)
SUFFIXES = (".csv", ".zip", ".parquet")
_RENAME_HINT = "rename it like BTCUSDT-1m-2024-01.csv (in Python: pass symbol= and interval=)"


class UnnamedSeries(DataError):
    """A kline file whose symbol or interval neither its name nor its content says."""


@dataclass(frozen=True, slots=True)
class DumpName:
    """What a Binance dump's file name says about its content."""

    symbol: str
    interval: str
    kind: str = "klines"


def parse_dump_name(path: str | Path) -> DumpName | None:
    """``XRPUSDT-5m-2021-11-15_2021-11-21.csv`` -> DumpName('XRPUSDT', '5m'); None if not a dump."""
    stem = Path(path).name
    for suffix in SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    match = _NAME_RE.match(stem)
    if match is None:
        return None
    return DumpName(match["symbol"], match["interval"], match["kind"] or "klines")


def _to_ms(open_time: np.ndarray) -> np.ndarray:
    """Binance spot dumps switched to microseconds in 2025; normalise to ms."""
    if len(open_time) == 0:
        return open_time
    largest = int(np.abs(open_time).max())
    if largest >= 10**17:
        return open_time // 1_000_000
    if largest >= 10**14:
        return open_time // 1_000
    return open_time


def _locate_bad_cell(text: str, name: str, header: bool) -> DataError:
    """Slow pass that finds the row and column pyarrow refused, for a precise message."""
    for number, line in enumerate(text.splitlines(), start=1):
        if (header and number == 1) or not line.strip():
            continue
        fields = line.split(",")
        if len(fields) < len(KLINE_COLUMNS):
            return DataError(
                f"{name}: row {number}: {len(fields)} columns, a kline row needs at least 6 "
                f"({','.join(KLINE_COLUMNS)}). Fix: correct or delete the row"
            )
        for column, value in zip(KLINE_COLUMNS, fields, strict=False):
            try:
                int(value) if column == "open_time" else float(value)
            except ValueError:
                return DataError(
                    f"{name}: row {number}: column {column}: {value.strip()!r} is not a "
                    f"{'integer timestamp' if column == 'open_time' else 'number'}. "
                    "Fix: correct or delete the row"
                )
    return DataError(f"{name}: not a readable kline CSV. Fix: check the file is a Binance dump")


def read_kline_csv(data: bytes, name: str, symbol: str, interval: str) -> RawKlines:
    """Parse one kline CSV (with or without header) into unchecked bars."""
    text_head = data[:4096].decode("utf-8", errors="replace").lstrip("\ufeff")
    first_line = text_head.splitlines()[0] if text_head.strip() else ""
    if not first_line.strip():
        raise DataError(f"{name}: file is empty. Fix: re-download it or remove it")
    fields = [f.strip().lower() for f in first_line.split(",")]
    header = not fields[0].lstrip("-").isdigit()
    if header and tuple(fields[:6]) != KLINE_COLUMNS:
        raise DataError(
            f"{name}: row 1: unexpected header {first_line.strip()!r}; expected "
            f"{','.join(KLINE_COLUMNS)},… Fix: use a Binance kline dump"
        )
    if len(fields) < len(KLINE_COLUMNS):
        raise DataError(
            f"{name}: row 1: {len(fields)} columns, a kline row needs at least 6. "
            "Fix: use a Binance kline dump"
        )
    names = [f"c{i}" for i in range(len(fields))]
    types = {"c0": pa.int64(), **{f"c{i}": pa.float64() for i in range(1, 6)}}
    try:
        table = pacsv.read_csv(
            io.BytesIO(data.removeprefix(b"\xef\xbb\xbf")),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=int(header)),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=names[:6], null_values=[]
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise _locate_bad_cell(data.decode("utf-8", errors="replace"), name, header) from None
    cols = [table.column(c).to_numpy(zero_copy_only=False) for c in names[:6]]
    n = table.num_rows
    series = BarSeries(symbol, interval, _to_ms(cols[0].astype(np.int64)), *cols[1:])
    lines = np.arange(n, dtype=np.int64) + 1 + int(header)
    return RawKlines(series, (name,), np.zeros(n, np.int32), lines)


def read_parquet_klines(
    path: Path, symbol: str | None = None, interval: str | None = None
) -> RawKlines:
    """Parquet with columns open_time, open, high, low, close, volume (+ symbol, interval)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in KLINE_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}. Fix: write open_time (ms), "
            "open, high, low, close, volume"
        )
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    named = parse_dump_name(path)
    found: dict[str, str | None] = {"symbol": symbol, "interval": interval}
    for key in found:
        if found[key] is None and key in table.column_names:
            values = set(table.column(key).to_pylist())
            if len(values) != 1:
                raise DataError(
                    f"{path}: column {key} holds {len(values)} values; store one "
                    "symbol and interval per file"
                )
            found[key] = str(values.pop())
        found[key] = found[key] or meta.get(key) or (getattr(named, key) if named else None)
    if found["symbol"] is None or found["interval"] is None:
        raise UnnamedSeries(f"{path}: cannot tell symbol/interval; {_RENAME_HINT}")
    times = table.column("open_time")
    if pa.types.is_timestamp(times.type):
        times = times.cast(pa.timestamp("ms")).cast(pa.int64())
    open_time = _to_ms(times.to_numpy(zero_copy_only=False).astype(np.int64))
    prices = [
        table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in KLINE_COLUMNS[1:]
    ]
    series = BarSeries(found["symbol"], found["interval"], open_time, *prices)
    n = len(series)
    return RawKlines(series, (str(path),), np.zeros(n, np.int32), np.arange(1, n + 1))


def read_kline_file(
    path: str | Path, symbol: str | None = None, interval: str | None = None
) -> RawKlines:
    """One .csv, .zip (one or more CSVs inside) or .parquet file, unchecked."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file. Fix: check the path")
    if path.suffix == ".parquet":
        return read_parquet_klines(path, symbol, interval)
    named = parse_dump_name(path)
    symbol = symbol or (named.symbol if named else None)
    interval = interval or (named.interval if named else None)
    if symbol is None or interval is None:
        raise UnnamedSeries(f"{path}: cannot tell symbol/interval from the name; {_RENAME_HINT}")
    interval_ms(interval)
    if path.suffix == ".csv":
        return read_kline_csv(path.read_bytes(), str(path), symbol, interval)
    if path.suffix != ".zip":
        raise DataError(f"{path}: unsupported file type; use .csv, .zip or .parquet")
    try:
        with zipfile.ZipFile(path) as archive:
            members = sorted(m for m in archive.namelist() if m.endswith(".csv"))
            if not members:
                raise DataError(f"{path}: the zip holds no .csv file. Fix: re-download it")
            parts = [
                read_kline_csv(archive.read(m), f"{path}!{m}", symbol, interval) for m in members
            ]
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a valid zip file. Fix: re-download it") from None
    return RawKlines.concat(parts)


def scan(
    path: str | Path,
    kind: str = "klines",
    *,
    symbol: str | None = None,
    interval: str | None = None,
) -> list[RawKlines]:
    """Read a file, or every dump of ``kind`` under a directory grouped per symbol/interval.

    Within a group, files are joined in order of their first bar, so daily and monthly
    dumps may be mixed. Nothing is checked yet. ``symbol`` / ``interval`` name a single
    file's series when its name does not (directories always go by file names).
    """
    path = Path(path)
    if path.is_file():
        options = _OPTIONS.get() or _DEFAULT_OPTIONS
        return [read_kline_file(path, symbol or options.symbol, interval or options.interval)]
    if not path.is_dir():
        raise DataError(f"{path}: no such file or directory. Fix: check the path")
    groups: dict[tuple[str, str], list[RawKlines]] = {}
    for file in sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
        named = parse_dump_name(file)
        if named is not None and named.kind != kind:
            continue  # another price's dump (mark, index, premium) or another kind
        if named is None and (file.suffix != ".parquet" or kind != "klines"):
            continue  # an unnamed Parquet file says its own series; it holds trade bars
        raw = read_kline_file(file)
        groups.setdefault((raw.series.symbol, raw.series.interval), []).append(raw)
    if not groups:
        raise DataError(
            f"{path}: no {kind} files found (*.csv, *.zip, *.parquet named like "
            "BTCUSDT-1m-2024-01.zip)"
        )
    result = []
    for parts in groups.values():
        parts.sort(key=lambda r: int(r.series.open_time.min()) if len(r.series) else 0)
        result.append(RawKlines.concat(parts) if len(parts) > 1 else parts[0])
    return result


@dataclass(frozen=True, slots=True, eq=False)
class LoadResult:
    """A checked (and possibly repaired) series with what was found and changed."""

    series: BarSeries
    quality: QualityReport
    repair: RepairReport


@dataclass(frozen=True, slots=True, eq=False)
class LoadOptions:
    """What loads do when their caller does not say (see ``load_options``)."""

    repair: bool = False
    symbol: str | None = None  # for a single file not named like a dump
    interval: str | None = None
    loaded: list[LoadResult] | None = None  # inside ``load_options``: every result, in order


_DEFAULT_OPTIONS = LoadOptions()
_OPTIONS: ContextVar[LoadOptions | None] = ContextVar("quantum_load_options", default=None)


@contextmanager
def load_options(
    *, repair: bool = False, symbol: str | None = None, interval: str | None = None
) -> Iterator[list[LoadResult]]:
    """Within the block every load repairs when ``repair`` is set, and a single file is
    read as ``symbol`` / ``interval`` when given; yields the list of every ``LoadResult``
    loaded meanwhile (to report what repair changed)."""
    loaded: list[LoadResult] = []
    token = _OPTIONS.set(LoadOptions(repair, symbol, interval, loaded))
    try:
        yield loaded
    finally:
        _OPTIONS.reset(token)


def finish(raw: RawKlines, *, repair: bool = False, allow_gaps: bool = False) -> LoadResult:
    """Check ``raw``; raise on problems, or repair them when ``repair`` is set."""
    options = _OPTIONS.get() or _DEFAULT_OPTIONS
    quality = check_bars(raw)
    if repair or options.repair:
        series, repaired = repair_bars(raw, quality)
        result = LoadResult(series, quality, repaired)
    else:
        error = quality.error(allow_gaps=allow_gaps)
        if error is not None:
            raise error
        result = LoadResult(raw.series, quality, RepairReport())
    if options.loaded is not None:
        options.loaded.append(result)
    return result


def load_all(
    path: str | Path,
    *,
    repair: bool = False,
    allow_gaps: bool = False,
    kind: str = "klines",
    symbol: str | None = None,
    interval: str | None = None,
) -> list[LoadResult]:
    """Every series in a file or directory, checked (``symbol`` / ``interval``: see ``scan``)."""
    raws = scan(path, kind, symbol=symbol, interval=interval)
    return [finish(raw, repair=repair, allow_gaps=allow_gaps) for raw in raws]


def load_klines(
    path: str | Path,
    *,
    repair: bool = False,
    allow_gaps: bool = False,
    symbol: str | None = None,
    interval: str | None = None,
) -> BarSeries:
    """One series from a file, or from a directory that holds exactly one symbol/interval."""
    p = Path(path)
    raws = [read_kline_file(p, symbol, interval)] if p.is_file() else scan(p)
    if len(raws) != 1:
        found = ", ".join(f"{r.series.symbol} {r.series.interval}" for r in raws)
        raise DataError(
            f"{path}: holds several series ({found}); choose with --symbols "
            "(Python: load_klines_dir)"
        )
    return finish(raws[0], repair=repair, allow_gaps=allow_gaps).series


def load_klines_dir(
    path: str | Path, *, repair: bool = False, allow_gaps: bool = False, kind: str = "klines"
) -> dict[tuple[str, str], BarSeries]:
    """Every (symbol, interval) under a directory, each concatenated, sorted and checked."""
    results = load_all(path, repair=repair, allow_gaps=allow_gaps, kind=kind)
    return {(r.series.symbol, r.series.interval): r.series for r in results}
