"""Runs the exchange conformance suite against the in-process ``SimExchange``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from exchange_suite import START_MS, ExchangeConformance, Venue

from quantum_trader.exchange.interface import Exchange
from quantum_trader.exchange.sim import MatchingCore, SimExchange


class SimDriver:
    """The ``MarketDriver`` for the simulator: direct calls on the SimExchange."""

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange
        self.maker_fee = exchange.core.config.maker_fee
        self.taker_fee = exchange.core.config.taker_fee

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self.exchange.set_price(symbol, price)

    async def set_mark(self, symbol: str, mark: Decimal) -> None:
        self.exchange.set_mark(symbol, mark)

    async def advance_time(self, now_ms: int) -> None:
        self.exchange.advance_time(now_ms)

    async def close_position_by_hand(self, symbol: str) -> None:
        self.exchange.close_position_by_hand(symbol)

    async def cancel_by_hand(self, symbol: str, client_order_id: str) -> None:
        self.exchange.cancel_by_hand(symbol, client_order_id)


@pytest.fixture
def venue() -> Venue:
    exchange = SimExchange(MatchingCore(seed=7, start_ms=START_MS))
    assert isinstance(exchange, Exchange)
    return Venue(exchange, SimDriver(exchange))


class TestSimConformance(ExchangeConformance):
    pass
