"""What ``quantum data inspect`` reports about a series: coverage, problems, price and returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from quantum_trader.data.bars import MINUTE_MS
from quantum_trader.data.quality import RawKlines, RepairReport, check_bars, repair_bars

MINUTES_PER_YEAR = 525_600


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """Plain values, ready for a table or JSON."""

    symbol: str
    interval: str
    files: int
    rows: int
    first: int | None
    last: int | None
    gaps: int
    missing_bars: int
    duplicates: int
    conflicting_duplicates: int
    unsorted: int
    non_finite: int
    bad_ohlc: int
    outliers: int
    misaligned: int
    price_min: float | None
    price_max: float | None
    return_mean: float | None
    return_std: float | None
    return_min: float | None
    return_max: float | None
    annualised_vol: float | None
    problems: list[str]
    repair: dict[str, int | bool] | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _maybe(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def summarize(raw: RawKlines, *, repair: bool = False) -> SeriesSummary:
    """Check ``raw`` and describe it; with ``repair`` also say what repair would change."""
    s = raw.series
    quality = check_bars(raw)
    ordered = s.take(np.argsort(s.open_time, kind="stable"))
    close = ordered.close[np.isfinite(ordered.close) & (ordered.close > 0)]
    returns = np.diff(np.log(close)) if len(close) > 1 else np.zeros(0)
    prices = np.concatenate([s.low, s.high])
    prices = prices[np.isfinite(prices)]
    repaired: RepairReport | None = None
    problems = [f"{i.where}: {i.detail}. Fix: {i.fix}" for i in quality.issues]
    if repair and not quality.fatal:
        repaired = repair_bars(raw, quality)[1]
    elif repair:
        problems.insert(0, "repair is not possible until the fatal problems are fixed")
    periods_per_year = MINUTES_PER_YEAR * MINUTE_MS / s.interval_ms
    std = float(returns.std()) if len(returns) > 1 else math.nan
    return SeriesSummary(
        symbol=s.symbol,
        interval=s.interval,
        files=len(raw.files),
        rows=len(s),
        first=int(s.open_time.min()) if len(s) else None,
        last=int(s.open_time.max()) if len(s) else None,
        gaps=quality.gaps,
        missing_bars=quality.missing_bars,
        duplicates=quality.duplicates,
        conflicting_duplicates=quality.conflicting_duplicates,
        unsorted=quality.unsorted,
        non_finite=quality.non_finite,
        bad_ohlc=quality.bad_ohlc,
        outliers=quality.outliers,
        misaligned=quality.misaligned,
        price_min=_maybe(float(prices.min())) if len(prices) else None,
        price_max=_maybe(float(prices.max())) if len(prices) else None,
        return_mean=_maybe(float(returns.mean())) if len(returns) else None,
        return_std=_maybe(std),
        return_min=_maybe(float(returns.min())) if len(returns) else None,
        return_max=_maybe(float(returns.max())) if len(returns) else None,
        annualised_vol=_maybe(std * math.sqrt(periods_per_year)),
        problems=problems,
        repair=asdict(repaired) if repaired is not None else None,
    )
