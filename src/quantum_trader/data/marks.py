"""Mark prices: Binance's ``markPriceKlines`` dumps, and a synthetic mark for generated markets.

On Binance USDⓈ-M the *mark* price, not the last trade, triggers ``MARK_PRICE`` stops
(the system's protective stops), values unrealised PnL and margin, and liquidates. It is
built from the spot index, so it wicks less than the last trade and drifts from it by a
small basis. A backtest or paper run that knows the mark's klines walks both prices
through every bar; without them the mark follows the last price.

Files are found as funding files are: under a data directory at any depth, or beside a
single kline file, named as Binance names them (``BTCUSDT-markPriceKlines-1m-2024-01.zip``,
the name ``quantum data download --kinds markPriceKlines`` gives them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quantum_trader.data.bars import BarSeries, DataError
from quantum_trader.data.binance import SUFFIXES, finish, parse_dump_name, read_kline_file
from quantum_trader.data.quality import RawKlines
from quantum_trader.data.resample import resample
from quantum_trader.data.synthetic import SyntheticMarket, seeded_rng
from quantum_trader.domain.klines import Kline

MARK_KIND = "markPriceKlines"
MARK_MARK = f"-{MARK_KIND}-"  # BTCUSDT-markPriceKlines-1m-2024-01.zip
LAST_PRICE = "last price"  # the summary's mark source when no mark klines were used
SYNTHETIC = "synthetic"
MAX_BASIS = 0.05  # a median |mark / last - 1| above 5 % is another market's file
BASIS_STD = 0.0003  # the synthetic mark's basis: 3 bps standard deviation…
BASIS_BARS = 240.0  # …mean-reverting over about four hours of minutes
WICK_SHARE = 0.6  # the synthetic mark's wicks: this share of the last price's


@dataclass(frozen=True, slots=True, eq=False)
class MarkBars:
    """Each symbol's mark OHLC on its trade bars' open times, and where they came from."""

    series: Mapping[str, BarSeries]
    source: str = LAST_PRICE

    def get(self, symbol: str) -> BarSeries | None:
        return self.series.get(symbol)

    def bar(self, symbol: str, i: int) -> Kline | None:
        """Bar ``i`` of ``symbol``'s mark, as written (None: no mark of its own)."""
        marks = self.series.get(symbol)
        return None if marks is None else marks.bar_at(i)


NO_MARKS = MarkBars({})


def mark_files(path: str | Path, symbols: Iterable[str] | None = None) -> list[Path]:
    """The mark-price dumps belonging to kline data at ``path`` (a directory: at any
    depth; a file: beside it), limited to ``symbols`` when given."""
    path = Path(path)
    found = path.rglob(f"*{MARK_MARK}*") if path.is_dir() else path.parent.glob(f"*{MARK_MARK}*")
    wanted = set(symbols) if symbols is not None else None
    out = []
    for file in sorted(found):
        named = parse_dump_name(file)
        if not file.is_file() or file.suffix not in SUFFIXES or named is None:
            continue
        if named.kind == MARK_KIND and (wanted is None or named.symbol in wanted):
            out.append(file)
    return out


def find_marks(path: str | Path, symbols: Iterable[str] | None = None) -> dict[str, BarSeries]:
    """Every symbol's mark klines found with the kline data at ``path`` (one series per
    symbol, its files joined in time order; gaps allowed: a bar without a mark takes the
    last price); empty when there are none."""
    groups: dict[tuple[str, str], list[RawKlines]] = {}
    for file in mark_files(path, symbols):
        raw = read_kline_file(file)
        groups.setdefault((raw.series.symbol, raw.series.interval), []).append(raw)
    by_symbol: dict[str, list[BarSeries]] = {}
    for (symbol, _), parts in sorted(groups.items()):
        parts.sort(key=lambda r: int(r.series.open_time.min()) if len(r.series) else 0)
        joined = RawKlines.concat(parts) if len(parts) > 1 else parts[0]
        by_symbol.setdefault(symbol, []).append(finish(joined, allow_gaps=True).series)
    # several intervals of one symbol: the finest, which resamples to the others
    return {sym: min(found, key=lambda s: s.interval_ms) for sym, found in by_symbol.items()}


def align_marks(series: BarSeries, marks: BarSeries) -> tuple[BarSeries, int]:
    """``marks`` on ``series``'s open times (resampled when finer); a bar without a mark
    takes the trade bar's prices. Returns the aligned marks and how many bars lacked one."""
    if marks.interval != series.interval:
        if marks.interval_ms > series.interval_ms:
            raise DataError(
                f"{series.symbol}: mark klines are {marks.interval}, coarser than the "
                f"{series.interval} bars. Fix: download markPriceKlines at {series.interval}"
            )
        marks = resample(marks, series.interval, keep_partial=True)
    n = len(series)
    at = np.searchsorted(marks.open_time, series.open_time)
    inside = at < len(marks)
    found = np.zeros(n, np.bool_)
    found[inside] = marks.open_time[at[inside]] == series.open_time[inside]
    take = at[found]
    columns = []
    for name in ("open", "high", "low", "close"):
        column = np.array(getattr(series, name), np.float64)
        column[found] = getattr(marks, name)[take]
        columns.append(column)
    if bool(found.any()):
        basis = np.abs(columns[3][found] / series.close[found] - 1.0)
        median = float(np.median(basis))
        if median > MAX_BASIS:
            raise DataError(
                f"{series.symbol}: mark prices sit {median:.1%} from the last prices (median); "
                "they are not this market's. Fix: check the markPriceKlines files"
            )
    open_, high, low, close = columns
    high = np.maximum(high, np.maximum(open_, close))
    low = np.minimum(low, np.minimum(open_, close))
    aligned = BarSeries(
        series.symbol, series.interval, series.open_time, open_, high, low, close, np.zeros(n)
    )
    return aligned, int(n - found.sum())


def mark_bars(
    series: Iterable[BarSeries], found: Mapping[str, BarSeries], label: str = "files"
) -> MarkBars:
    """The marks of ``series`` from ``found`` (per symbol), aligned, with the summary's
    source: ``files: 3 symbols``, ``…; last price for the rest``, ``(N bars …)``."""
    chosen = list(series)
    aligned: dict[str, BarSeries] = {}
    missing = 0
    coarse = []
    for s in chosen:
        marks = found.get(s.symbol)
        if marks is None or not len(s):
            continue
        if marks.interval_ms > s.interval_ms:  # cannot walk a 5m bar on a 1h mark
            coarse.append(f"{s.symbol} {marks.interval}")
            continue
        aligned[s.symbol], lacking = align_marks(s, marks)
        missing += lacking
    unusable = f" (mark klines coarser than the bars: {', '.join(coarse)})" if coarse else ""
    if not aligned:
        return MarkBars({}, LAST_PRICE + unusable)
    source = label if label == SYNTHETIC else f"{label}: {len(aligned)} symbols"
    if len(aligned) < len(chosen):
        source += f"; {LAST_PRICE} for the rest"
    if missing:
        source += f" ({missing} bars without a mark took the {LAST_PRICE})"
    return MarkBars(aligned, source + unusable)


def synthetic_marks(market: SyntheticMarket, symbol: str, series: BarSeries) -> BarSeries:
    """A mark for a generated market's ``series`` (its 1m bars or a resampling of them):
    the last price times (1 + a mean-reverting basis of a few bps), with wicks of
    ``WICK_SHARE`` of the last price's, on the symbol's tick. Seeded by the market."""
    if symbol not in market.specs:
        raise DataError(f"{symbol}: not in this synthetic market ({', '.join(market.bars)})")
    n = len(series)
    rng = seeded_rng(market.config.seed, 4, symbol)
    keep = float(np.exp(-series.interval_ms / 60_000 / BASIS_BARS))
    shocks = rng.normal(0.0, BASIS_STD * np.sqrt(1.0 - keep * keep), n + 1)
    basis = np.empty(n + 1)
    level = rng.normal(0.0, BASIS_STD)
    for i in range(n + 1):  # one boundary per bar open, and the last close
        level = keep * level + shocks[i]
        basis[i] = level
    o, h, low, c = series.open, series.high, series.low, series.close
    top, bottom = np.maximum(o, c), np.minimum(o, c)
    middle = 1.0 + (basis[:-1] + basis[1:]) / 2.0
    tick = float(market.specs[symbol].tick_size)

    def on_tick(values: np.ndarray) -> np.ndarray:
        return np.maximum(np.round(values / tick), 1.0) * tick

    m_open = on_tick(o * (1.0 + basis[:-1]))
    m_close = on_tick(c * (1.0 + basis[1:]))
    m_high = on_tick((top + WICK_SHARE * (h - top)) * middle)
    m_low = on_tick((bottom - WICK_SHARE * (bottom - low)) * middle)
    m_high = np.maximum(m_high, np.maximum(m_open, m_close))
    m_low = np.minimum(m_low, np.minimum(m_open, m_close))
    places = max(0, -int(market.specs[symbol].tick_size.normalize().as_tuple().exponent))
    return BarSeries(
        symbol,
        series.interval,
        series.open_time,
        np.round(m_open, places),
        np.round(m_high, places),
        np.round(m_low, places),
        np.round(m_close, places),
        np.zeros(n),
    )


def synthetic_mark_bars(market: SyntheticMarket, series: Iterable[BarSeries]) -> MarkBars:
    """:func:`synthetic_marks` for each of ``series`` (a generated market's symbols)."""
    found = {s.symbol: synthetic_marks(market, s.symbol, s) for s in series if len(s)}
    return mark_bars(found.values(), found, SYNTHETIC)


def mark_dump_name(kline_file: str) -> str:
    """``BTCUSDT-1m-2024-01-01_2024-01-31.csv`` -> ``BTCUSDT-markPriceKlines-1m-…csv``."""
    symbol, rest = kline_file.split("-", 1)
    return f"{symbol}{MARK_MARK}{rest}"
