"""Higher timeframes: the completed bars of a series, and when each becomes known, are
the same built at once (``higher_columns``) or base bar by base bar (``HigherBarBuilder``)."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.data import BarSeries, DataError, resample
from quantum_trader.data.bars import DAY_MS, MINUTE_MS
from quantum_trader.features.higher import HigherBarBuilder, higher_columns
from tests.unit.features.samples import bars, with_gaps

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday


def minutes(*offsets: int, interval_ms: int = MINUTE_MS, interval: str = "1m") -> BarSeries:
    """Bars opening ``offsets`` intervals after T0; bar k has close 100 + k, high +1, low −1."""
    k = np.arange(len(offsets), dtype=np.float64)
    t = T0 + np.array(offsets, dtype=np.int64) * interval_ms
    close = 100.0 + k
    return BarSeries("TESTUSDT", interval, t, close - 0.5, close + 1.0, close - 1.0, close, k)


def built(series: BarSeries, interval: str) -> tuple[list[tuple[float, ...]], list[int]]:
    """The builder's bars, and per base bar how many it had completed (the as-of index + 1)."""
    builder = HigherBarBuilder(interval, series.interval)
    out: list[tuple[float, ...]] = []
    known: list[int] = []
    t, o, h, lo, c, _ = (col.tolist() for col in series.columns())
    for i in range(len(series)):
        out.extend(builder.push(t[i], o[i], h[i], lo[i], c[i]))
        known.append(len(out))
    return out, known


def assert_builder_matches_columns(series: BarSeries, interval: str) -> None:
    columns = higher_columns(series, interval)
    rows, known = built(series, interval)
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 5)
    for k, name in enumerate(("open_time", "open", "high", "low", "close")):
        assert np.array_equal(table[:, k], columns.columns[name]), name
    assert np.array_equal(np.array(known) - 1, columns.as_of)


def test_a_bucket_is_known_once_it_has_ended_and_a_partial_first_one_never() -> None:
    # 00:02–00:04 (the 00:00 bucket began before the data: dropped), 00:05–00:08 (its last
    # minute missing: 00:11 completes it), 00:11 and 00:14 (complete on its last minute).
    series = minutes(2, 3, 4, 5, 6, 7, 8, 11, 14)
    columns = higher_columns(series, "5m")
    assert columns.as_of.tolist() == [-1, -1, -1, -1, -1, -1, -1, 0, 1]
    assert columns.columns["open_time"].tolist() == [T0 + 5 * MINUTE_MS, T0 + 10 * MINUTE_MS]
    assert columns.columns["open"].tolist() == [102.5, 106.5]  # first bar of each bucket
    assert columns.columns["high"].tolist() == [107.0, 109.0]
    assert columns.columns["low"].tolist() == [102.0, 106.0]
    assert columns.columns["close"].tolist() == [106.0, 108.0]  # last bar of each bucket
    assert_builder_matches_columns(series, "5m")


def test_one_base_bar_can_complete_two_higher_bars() -> None:
    series = minutes(0, 1, 2, 3, 9, 10)  # 00:04 missing, then only 00:09 of the 00:05 bucket
    rows, known = built(series, "5m")
    assert known == [0, 0, 0, 0, 2, 2]
    assert [r[0] for r in rows] == [T0, T0 + 5 * MINUTE_MS]
    assert higher_columns(series, "5m").as_of.tolist() == [-1, -1, -1, -1, 1, 1]


@pytest.mark.parametrize("interval", ["1m", "5m", "15m", "1h"])
@pytest.mark.parametrize("gapped", [False, True])
def test_builder_and_columns_agree_on_a_whole_market(interval: str, gapped: bool) -> None:
    series = with_gaps(bars("BTCUSDT"), 8).slice(3) if gapped else bars("BTCUSDT")
    assert_builder_matches_columns(series, interval)


def test_completed_bars_are_the_data_resampler_bars() -> None:
    series = bars("ETHUSDT")
    columns = higher_columns(series, "15m")
    reference = resample(series, "15m")
    assert np.array_equal(columns.columns["open_time"], reference.open_time.astype(np.float64))
    for name in ("open", "high", "low", "close"):
        assert np.array_equal(columns.columns[name], getattr(reference, name)), name


def test_weeks_start_on_monday_in_both_forms() -> None:
    # Daily bars from Wednesday 2024-01-03: the first (partial) week is dropped, the week of
    # Monday 2024-01-08 completes with its Sunday bar.
    series = minutes(*range(2, 30), interval_ms=DAY_MS, interval="1d")
    columns = higher_columns(series, "1w")
    assert columns.columns["open_time"].tolist()[:2] == [T0 + 7 * DAY_MS, T0 + 14 * DAY_MS]
    assert int(np.argmax(columns.as_of >= 0)) == 13 - 2  # the bar of Sunday 2024-01-14
    assert_builder_matches_columns(series, "1w")


def test_a_timeframe_must_be_made_of_whole_base_bars() -> None:
    with pytest.raises(DataError, match="whole multiple"):
        HigherBarBuilder("5m", "3m")
    with pytest.raises(DataError, match="whole multiple"):
        higher_columns(minutes(0, 1, interval_ms=3 * MINUTE_MS, interval="3m"), "5m")
