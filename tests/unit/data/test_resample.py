"""Resampling: exact OHLCV aggregation on UTC boundaries, partial buckets dropped or flagged."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.data.bars import BarSeries, DataError
from quantum_trader.data.binance import load_klines
from quantum_trader.data.resample import resample, resample_flagged
from quantum_trader.data.synthetic import MarketConfig, generate_bars
from tests.unit.data.samples import make_series, real_file

DAY = 86_400_000


def test_five_minute_bars_from_hand_made_minutes() -> None:
    closes = [10.0, 12.0, 9.0, 11.0, 10.5, 13.0, 14.0, 12.5, 12.0, 15.0]
    minutes = make_series(closes)
    five = resample(minutes, "5m")
    assert len(five) == 2
    assert list(five.open) == [10.0, 10.5]  # first open (open = previous close)
    assert list(five.close) == [10.5, 15.0]
    assert list(five.high) == [13.0, 16.0]
    assert list(five.low) == [8.0, 9.5]
    assert list(five.volume) == [15.0, 40.0]
    assert list(five.open_time) == [int(minutes.open_time[0]), int(minutes.open_time[5])]
    assert five.interval == "5m"


def test_buckets_are_aligned_on_utc_boundaries_not_on_the_first_bar() -> None:
    start = DAY * 20_000 + 3 * 60_000  # 00:03 UTC
    minutes = make_series([float(i) for i in range(1, 12)], start_ms=start)  # to 00:13
    flagged, complete = resample_flagged(minutes, "5m")
    assert [int(t % DAY) // 60_000 for t in flagged.open_time] == [0, 5, 10]
    assert list(complete) == [False, True, False]
    kept = resample(minutes, "5m")
    assert len(kept) == 1 and kept.open[0] == 2.0 and kept.close[0] == 7.0
    assert len(resample(minutes, "5m", keep_partial=True)) == 3


def test_missing_minutes_inside_a_bucket_are_allowed() -> None:
    minutes = make_series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    holey = minutes.take(np.array([0, 1, 3, 4, 5]))
    five = resample(holey, "5m", keep_partial=True)
    assert list(five.volume) == [1 + 2 + 4 + 5, 6]
    assert five.close[0] == 5.0


def test_daily_and_weekly_buckets() -> None:
    series = generate_bars("BTCUSDT", 60 * 24 * 15, MarketConfig(seed=3))  # from a Monday
    daily = resample(series, "1d")
    assert len(daily) == 15
    assert np.all(daily.open_time % DAY == 0)
    weekly = resample(series, "1w")
    assert len(weekly) == 2
    # 1970-01-05 was a Monday: weekly candles open on Mondays.
    assert np.all((weekly.open_time - 4 * DAY) % (7 * DAY) == 0)
    assert weekly.high[0] == series.high[: 7 * 1440].max()
    assert weekly.volume[1] == pytest.approx(series.volume[7 * 1440 : 14 * 1440].sum())


@pytest.mark.parametrize("interval", ["5m", "15m", "1h", "4h", "1d"])
def test_chained_resampling_equals_direct(interval: str) -> None:
    minutes = generate_bars("ETHUSDT", 60 * 24 * 3, MarketConfig(seed=8))
    direct = resample(minutes, interval)
    via_5m = resample(resample(minutes, "5m"), interval)
    for a, b in zip(direct.columns()[:5], via_5m.columns()[:5], strict=True):
        assert np.array_equal(a, b)
    assert np.allclose(direct.volume, via_5m.volume, rtol=1e-12)


def test_target_must_be_a_multiple_of_the_source() -> None:
    with pytest.raises(DataError, match="whole multiple"):
        resample(make_series([1.0, 2.0], interval="5m"), "7m")
    with pytest.raises(DataError, match="whole multiple"):
        resample(make_series([1.0, 2.0], interval="1h"), "5m")


def test_unsorted_input_is_refused_with_the_fix() -> None:
    series = make_series([1.0, 2.0, 3.0]).take(np.array([1, 0, 2]))
    with pytest.raises(DataError, match="repair=True"):
        resample(series, "5m")


def test_empty_series_resamples_to_empty() -> None:
    assert len(resample(BarSeries.empty("X", "1m"), "1h")) == 0


def test_real_xrpusdt_5m_aggregates_to_the_real_8h_candles() -> None:
    five = load_klines(real_file("XRPUSDT-5m-2021-11-15_2021-11-21.csv"))
    eight = load_klines(real_file("XRPUSDT-8h-2021-11-18_2021-12-18.csv"))
    ours = resample(five, "8h")
    common, mine, theirs = np.intersect1d(ours.open_time, eight.open_time, return_indices=True)
    assert len(common) == 11  # the README's overlap
    for column in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(ours, column)[mine], getattr(eight, column)[theirs]), column
    # Volumes are on the 0.1 step: equal once float summation noise is rounded away.
    assert np.array_equal(np.round(ours.volume[mine], 1), eight.volume[theirs])
