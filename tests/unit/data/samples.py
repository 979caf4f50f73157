"""Test data for market-data tests: where the real dumps live, small hand-made series."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantum_trader.data.bars import BarSeries
from tests.conftest import SHARED_DATA, shared_data

REAL_DATA = SHARED_DATA / "klines"


def real_file(name: str) -> Path:
    """Path of a real dump under ../shared/data/klines (a test fails without it)."""
    return shared_data(f"klines/{name}")


def make_series(
    closes: list[float],
    *,
    start_ms: int = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000,
    interval: str = "1m",
    symbol: str = "TESTUSDT",
) -> BarSeries:
    """Bars with open = previous close, high/low 1 above/below the body, volume 1, 2, 3…"""
    step = {"1m": 60_000, "5m": 300_000, "1h": 3_600_000}[interval]
    close = np.array(closes, dtype=np.float64)
    open_ = np.concatenate(([close[0]], close[:-1]))
    n = len(close)
    return BarSeries(
        symbol,
        interval,
        start_ms + np.arange(n, dtype=np.int64) * step,
        open_,
        np.maximum(open_, close) + 1,
        np.minimum(open_, close) - 1,
        close,
        np.arange(1, n + 1, dtype=np.float64),
    )
