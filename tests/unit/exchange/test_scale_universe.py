"""The scale universe's instruments: the packaged ones as listed, derived ones whose
filters are valid, fit their synthetic specs and are copied from a real contract."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

from quantum_trader.data.scale_symbols import LISTED, scale_listings
from quantum_trader.domain.money import is_multiple
from quantum_trader.exchange.sim import MatchingCore
from quantum_trader.exchange.sim.scale_universe import scale_universe
from quantum_trader.exchange.sim.universe import check_listable, packaged_universe
from quantum_trader.exchange.sim.validation import check_price, check_quantity


def test_the_listing_names_the_packaged_universe_in_its_order() -> None:
    assert tuple(packaged_universe()) == LISTED


def test_real_ones_first_as_packaged_then_derived_ones() -> None:
    universe = scale_universe(400)
    assert len(universe.instruments) == 400 == len(set(universe.symbols))
    assert list(universe.instruments) == list(universe.specs)
    packaged = packaged_universe()
    for name in LISTED:
        assert universe.instruments[name] is packaged[name]


def test_every_filter_is_valid_and_fits_its_spec() -> None:
    universe = scale_universe(400)
    for name, inst in universe.instruments.items():
        spec = universe.specs[name]
        check_listable(name)
        assert inst.tick_size == spec.tick_size and inst.step_size == spec.step_size, name
        assert 0 < inst.min_price < spec.start_price < inst.max_price, name
        assert is_multiple(inst.min_price, inst.tick_size), name
        check_price(spec.start_price, inst)
        assert inst.step_size <= 1 and inst.min_qty == inst.step_size, name
        assert is_multiple(inst.max_qty, inst.step_size), name
        assert is_multiple(inst.market_max_qty, inst.step_size), name
        assert inst.market_max_qty <= inst.max_qty, name
        smallest = max(inst.min_qty, inst.round_qty_down(inst.min_notional / spec.start_price * 2))
        check_quantity(smallest, inst, market=True)  # a 2× minimum order is representable
        assert inst.min_notional * 1000 < inst.market_max_qty * spec.start_price, name
        assert is_multiple(inst.tick_size, Decimal(1).scaleb(-inst.price_precision)), name
        tiers = inst.brackets
        assert tiers[0].notional_floor == 0, name
        assert all(a.notional_cap == b.notional_floor for a, b in pairwise(tiers)), name


def test_derived_ones_copy_their_templates_rules() -> None:
    universe, packaged = scale_universe(400), packaged_universe()
    for listing in scale_listings(400)[len(LISTED) :]:
        inst = universe.instruments[listing.spec.symbol]
        template = packaged[str(listing.template)]
        assert inst.brackets == template.brackets and inst.min_notional == template.min_notional
        assert inst.min_price == template.min_price.scaleb(listing.shift)
        assert inst.max_leverage == template.max_leverage


def test_the_same_instruments_on_every_call_and_the_core_lists_them() -> None:
    assert scale_universe(60) == scale_universe(60)
    last = "SYN100USDT"
    assert scale_universe(400).instruments[last] == scale_universe(100).instruments[last]
    universe = scale_universe(40)
    core = MatchingCore(universe.instruments, seed=1, start_ms=0)
    assert [i.symbol for i in core.instruments()] == list(universe.symbols)
