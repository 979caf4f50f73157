"""One definition, two evaluations: ``compute`` over a whole series and ``FeatureState``
bar by bar give the same value (to 1e-9) and the same NaN at every bar of every feature,
for several symbols, with gaps, with funding present, absent or starting part-way."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from quantum_trader.data import BarSeries, DataError, FundingSeries
from quantum_trader.features import (
    FEATURE_NAMES,
    FeatureSpec,
    FeatureState,
    HigherTimeframe,
    compute,
)
from tests.unit.features.samples import (
    bars,
    events,
    funding,
    mismatch,
    replay,
    truncated_funding,
    with_gaps,
)

SHORT = FeatureSpec(
    return_horizons=(1, 3, 30),
    atr_period=5,
    realised_vol_windows=(7,),
    parkinson_windows=(9,),
    volume_ratio_windows=(3,),
    volume_shock_span=10,
    range_windows=(2, 33),
    ema_gap_spans=(4,),
    ema_slope_spans=(6,),
    slope_lag=2,
    macd_spans=(3, 7, 4),
    rsi_period=6,
    close_z_spans=(11,),
    missing_window=17,
    funding_ema_span=30,
    funding_period_hours=4,
    higher_timeframes=(HigherTimeframe("3m", 5, 3, 4, 3), HigherTimeframe("2h", 3, 2, 2, 2)),
    cross_section=("ret_3",),
)


def case(name: str) -> tuple[BarSeries, FundingSeries | None, FeatureSpec]:
    if name == "contiguous, funding":
        return bars("BTCUSDT"), funding("BTCUSDT"), FeatureSpec()
    if name == "gaps, funding":
        return with_gaps(bars("ETHUSDT"), 1), funding("ETHUSDT"), FeatureSpec()
    if name == "gaps, no funding":
        return with_gaps(bars("SOLUSDT"), 2), None, FeatureSpec()
    if name == "starts mid-bucket, gaps, funding from hour 16":
        series = with_gaps(bars("DOGEUSDT"), 3).slice(7)
        start = int(series.open_time[0]) + 16 * 3_600_000
        return series, truncated_funding(funding("DOGEUSDT"), start), FeatureSpec()
    assert name == "other parameters, gaps, funding"
    return with_gaps(bars("BTCUSDT"), 4), funding("BTCUSDT"), SHORT


CASES = (
    "contiguous, funding",
    "gaps, funding",
    "gaps, no funding",
    "starts mid-bucket, gaps, funding from hour 16",
    "other parameters, gaps, funding",
)


@pytest.mark.parametrize("name", CASES)
def test_vectorised_and_incremental_agree_on_every_feature_and_bar(name: str) -> None:
    series, rates, spec = case(name)
    frame = compute(series, rates, spec)
    assert np.array_equal(frame.open_time, series.open_time)
    assert mismatch(frame.values, replay(series, rates, spec), frame.names) is None
    # Not vacuous: past the warm-up every feature has values (funding only when given).
    empty = [n for n in frame.names if np.isnan(frame.column(n)).all()]
    assert empty == ([] if rates is not None else ["funding_rate", "funding_rate_ema_480"])


def test_the_gapped_series_really_has_gaps_and_the_features_see_them() -> None:
    series, _, _ = case("gaps, funding")
    frame = compute(series)
    gap = frame.column("gap_bars")
    span = (int(series.open_time[-1]) - int(series.open_time[0])) // series.interval_ms + 1
    assert math.isnan(gap[0]) and int(np.nansum(gap)) == span - len(series) > 100
    assert np.nanmax(gap) == 90.0
    assert frame.names == FEATURE_NAMES


def test_funding_is_the_last_settled_rate_and_nan_without_one() -> None:
    series, rates, _ = case("starts mid-bucket, gaps, funding from hour 16")
    assert rates is not None
    column = compute(series, rates).column("funding_rate")
    close = series.close_time
    before = close < rates.funding_time[0]
    assert np.isnan(column[before]).all() and not np.isnan(column[~before]).any()
    for i in np.flatnonzero(~before)[::97]:
        last = int(np.searchsorted(rates.funding_time, close[i], side="right")) - 1
        assert column[i] == rates.rate[last] and rates.funding_time[last] <= close[i]


def test_the_state_refuses_bars_it_cannot_place() -> None:
    series = bars("BTCUSDT").slice(0, 5)
    bar0, bar1 = events(series)[:2]
    state = FeatureState("BTCUSDT", "1m")
    state.update(bar1)
    with pytest.raises(DataError, match="oldest first"):
        state.update(bar0)
    with pytest.raises(DataError, match="ETHUSDT"):
        FeatureState("ETHUSDT", "1m").update(bar0)
    with pytest.raises(DataError, match="NaN"):
        FeatureState("BTCUSDT", "1m").update(replace(bar0, close=math.nan))


def test_compute_refuses_unsorted_bars_and_timeframes_that_do_not_divide() -> None:
    series = bars("BTCUSDT").slice(0, 50)
    shuffled = series.take(np.r_[0:10, 20:30, 10:20, 30:50])
    with pytest.raises(DataError, match="less than one interval"):
        compute(shuffled)
    three = replace(series, interval="3m", open_time=series.open_time * 3)
    with pytest.raises(DataError, match="whole multiple"):
        compute(three)  # the default timeframes (5m, 15m, 1h) are not made of 3 m bars
    with pytest.raises(DataError, match="whole multiple"):
        FeatureState("BTCUSDT", "3m")
