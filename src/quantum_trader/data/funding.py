"""Funding rates: a regime-aware synthetic generator and the Binance funding-rate dump.

Binance USDⓈ-M funds every 8 h (00:00, 08:00, 16:00 UTC). Most periods pay the base
rate 0.0001 (0.01 %, the interest component with a zero premium); in trending markets
the premium pushes it up (bull, longs pay more) or below zero (bear).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from quantum_trader.data.bars import MINUTE_MS, DataError, FloatArray, IntArray
from quantum_trader.data.synthetic import SyntheticMarket, seeded_rng

BASE_RATE = 0.0001
RATE_CAP = 0.0075  # ±0.75 %, the usual Binance cap for large perpetuals
RATE_DECIMALS = 8
FUNDING_HEADER = ("calc_time", "funding_interval_hours", "last_funding_rate")
FUNDING_MARK = "-fundingRate"  # SYMBOL-fundingRate-2024-01.zip, as Binance names them


@dataclass(frozen=True, slots=True, eq=False)
class FundingSeries:
    """Funding times (ms) and rates of one symbol."""

    symbol: str
    funding_time: IntArray
    rate: FloatArray
    interval_hours: int = 8

    def __len__(self) -> int:
        return len(self.funding_time)

    def rate_at(self, i: int) -> Decimal:
        """Exact rate as a Decimal with Binance's 8 decimals."""
        return Decimal(repr(float(self.rate[i]))).quantize(Decimal(1).scaleb(-RATE_DECIMALS))

    def rate_for(self, ms: int) -> float:
        """Rate of the last funding event at or before ``ms`` (0 before the first)."""
        i = int(np.searchsorted(self.funding_time, ms, side="right")) - 1
        return float(self.rate[i]) if i >= 0 else 0.0


def generate_funding(
    market: SyntheticMarket, symbol: str, interval_hours: int = 8
) -> FundingSeries:
    """Funding events inside the market's span for ``symbol``, driven by its regimes."""
    if symbol not in market.bars:
        raise DataError(f"{symbol}: not in this synthetic market ({', '.join(market.bars)})")
    if interval_hours not in (1, 2, 4, 8):
        raise DataError(f"interval_hours must be 1, 2, 4 or 8, got {interval_hours}")
    bars = market.bars[symbol]
    step = interval_hours * 3_600_000
    first = -(-int(bars.open_time[0]) // step) * step
    times = np.arange(first, int(bars.open_time[-1]) + 1, step, dtype=np.int64)
    minute = (times - int(bars.open_time[0])) // MINUTE_MS
    regimes = market.config.regimes
    bias = np.array([r.funding_bias for r in regimes])[market.regime[minute]]
    rng = seeded_rng(market.config.seed, 3, symbol)
    n = len(times)
    # Out of a quiet market the premium is small and the rate sits at the base value.
    deviates = rng.random(n) < np.where(bias == 0.0, 0.15, 0.65)
    size = bias * rng.exponential(1.0, n) + rng.normal(0.0, 0.00004, n)
    rate = np.clip(BASE_RATE + np.where(deviates, size, 0.0), -RATE_CAP, RATE_CAP)
    rate = np.round(rate * interval_hours / 8, RATE_DECIMALS)
    return FundingSeries(symbol, times, rate, interval_hours)


def write_funding_csv(series: FundingSeries, path: str | Path) -> Path:
    """The Binance funding dump layout, with its header."""
    out = Path(path)
    hours = np.full(len(series), series.interval_hours)
    lines = [",".join(FUNDING_HEADER)]
    lines += [
        f"{t},{h},{series.rate_at(i)}"
        for i, (t, h) in enumerate(zip(series.funding_time.tolist(), hours.tolist(), strict=True))
    ]
    out.write_text("\n".join(lines) + "\n")
    return out


def load_funding_rates(path: str | Path, symbol: str | None = None) -> FundingSeries:
    """Read ``SYMBOL-fundingRate-….csv`` (header ``calc_time,funding_interval_hours,…``),
    or the zipped monthly dump Binance publishes (``….zip`` holding that CSV)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file. Fix: check the path")
    symbol = symbol or path.name.split(FUNDING_MARK)[0]
    if not symbol or "-" in symbol or symbol == path.name:
        raise DataError(f"{path}: cannot tell the symbol; name it SYMBOL-fundingRate-….csv")
    data = _read_dump(path)
    header = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().lower()
    if tuple(h.strip() for h in header.split(",")) != FUNDING_HEADER:
        raise DataError(
            f"{path}: row 1: expected header {','.join(FUNDING_HEADER)}, got {header!r}. "
            "Fix: use a Binance funding-rate dump"
        )
    types = {"calc_time": pa.int64(), "funding_interval_hours": pa.int64()}
    types["last_funding_rate"] = pa.float64()
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=[]),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{path}: unreadable funding row ({exc}). Fix: correct the row") from None
    times = table.column("calc_time").to_numpy().astype(np.int64)
    rates = table.column("last_funding_rate").to_numpy().astype(np.float64)
    hours = table.column("funding_interval_hours").to_numpy()
    for problem, mask in (
        ("funding times are not increasing", np.diff(times) <= 0),
        ("rate is NaN or infinite", ~np.isfinite(rates[1:])),
    ):
        if bool(mask.any()):
            row = int(np.flatnonzero(mask)[0]) + 3  # +1 header, +1 1-based, +1 diff offset
            raise DataError(f"{path}: row {row}: {problem}. Fix: correct or delete the row")
    if len(rates) and not np.isfinite(rates[0]):
        raise DataError(f"{path}: row 2: rate is NaN or infinite. Fix: correct the row")
    interval = int(hours[0]) if len(hours) else 8
    return FundingSeries(symbol, times, rates, interval)


def _read_dump(path: Path) -> bytes:
    if path.suffix != ".zip":
        return path.read_bytes()
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise DataError(f"{path}: expected one CSV inside, found {len(members)}")
            return archive.read(members[0])
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a valid zip file. Fix: re-download it") from None


def funding_files(path: str | Path) -> list[Path]:
    """Funding-rate dumps that belong to kline data at ``path``: under a directory (at any
    depth, as kline dumps are found), or beside a single kline file."""
    path = Path(path)
    found = (
        path.rglob(f"*{FUNDING_MARK}*") if path.is_dir() else path.parent.glob(f"*{FUNDING_MARK}*")
    )
    return sorted(p for p in found if p.is_file() and p.suffix in (".csv", ".zip"))


def join_funding(parts: Iterable[FundingSeries]) -> FundingSeries:
    """Several dumps of one symbol (daily or monthly files) as one series in time order;
    a funding time present in two files is kept once."""
    chunks = list(parts)
    if not chunks:
        raise DataError("no funding series to join")
    times = np.concatenate([c.funding_time for c in chunks])
    rates = np.concatenate([c.rate for c in chunks])
    times, first = np.unique(times, return_index=True)
    return FundingSeries(chunks[0].symbol, times, rates[first], chunks[0].interval_hours)


def find_funding(
    path: str | Path, symbols: Iterable[str] | None = None
) -> dict[str, FundingSeries]:
    """Every symbol's funding rates found with the kline data at ``path`` (see
    :func:`funding_files`), limited to ``symbols`` when given; empty when there are none."""
    wanted = set(symbols) if symbols is not None else None
    by_symbol: dict[str, list[FundingSeries]] = {}
    for file in funding_files(path):
        symbol = file.name.split(FUNDING_MARK)[0]
        if wanted is not None and symbol not in wanted:
            continue
        by_symbol.setdefault(symbol, []).append(load_funding_rates(file, symbol))
    return {s: join_funding(parts) for s, parts in sorted(by_symbol.items())}
