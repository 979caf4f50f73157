"""Instruments the simulated exchange derives from market data for …USDT symbols it does
not list: filters that fit the data, orders that pass its checks, others refused by name."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from quantum_trader.data import generate_market, load_klines
from quantum_trader.data.symbols import DEFAULT_SYMBOLS
from quantum_trader.exchange.sim import MatchingCore, default_universe
from quantum_trader.exchange.sim.universe import (
    UnlistedSymbol,
    derive_instrument,
    derive_missing,
    describe_derived,
    extra_listings,
    packaged_universe,
    universe_for,
)
from quantum_trader.exchange.sim.validation import check_price, check_quantity
from tests.unit.data.samples import real_file

UNLISTED = [s for s in DEFAULT_SYMBOLS if s not in packaged_universe()]


def _prices(symbol: str, bars: int = 1440) -> np.ndarray:
    s = generate_market([symbol], bars).bars[symbol]
    return np.concatenate([s.open, s.high, s.low, s.close])


def test_the_synthetic_symbols_the_json_lacks_are_known() -> None:
    assert {"SUIUSDT", "1000PEPEUSDT", "INJUSDT", "WLDUSDT"} <= set(UNLISTED)


@pytest.mark.parametrize("symbol", UNLISTED)
def test_derived_tick_is_the_data_tick_and_every_price_passes(symbol: str) -> None:
    prices = _prices(symbol)
    instrument = derive_instrument(symbol, prices)
    spec = DEFAULT_SYMBOLS[symbol]
    assert instrument.tick_size == spec.tick_size.normalize()
    assert Decimal(1).scaleb(-instrument.price_precision) == instrument.tick_size
    for price in prices[:: max(1, len(prices) // 500)]:
        check_price(instrument.round_price(Decimal(str(price))), instrument)
    assert instrument.min_notional == 5 and instrument.quote_asset == "USDT"
    step_value = float(instrument.step_size) * float(prices.max())
    assert step_value <= 10 or instrument.step_size == 1
    for qty in (instrument.step_size, instrument.step_size * 37):
        check_quantity(qty, instrument, market=True)
    assert "e" not in f"{instrument.tick_size:f}{instrument.step_size:f}".lower()


def test_derived_filters_match_the_real_exchange_on_real_data() -> None:
    series = load_klines(real_file("XRPUSDT-5m-2021-11-15_2021-11-21.csv"))
    prices = np.concatenate([series.open, series.high, series.low, series.close])
    derived = derive_instrument("XRPUSDT", prices)
    real = packaged_universe()["XRPUSDT"]
    assert derived.tick_size == real.tick_size and derived.price_precision == 4
    assert float(derived.step_size) * float(prices.max()) <= 10  # one step ≤ 10 USDT
    smallest = derived.round_qty_down(derived.min_notional / Decimal(str(prices.max())) * 2)
    assert smallest >= derived.min_qty  # a 2× min-notional order is representable
    assert derived.max_leverage <= real.max_leverage  # the most conservative tiers


@pytest.mark.parametrize("symbol", ["XRPETH", "ETHBTC", "BTCUSD", "USDT", "btcusdt"])
def test_a_symbol_that_is_not_usdt_margined_is_refused_by_name(symbol: str) -> None:
    with pytest.raises(UnlistedSymbol, match=f"{symbol} is not a USDⓈ-M symbol"):
        derive_instrument(symbol, [1.0, 2.0])


def test_no_usable_price_is_refused() -> None:
    with pytest.raises(UnlistedSymbol, match="no positive prices"):
        derive_instrument("FOOUSDT", [0.0, float("nan"), -1.0])


def test_extra_listings_last_for_their_block_and_let_the_core_trade() -> None:
    assert "SUIUSDT" not in default_universe()
    with extra_listings() as extra:
        (derived,) = derive_missing({"SUIUSDT": _prices("SUIUSDT"), "BTCUSDT": [1.0]}, extra)
        assert derived.symbol == "SUIUSDT" and "tick 0.0001" in describe_derived(derived)
        core = MatchingCore()
        assert core.instrument("SUIUSDT") == derived
    assert "SUIUSDT" not in default_universe()
    assert "SUIUSDT" not in {i.symbol for i in MatchingCore().instruments()}


def test_universe_for_keeps_listed_symbols_and_derives_the_rest() -> None:
    universe = universe_for({"BTCUSDT": [50_000.0], "WLDUSDT": _prices("WLDUSDT")})
    assert universe["BTCUSDT"] == packaged_universe()["BTCUSDT"]
    assert universe["WLDUSDT"].tick_size == Decimal("0.0001")
    with pytest.raises(UnlistedSymbol, match="XRPETH"):
        universe_for({"XRPETH": [0.0005]})
