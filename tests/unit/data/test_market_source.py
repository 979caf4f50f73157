"""MarketDataSource: bars of several symbols merged in time order."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.data.bars import DataError
from quantum_trader.data.resample import resample
from quantum_trader.data.source import MarketDataSource
from quantum_trader.data.synthetic import MarketConfig, generate_market
from tests.unit.data.samples import make_series


def test_bars_of_several_symbols_come_in_time_order() -> None:
    source = MarketDataSource.synthetic(["BTCUSDT", "ETHUSDT", "XRPUSDT"], 50)
    events = list(source)
    assert len(events) == len(source) == 150
    times = [e.open_time for e in events]
    assert times == sorted(times)
    assert [e.symbol for e in events[:3]] == ["BTCUSDT", "ETHUSDT", "XRPUSDT"]
    assert [e.index for e in events if e.symbol == "ETHUSDT"] == list(range(50))


def test_values_match_the_series_and_klines_are_on_tick() -> None:
    market = generate_market(["XRPUSDT"], 20, MarketConfig(seed=2))
    source = MarketDataSource(market.bars.values(), {"XRPUSDT": Decimal("0.0001")})
    series = market.bars["XRPUSDT"]
    event = list(source)[7]
    assert (event.close, event.volume) == (series.close[7], series.volume[7])
    assert event.close_time == event.open_time + 59_999
    kline = list(source.klines())[7]
    assert kline.close == Decimal(repr(float(series.close[7]))).quantize(Decimal("0.0001"))
    assert kline.close % Decimal("0.0001") == 0


def test_mixed_intervals_release_a_bar_only_after_it_closed() -> None:
    minutes = make_series([float(x) for x in range(1, 121)])
    hours = resample(minutes, "1h")
    events = list(MarketDataSource([hours, minutes]))
    first_hour = next(i for i, e in enumerate(events) if e.interval == "1h")
    assert first_hour == 60  # after all 60 minutes it contains
    assert np.all(np.diff([e.close_time for e in events]) >= 0)


def test_needs_distinct_series() -> None:
    with pytest.raises(DataError, match="at least one"):
        MarketDataSource([])
    with pytest.raises(DataError, match="once"):
        MarketDataSource([make_series([1.0]), make_series([2.0])])


def test_from_real_paths(real_dir: Path) -> None:
    source = MarketDataSource.from_paths(
        [real_dir / "XRPUSDT-5m-2021-11-15_2021-11-21.csv", real_dir / "spot"], repair=True
    )
    assert {s.symbol for s in source.series} == {"XRPUSDT", "ETHBTC", "UNITTESTBTC", "XRPETH"}
    times = np.array([e.close_time for e in source])
    assert np.all(np.diff(times) >= 0)
