"""The market a stepped paper run replays: the seeded synthetic one, or kline files
(``quantum run --data PATH``, the same files ``quantum backtest --data`` reads).

Both give bars of the configured strategy interval: synthetic 1m bars are resampled to
it, files must hold it (or a finer interval that resamples to it). The first
``warmup_bars`` are history the services warm up from; the run trades the rest, at most
``hours`` of it. The venue funds positions as the backtest's exchange does
(:func:`venue_funding`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from quantum_trader.backtest.engine import funding_schedule
from quantum_trader.bootstrap import engine_config
from quantum_trader.config import Settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.bars import BarSeries, DataError, interval_ms
from quantum_trader.data.binance import load_all
from quantum_trader.data.funding import find_funding
from quantum_trader.data.marks import MarkBars, find_marks, mark_bars, synthetic_mark_bars
from quantum_trader.data.resample import resample
from quantum_trader.exchange.sim import FundingSchedule


def synthetic_market(
    symbols: tuple[str, ...], hours: float, seed: int, interval: str, start_ms: int, warmup: int
) -> tuple[dict[str, BarSeries], MarkBars]:
    """The seeded market's bars and its synthetic mark (``quantum backtest --synthetic``'s)."""
    minutes_per_bar = interval_ms(interval) // 60_000
    bars = warmup + int(hours * 60 / minutes_per_bar) + 1
    market = generate_market(
        list(symbols), bars * minutes_per_bar, MarketConfig(seed=seed, start_ms=start_ms)
    )
    if minutes_per_bar == 1:
        series = dict(market.bars)
    else:
        series = {s: resample(b, interval) for s, b in market.bars.items()}
    return series, synthetic_mark_bars(market, series.values())


def file_market(
    path: Path, symbols: tuple[str, ...], hours: float | None, interval: str, warmup: int
) -> dict[str, BarSeries]:
    """Every symbol in ``path`` (or those of ``symbols``), aligned on their common start,
    cut to ``warmup`` + ``hours`` of bars; ValueError naming ``--data`` when unusable."""
    try:
        loaded = [r.series for r in load_all(path)]
    except DataError as exc:  # its message names the file
        raise ValueError(f"--data: {exc}") from None
    except OSError as exc:
        raise ValueError(f"--data {path}: {exc}") from None
    chosen = [s for s in loaded if not symbols or s.symbol in symbols]
    if not chosen:
        found = ", ".join(sorted({s.symbol for s in loaded})) or "no kline files"
        raise ValueError(f"--data {path}: no bars for {', '.join(symbols)} (found: {found})")
    series: dict[str, BarSeries] = {}
    for s in chosen:
        if s.interval != interval:
            if interval_ms(s.interval) > interval_ms(interval):
                raise ValueError(
                    f"--data {path}: {s.symbol} has {s.interval} bars, coarser than the "
                    f"strategies' interval {interval} (set strategies.interval)"
                )
            s = resample(s, interval)
        series[s.symbol] = s
    start = max(int(s.open_time[0]) for s in series.values())
    aligned = {sym: s.slice(int(np.searchsorted(s.open_time, start))) for sym, s in series.items()}
    length = min(len(s) for s in aligned.values())
    if length <= warmup + 1:
        raise ValueError(
            f"--data {path}: {length} common bars; a run needs more than {warmup + 1} "
            f"({warmup} warm-up bars first)"
        )
    if hours is not None:
        length = min(length, warmup + int(hours * 3_600_000 / interval_ms(interval)) + 1)
    cut = {sym: s.slice(0, length) for sym, s in aligned.items()}
    first = next(iter(cut.values())).open_time
    if any(not np.array_equal(s.open_time, first) for s in cut.values()):
        raise ValueError(
            f"--data {path}: the symbols' bars do not line up (gaps in some files); repair "
            "them with `quantum data inspect --repair --out`"
        )
    return cut


def venue_funding(
    data: Path | None, symbols: Sequence[str], settings: Settings
) -> tuple[FundingSchedule, str]:
    """The venue's funding, as ``quantum backtest`` charges it: the rates recorded beside
    the kline files at ``data``, the flat rate for the rest (and for a synthetic market);
    with the summary's name for that source."""
    recorded = None
    if data is not None:
        try:
            recorded = find_funding(data, symbols)
        except DataError as exc:
            raise ValueError(f"--data {data}: {exc}") from None
    return funding_schedule(symbols, engine_config(settings), recorded)


def file_marks(data: Path, series: Mapping[str, BarSeries]) -> MarkBars:
    """The mark the venue walks beside the last price, as ``quantum backtest --data`` of
    the same files does: the markPriceKlines files beside the kline files at ``data``."""
    try:
        return mark_bars(series.values(), find_marks(data, list(series)))
    except DataError as exc:
        raise ValueError(f"--data {data}: {exc}") from None
