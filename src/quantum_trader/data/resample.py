"""Resampling to a coarser interval: 1 m → 5 m / 15 m / 1 h / 4 h / 1 d / …

Buckets are aligned on interval boundaries in UTC (weeks on Mondays, like Binance):
open = first, high = max, low = min, close = last, volume = sum. Missing source bars
inside a bucket (minutes without trades) are allowed; a bucket is *complete* when the
source series covers its whole span. Partial buckets at either end are dropped by default
or kept and flagged by ``resample_flagged``. ``resample_klines`` does the same with exact
``Kline`` candles (what an exchange serves).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from quantum_trader.data.bars import BarSeries, DataError, interval_ms, interval_offset_ms
from quantum_trader.domain.klines import Kline


def _check(series: BarSeries, interval: str) -> tuple[int, int]:
    source_ms, target_ms = series.interval_ms, interval_ms(interval)
    if target_ms < source_ms or target_ms % source_ms != 0:
        raise DataError(
            f"cannot resample {series.symbol} {series.interval} to {interval}: the target "
            f"must be a whole multiple of {series.interval}"
        )
    if len(series) > 1 and bool(np.any(np.diff(series.open_time) <= 0)):
        raise DataError(
            f"{series.symbol} {series.interval}: bars are unsorted or duplicated; "
            "rerun with --repair before resampling (Python: load with repair=True)"
        )
    return source_ms, target_ms


def resample_flagged(series: BarSeries, interval: str) -> tuple[BarSeries, NDArray[np.bool_]]:
    """All buckets, including partial ones at either end, and a mask of the complete ones."""
    source_ms, target_ms = _check(series, interval)
    if len(series) == 0:
        return BarSeries.empty(series.symbol, interval), np.zeros(0, np.bool_)
    offset = interval_offset_ms(interval)
    bucket = (series.open_time - offset) // target_ms
    change = np.flatnonzero(np.diff(bucket)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [len(series)])) - 1
    open_time = bucket[starts] * target_ms + offset
    result = BarSeries(
        series.symbol,
        interval,
        open_time,
        series.open[starts],
        np.maximum.reduceat(series.high, starts),
        np.minimum.reduceat(series.low, starts),
        series.close[ends],
        np.add.reduceat(series.volume, starts),
    )
    # Complete when the data spans the whole bucket: the first bucket must start with the
    # series, the last must end with it. Interior buckets are complete by construction.
    complete = np.ones(len(result), np.bool_)
    if series.open_time[0] > open_time[0]:
        complete[0] = False
    if series.open_time[-1] + source_ms < open_time[-1] + target_ms:
        complete[-1] = False
    return result, complete


def resample(series: BarSeries, interval: str, *, keep_partial: bool = False) -> BarSeries:
    """Aggregate ``series`` to ``interval``; partial buckets at the ends are dropped
    unless ``keep_partial`` (use ``resample_flagged`` to know which ones they are)."""
    result, complete = resample_flagged(series, interval)
    return result if keep_partial else result.take(complete)


def resample_klines(klines: Sequence[Kline], interval: str) -> list[Kline]:
    """Exact (``Decimal``) candles of ``interval`` from oldest-first ``klines`` of one
    symbol at a finer interval that divides it, on the same UTC buckets as ``resample``:
    open = first, high = max, low = min, close = last, volume = sum. Every bucket the
    source reaches is kept, partial ones too (the current candle of an exchange)."""
    target_ms, offset = interval_ms(interval), interval_offset_ms(interval)
    out: list[Kline] = []
    group: list[Kline] = []
    bucket = None
    for k in klines:
        b = (k.open_time - offset) // target_ms
        if b != bucket and group:
            out.append(_merge(group, interval, bucket_start(group[0], target_ms, offset)))
            group = []
        bucket = b
        group.append(k)
    if group:
        out.append(_merge(group, interval, bucket_start(group[0], target_ms, offset)))
    return out


def bucket_start(kline: Kline, target_ms: int, offset: int) -> int:
    return (kline.open_time - offset) // target_ms * target_ms + offset


def _merge(group: list[Kline], interval: str, open_time: int) -> Kline:
    first = group[0]
    return Kline(
        first.symbol,
        interval,
        open_time,
        first.open,
        max(k.high for k in group),
        min(k.low for k in group),
        group[-1].close,
        sum((k.volume for k in group), Decimal(0)),
        open_time + interval_ms(interval) - 1,
    )
