"""Real Binance candles (the shared fixtures beside the repository): XRPUSDT 5 m futures
with its funding history, and 1 m spot candles with the gaps of minutes without trades."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.data import load_funding_rates, load_klines
from quantum_trader.features import FeatureSpec, HigherTimeframe, compute
from quantum_trader.features.higher import higher_columns
from tests.conftest import SHARED_DATA
from tests.unit.features.samples import mismatch, replay

KLINES = SHARED_DATA / "klines"
XRP_5M = KLINES / "XRPUSDT-5m-2021-11-15_2021-11-21.csv"
XRP_8H = KLINES / "XRPUSDT-8h-2021-11-18_2021-12-18.csv"
XRP_FUNDING = KLINES / "XRPUSDT-fundingRate-2021-11-18_2021-12-18.csv"
SPOT_1M = KLINES / "spot" / "UNITTESTBTC-1m-2017-11-04_2017-11-14.csv"
FIVE_MINUTE_SPEC = FeatureSpec(
    higher_timeframes=(HigherTimeframe("15m"), HigherTimeframe("1h"), HigherTimeframe("4h")),
)


def test_xrp_futures_with_funding_agree_bar_by_bar() -> None:
    series, rates = load_klines(XRP_5M), load_funding_rates(XRP_FUNDING)
    frame = compute(series, rates, FIVE_MINUTE_SPEC)
    assert mismatch(frame.values, replay(series, rates, FIVE_MINUTE_SPEC), frame.names) is None
    assert [n for n in frame.names if np.isnan(frame.column(n)).all()] == []


def test_xrp_funding_is_known_from_the_bar_that_closes_after_its_settlement() -> None:
    series, rates = load_klines(XRP_5M), load_funding_rates(XRP_FUNDING)
    column = compute(series, rates, FIVE_MINUTE_SPEC).column("funding_rate")
    first = int(rates.funding_time[0])  # 2021-11-18 00:00:00.017
    i = int(np.searchsorted(series.open_time, first - first % 300_000))
    assert series.open_time[i] < first <= series.close_time[i]  # the 00:00 bar holds it
    assert np.isnan(column[:i]).all() and column[i] == rates.rate[0] == 0.0001


def test_xrp_calendar_features_read_the_open_time_in_utc() -> None:
    frame = compute(load_klines(XRP_5M), spec=FIVE_MINUTE_SPEC)
    row = frame.row(0)  # Monday 2021-11-15 00:00 UTC
    assert (row["tod_sin"], row["tod_cos"], row["dow_sin"], row["dow_cos"]) == (0, 1, 0, 1)
    assert row["funding_cycle"] == pytest.approx(1 / 96)  # 5 minutes into the 8 h period


def test_the_8h_timeframe_of_the_5m_bars_is_binances_8h_candles() -> None:
    series, reference = load_klines(XRP_5M), load_klines(XRP_8H)
    columns = higher_columns(series, "8h").columns
    common, ours, theirs = np.intersect1d(
        columns["open_time"].astype(np.int64), reference.open_time, return_indices=True
    )
    assert len(common) >= 10
    for name in ("open", "high", "low", "close"):
        assert np.array_equal(columns[name][ours], getattr(reference, name)[theirs]), name


def test_spot_minutes_with_real_gaps_agree_bar_by_bar_and_leak_nothing() -> None:
    series = load_klines(SPOT_1M, allow_gaps=True).slice(0, 4_000)
    frame = compute(series)
    assert np.nanmax(frame.column("gap_bars")) >= 2  # real holes in the data
    assert mismatch(frame.values, replay(series), frame.names) is None
    for j in (59, 777, 2_999):
        head = compute(series.slice(0, j + 1))
        assert mismatch(frame.values[: j + 1], head.values, frame.names) is None
