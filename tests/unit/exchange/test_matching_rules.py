"""Run-level matching rules of the core: continuous quantities and the ``LEVELS`` bar model.

The defaults are Binance's (lot and tick filters, a price path through the bar, gaps
filling at the market). The reference strategy's venue is continuous quantity and price,
stops and targets acting on the bar's low / high only — the stop first — and filling at
their own level; the open is a quote for market orders.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from tests.unit.exchange.sim_helpers import START_MS

from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.interface import OrderRejected
from quantum_trader.exchange.sim import NO_SLIPPAGE, MatchingCore, SimConfig
from quantum_trader.exchange.sim.book import BarModel, MatchingRules

REFERENCE = MatchingRules(continuous=True, bar_model=BarModel.LEVELS)


def core(rules: MatchingRules = REFERENCE, events: bool = True) -> MatchingCore:
    config = SimConfig(starting_balance=D(100_000), slippage=NO_SLIPPAGE, default_leverage=1)
    return MatchingCore(config=config, start_ms=START_MS, rules=rules, events=events)


def bracket(c: MatchingCore, qty: D, stop: D, target: D) -> None:
    """A reduce-only stop and take-profit on a long ``qty``."""
    for kind, cid, level in ((OrderType.STOP_MARKET, "s", stop),
                             (OrderType.TAKE_PROFIT_MARKET, "t", target)):  # fmt: skip
        c.place(OrderRequest("BTCUSDT", Side.SELL, kind, cid, qty, stop_price=level,
                             reduce_only=True, working_type=WorkingType.MARK_PRICE))  # fmt: skip


def long_at(c: MatchingCore, price: str) -> D:
    c.set_price("BTCUSDT", D(price), START_MS)
    qty = D(100_000) / (D(price) * D("1.0005"))  # 28 significant digits: no lot step
    c.place(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "e", qty))
    return qty


def test_continuous_quantities_and_off_tick_stops_are_accepted_exactly() -> None:
    c = core()
    qty = long_at(c, "60000.1")
    assert c.position_qty("BTCUSDT") == qty
    stop = D("60000.1") * D("0.98")  # 58800.098: not on BTCUSDT's 0.1 tick
    bracket(c, qty, stop, D("60000.1") * D("1.03"))
    c.on_bar("BTCUSDT", START_MS + 60_000, D("60000.1"), D("60010"), stop - 1, D("59000"))
    (entry, exit_) = c.fills_from(0)
    assert exit_.price == stop and exit_.qty == qty and entry.qty == qty
    tiny = OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "tiny", D("0.0000001"))
    c.place(tiny)  # below BTCUSDT's step, minimum quantity and minimum notional
    with pytest.raises(OrderRejected):
        core(MatchingRules()).place(
            OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, "x", qty)
        )  # Binance's filters: precision


def test_levels_bar_takes_the_stop_first_even_when_the_high_is_nearer() -> None:
    for rules, first in ((REFERENCE, "s"), (MatchingRules(continuous=True), "t")):
        c = core(rules)
        qty = long_at(c, "60000")
        bracket(c, qty, D("58800"), D("61800"))
        # the high (2,000 above the open) and the low (2,000 below) reach both levels
        c.on_bar("BTCUSDT", START_MS + 60_000, D("60000"), D("62000"), D("58000"), D("60000"))
        assert c.fills_from(1)[0].client_order_id == first


def test_levels_bar_fills_a_gapped_stop_at_its_level_and_the_open_triggers_nothing() -> None:
    c = core()
    qty = long_at(c, "60000")
    bracket(c, qty, D("58800"), D("61800"))
    c.set_price("BTCUSDT", D("58000"), START_MS + 60_000)  # the next open, through the stop
    assert c.fill_count() == 1  # a quote: market orders would fill at it, the stop waits
    c.on_bar("BTCUSDT", START_MS + 60_000, D("58000"), D("58500"), D("57900"), D("58100"))
    assert c.fills_from(1)[0].price == D("58800")  # at the level, not the 58,000 open
    path = core(MatchingRules(continuous=True))
    qty = long_at(path, "60000")
    bracket(path, qty, D("58800"), D("61800"))
    path.set_price("BTCUSDT", D("58000"), START_MS + 60_000)
    assert path.fills_from(1)[0].price == D("58000")  # Binance: a gap fills at the market


def test_without_events_the_fills_are_read_from_the_history() -> None:
    c = core(events=False)
    long_at(c, "60000")
    assert c.drain_events() == [] and c.fill_count() == 1
    assert c.fills_from(0)[0].client_order_id == "e" and c.fills_from(1) == []
    assert c.history().fills == tuple(c.fills_from(0))
