"""Funding rates: the synthetic 8 h series and the Binance funding-rate dump."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.data.bars import DataError
from quantum_trader.data.funding import generate_funding, load_funding_rates, write_funding_csv
from quantum_trader.data.synthetic import MarketConfig, generate_market
from tests.unit.data.samples import real_file

EIGHT_HOURS = 8 * 3_600_000


def test_real_funding_dump_loads_exactly() -> None:
    rates = load_funding_rates(real_file("XRPUSDT-fundingRate-2021-11-18_2021-12-18.csv"))
    assert rates.symbol == "XRPUSDT" and len(rates) == 91 and rates.interval_hours == 8
    assert rates.funding_time[0] == 1_637_193_600_017  # ms offsets kept
    assert rates.rate_at(0) == Decimal("0.00010000")
    assert float(rates.rate.min()) == -0.00219334
    assert float(rates.rate.max()) == 0.00058316
    assert rates.rate_for(int(rates.funding_time[1]) + 5) == float(rates.rate[1])
    assert rates.rate_for(0) == 0.0


def test_synthetic_funding_every_8h_mostly_base_rate_and_regime_driven() -> None:
    market = generate_market(["BTCUSDT"], 60 * 24 * 120, MarketConfig(seed=5))
    rates = generate_funding(market, "BTCUSDT")
    assert len(rates) == 120 * 3
    assert np.all(rates.funding_time % EIGHT_HOURS == 0)
    assert 0.3 < float(np.mean(rates.rate == 0.0001)) < 0.9
    assert np.all(np.abs(rates.rate) <= 0.0075)
    regime = market.regime[(rates.funding_time - rates.funding_time[0]) // 60_000]
    bull, bear = rates.rate[regime == 0], rates.rate[regime == 1]
    assert bull.mean() > 0.0001 > bear.mean()
    again = generate_funding(
        generate_market(["BTCUSDT"], 60 * 24 * 120, MarketConfig(seed=5)), "BTCUSDT"
    )
    assert np.array_equal(again.rate, rates.rate)


def test_funding_csv_round_trip(tmp_path: Path) -> None:
    market = generate_market(["ETHUSDT"], 60 * 24 * 10, MarketConfig(seed=1))
    rates = generate_funding(market, "ETHUSDT")
    path = write_funding_csv(rates, tmp_path / "ETHUSDT-fundingRate-2024-01.csv")
    assert path.read_text().startswith("calc_time,funding_interval_hours,last_funding_rate\n")
    loaded = load_funding_rates(path)
    assert np.array_equal(loaded.funding_time, rates.funding_time)
    assert np.array_equal(loaded.rate, rates.rate)


def test_funding_errors(tmp_path: Path) -> None:
    market = generate_market(["ETHUSDT"], 100)
    with pytest.raises(DataError, match="not in this synthetic market"):
        generate_funding(market, "BTCUSDT")
    bad = tmp_path / "BTCUSDT-fundingRate-2024-01.csv"
    bad.write_text("time,rate\n1,0.1\n")
    with pytest.raises(DataError, match="row 1: expected header"):
        load_funding_rates(bad)
    bad.write_text("calc_time,funding_interval_hours,last_funding_rate\n2,8,0.1\n1,8,0.1\n")
    with pytest.raises(DataError, match="row 3: funding times are not increasing"):
        load_funding_rates(bad)
