"""Shared material for the feature tests: a synthetic market, gapped series, a bar-by-bar
replay through ``FeatureState`` and a comparison that names the first differing cell."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from quantum_trader.data import (
    BarSeries,
    FundingSeries,
    MarketConfig,
    SyntheticMarket,
    generate_market,
)
from quantum_trader.data.bars import FloatArray
from quantum_trader.data.funding import generate_funding
from quantum_trader.data.source import BarEvent
from quantum_trader.features import DEFAULT_SPEC, FeatureSpec, FeatureState, FundingCursor

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT")
N_BARS = 2_400  # 40 h of 1 m bars: the 1 h timeframe's 21-bar EMA is ready after 21 h
TOLERANCE = 1e-9


@lru_cache(maxsize=1)
def market() -> SyntheticMarket:
    return generate_market(list(SYMBOLS), N_BARS, MarketConfig(seed=11))


def bars(symbol: str) -> BarSeries:
    return market().bars[symbol]


def funding(symbol: str) -> FundingSeries:
    return generate_funding(market(), symbol)


def with_gaps(series: BarSeries, seed: int) -> BarSeries:
    """``series`` with bars missing: scattered single bars, a 90-minute hole, the last
    minute of a 5 m bucket, and a 5 m bucket whose last minute is the first bar after a
    missing one (so one bar completes two 5 m bars)."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(series)) > 0.03
    keep[700:790] = False  # 90 minutes
    keep[1004] = False  # the last minute of the 1000–1004 bucket
    keep[1204:1209] = False  # 1209 completes both the 1200 and the 1205 buckets
    keep[:2] = True
    keep[1209] = True
    return series.take(keep)


def truncated_funding(funding: FundingSeries, from_ms: int) -> FundingSeries:
    """Only the settlements at or after ``from_ms``: rates appear part-way through."""
    keep = funding.funding_time >= from_ms
    return FundingSeries(
        funding.symbol, funding.funding_time[keep], funding.rate[keep], funding.interval_hours
    )


def events(series: BarSeries) -> list[BarEvent]:
    t, o, h, lo, c, v = (col.tolist() for col in series.columns())
    step = series.interval_ms
    return [
        BarEvent(
            series.symbol, series.interval, i, t[i], t[i] + step - 1, o[i], h[i], lo[i], c[i], v[i]
        )
        for i in range(len(series))
    ]


def replay(
    series: BarSeries, funding: FundingSeries | None = None, spec: FeatureSpec = DEFAULT_SPEC
) -> FloatArray:
    """Every row ``FeatureState.update`` returns, bar by bar, as one array."""
    state = FeatureState(series.symbol, series.interval, spec)
    cursor = FundingCursor(funding)
    rows = [state.update(bar, cursor.rate_at(bar.close_time)).values for bar in events(series)]
    return np.array(rows).reshape(len(series), len(state.names))


def mismatch(
    expected: FloatArray, actual: FloatArray, names: tuple[str, ...], tol: float = TOLERANCE
) -> str | None:
    """None when equal to ``tol`` (absolute, or relative above 1) with the same NaNs;
    else the first differing bar and feature."""
    assert expected.shape == actual.shape, (expected.shape, actual.shape)
    nan_a, nan_b = np.isnan(expected), np.isnan(actual)
    with np.errstate(invalid="ignore"):
        error = np.abs(expected - actual) / np.maximum(1.0, np.abs(expected))
    bad = (nan_a != nan_b) | (~nan_a & ~nan_b & ~(error <= tol))
    if not bad.any():
        return None
    i, k = (int(x) for x in np.argwhere(bad)[0])
    return (
        f"{int(bad.sum())} cells differ; first at bar {i}, {names[k]}: "
        f"{expected[i, k]!r} vs {actual[i, k]!r}"
    )
