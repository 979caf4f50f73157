"""The scale universe's specs: 22 real listed contracts first, then derived ones with
unique names, grids copied from a real contract of similar price, and the same values on
every call."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.bars import DataError
from quantum_trader.data.scale_symbols import (
    LISTED,
    derived_listing,
    listed_spec,
    scale_listings,
    scale_specs,
)
from quantum_trader.data.symbols import DEFAULT_SYMBOLS


def test_four_hundred_unique_names_the_real_ones_first() -> None:
    specs = scale_specs(400)
    assert len(specs) == 400 and len(set(specs)) == 400
    assert list(specs)[: len(LISTED)] == list(LISTED)
    derived = list(specs)[len(LISTED) :]
    assert derived[0] == "SYN023USDT" and derived[-1] == "SYN400USDT"
    assert all(s.endswith("USDT") and s.isalnum() and s.isupper() for s in specs)


def test_the_real_ones_keep_their_built_in_specs() -> None:
    for listing in scale_listings(len(LISTED)):
        assert not listing.derived
        name = listing.spec.symbol
        built_in = DEFAULT_SYMBOLS.get(name, listed_spec(name))
        assert listing.spec == built_in


def test_the_same_values_on_every_call_and_a_smaller_universe_is_a_prefix() -> None:
    big, small = scale_specs(400), scale_specs(100)
    assert scale_specs(400) == big
    assert list(big.items())[:100] == list(small.items())
    assert list(scale_specs(5)) == list(LISTED[:5])


def test_derived_grids_are_a_real_templates_moved_by_a_power_of_ten() -> None:
    for listing in scale_listings(400)[len(LISTED) :]:
        spec, template = listing.spec, listed_spec(str(listing.template))
        assert listing.template in LISTED and listing.template not in ("BTCUSDT", "ETHUSDT")
        assert spec.tick_size == template.tick_size.scaleb(listing.shift)
        assert spec.step_size == min(template.step_size.scaleb(-listing.shift), Decimal(1))
        ratio = float(spec.start_price) / float(template.start_price) / 10**listing.shift
        assert 10**-0.5 - 1e-9 <= ratio <= 10**0.5 + 1e-9  # the nearest template in price
        assert spec.start_price % spec.tick_size == 0
        assert spec.start_price / spec.tick_size >= 1_000
        assert 1.4 <= spec.vol_multiplier <= 2.6
        assert "e" not in f"{spec.tick_size:f}{spec.step_size:f}".lower()


def test_prices_and_activity_are_spread_like_a_listing() -> None:
    derived = list(scale_specs(400).values())[len(LISTED) :]
    decades = {math.floor(math.log10(float(s.start_price))) for s in derived}
    assert {-3, -2, -1, 0, 1, 2} <= decades
    volumes = [s.quote_volume_per_day for s in derived]
    assert max(volumes) > 10 * min(volumes) and min(volumes) >= 1e6
    assert sum(volumes[:50]) > sum(volumes[-50:]) * 3  # activity falls with the rank


def test_the_generator_takes_the_whole_universe_on_its_grids() -> None:
    specs = scale_specs(400)
    market = generate_market(specs, 30, MarketConfig(seed=5))
    assert list(market.bars) == list(specs)
    for name, series in market.bars.items():
        tick = float(specs[name].tick_size)
        ticks = series.close / tick
        assert abs(ticks - ticks.round()).max() < 1e-6, name
        assert series.open[0] == pytest.approx(float(specs[name].start_price))


@pytest.mark.parametrize("n", [0, 1000])
def test_a_size_out_of_range_is_one_line_naming_the_field(n: int) -> None:
    with pytest.raises(DataError, match="symbols: a scale universe has 1–999 contracts"):
        scale_specs(n)
    with pytest.raises(DataError, match="index"):
        derived_listing(3)
