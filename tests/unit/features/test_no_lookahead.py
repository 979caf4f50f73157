"""No feature reads a bar after the one it is stamped with: change or remove everything
after bar ``j`` (prices, volumes, bar times, funding) and rows ``0..j`` stay the same."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.data import BarSeries, FundingSeries
from quantum_trader.features import compute
from tests.unit.features.samples import bars, funding, mismatch, with_gaps

# Around the ends of 5 m / 15 m / 1 h buckets (a bucket completes on its last minute),
# inside the 90-minute hole and where one bar completes two buckets.
CUTS = (0, 58, 59, 60, 299, 300, 719, 1003, 1199, 1259, 1319, 1800, 2100)


def perturbed_after(series: BarSeries, j: int, seed: int) -> BarSeries:
    """Bars after ``j`` scaled by random factors (OHLC kept consistent), random volumes and
    the future's bar times moved (a bar removed and later bars shifted by a gap)."""
    rng = np.random.default_rng(seed)
    n, future = len(series), slice(j + 1, None)
    factor = np.ones(n)
    factor[future] = np.exp(rng.normal(0.0, 0.05, n - j - 1))
    spread = np.ones(n)
    spread[future] = 1.0 + rng.random(n - j - 1) * 0.01
    volume = series.volume.copy()
    volume[future] = rng.exponential(100.0, n - j - 1)
    open_time = series.open_time.copy()
    open_time[j + 2 :] += 7 * series.interval_ms  # a fresh gap right after bar j + 1
    return BarSeries(
        series.symbol,
        series.interval,
        open_time,
        series.open * factor,
        series.high * factor * spread,
        series.low * factor / spread,
        series.close * factor,
        volume,
    )


def changed_funding_after(rates: FundingSeries, ms: int) -> FundingSeries:
    rate = rates.rate.copy()
    rate[rates.funding_time > ms] *= -3.0
    return FundingSeries(rates.symbol, rates.funding_time, rate, rates.interval_hours)


@pytest.mark.parametrize("gapped", [False, True])
def test_changing_the_future_changes_no_earlier_row(gapped: bool) -> None:
    series = with_gaps(bars("ETHUSDT"), 5) if gapped else bars("ETHUSDT")
    rates = funding("ETHUSDT")
    base = compute(series, rates)
    for j in CUTS:
        future = perturbed_after(series, j, seed=j)
        other_rates = changed_funding_after(rates, int(series.close_time[j]))
        changed = compute(future, other_rates)
        assert mismatch(base.values[: j + 1], changed.values[: j + 1], base.names, 0.0) is None
        # …and the future did change something, so the check has teeth.
        assert not np.array_equal(base.values[j + 1 :], changed.values[j + 1 :], equal_nan=True)


def test_a_series_cut_at_bar_j_gives_the_same_rows_as_the_whole_series() -> None:
    series, rates = with_gaps(bars("SOLUSDT"), 6), funding("SOLUSDT")
    whole = compute(series, rates)
    for j in CUTS:
        head = compute(series.slice(0, j + 1), rates)
        assert mismatch(whole.values[: j + 1], head.values, whole.names) is None
