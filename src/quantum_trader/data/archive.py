"""Binance's public data archive: which files a date range needs, and where they live.

The archive (``https://data.binance.vision``) keeps USDⓈ-M futures data as zipped CSVs,
each with a ``.CHECKSUM`` beside it (``<sha256 hex>  <file name>``)::

    data/futures/um/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip
    data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-03-05.zip
    data/futures/um/monthly/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip
    data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-03-05.zip
    data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip

Daily files appear the day after, monthly ones early in the next month; funding rates
are monthly only. Locally every file keeps its archive name under ``<out>/<SYMBOL>/``,
except mark-price klines, named ``BTCUSDT-markPriceKlines-1m-2024-01.zip`` so the
loaders tell them from trade klines. Beside each local file a ``.CHECKSUM`` in the
archive's format records the verified hash, so a later run skips it without asking.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from quantum_trader.data.bars import DataError

KINDS = ("klines", "markPriceKlines", "fundingRate")
DEFAULT_KINDS = ("klines", "fundingRate")
CHECKSUM_SUFFIX = ".CHECKSUM"
PART_SUFFIX = ".part"
SYMBOL_RE = re.compile(r"^[A-Z0-9]{1,20}USDT$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


def day_ms(day: date) -> int:
    """00:00 UTC of ``day`` in epoch milliseconds."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Unit:
    """One file of the archive: a symbol's month or day of one kind."""

    kind: str  # klines | markPriceKlines | fundingRate
    symbol: str
    interval: str | None  # None for fundingRate
    first: date  # the first day it covers
    monthly: bool

    @property
    def label(self) -> str:
        return self.first.strftime("%Y-%m" if self.monthly else "%Y-%m-%d")

    @property
    def last(self) -> date:
        """The last day it covers (inclusive)."""
        return next_month(self.first) - timedelta(days=1) if self.monthly else self.first

    @property
    def start_ms(self) -> int:
        return day_ms(self.first)

    @property
    def end_ms(self) -> int:
        """Exclusive end of its span."""
        return day_ms(self.last + timedelta(days=1))

    @property
    def archive_name(self) -> str:
        middle = "fundingRate" if self.kind == "fundingRate" else self.interval
        return f"{self.symbol}-{middle}-{self.label}.zip"

    @property
    def archive_path(self) -> str:
        """Path under the archive's base URL."""
        period = "monthly" if self.monthly else "daily"
        folder = f"data/futures/um/{period}/{self.kind}/{self.symbol}"
        if self.interval is not None:
            folder += f"/{self.interval}"
        return f"{folder}/{self.archive_name}"

    @property
    def local_name(self) -> str:
        if self.kind == "markPriceKlines":
            return f"{self.symbol}-markPriceKlines-{self.interval}-{self.label}.zip"
        return self.archive_name

    def days(self) -> list[Unit]:
        """A monthly unit's days as daily units (a daily unit: itself)."""
        if not self.monthly:
            return [self]
        count = (self.last - self.first).days + 1
        return [
            Unit(self.kind, self.symbol, self.interval, self.first + timedelta(days=i), False)
            for i in range(count)
        ]

    def month(self) -> Unit:
        """The monthly unit holding this one."""
        return Unit(self.kind, self.symbol, self.interval, month_start(self.first), True)


def _months(start: date, end: date) -> Iterator[date]:
    month = month_start(start)
    while month < end:
        yield month
        month = next_month(month)


def plan(
    symbols: list[str], interval: str, kinds: tuple[str, ...], start: date, end: date
) -> list[Unit]:
    """Files for ``[start, end)``: whole months as monthly files, the rest as daily ones
    (funding: every month the range touches, as the archive has funding monthly only)."""
    if end <= start:
        raise DataError(f"empty range: end {end} is not after start {start}")
    units: list[Unit] = []
    for symbol in symbols:
        for kind in kinds:
            if kind == "fundingRate":
                units += [Unit(kind, symbol, None, m, True) for m in _months(start, end)]
                continue
            for month in _months(start, end):
                whole = Unit(kind, symbol, interval, month, True)
                if whole.first >= start and next_month(month) <= end:
                    units.append(whole)
                    continue
                units += [u for u in whole.days() if start <= u.first < end]
    return units


def rest_funding_name(symbol: str, first: date, last: date) -> str:
    """Funding fetched from the REST API for days ``first..last`` (inclusive)."""
    return f"{symbol}-fundingRate-{first:%Y-%m-%d}_{last:%Y-%m-%d}.zip"


def parse_checksum(text: str, name: str) -> str:
    """The sha256 hex of a ``.CHECKSUM`` file's ``<hex>  <file name>`` line."""
    fields = text.strip().split()
    if not fields or not _HEX_RE.match(fields[0].lower()):
        raise DataError(f"{name}{CHECKSUM_SUFFIX}: not a sha256 checksum line ({text[:80]!r})")
    return fields[0].lower()


def checksum_line(digest: str, name: str) -> str:
    return f"{digest}  {name}\n"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def verified(path: Path) -> bool:
    """``path`` exists and matches the ``.CHECKSUM`` recorded beside it."""
    recorded = checksum_path(path)
    if not path.is_file() or not recorded.is_file():
        return False
    try:
        return parse_checksum(recorded.read_text(), path.name) == sha256_of(path)
    except (DataError, OSError, UnicodeDecodeError):
        return False


def remove_with_checksum(path: Path) -> None:
    path.unlink(missing_ok=True)
    checksum_path(path).unlink(missing_ok=True)
