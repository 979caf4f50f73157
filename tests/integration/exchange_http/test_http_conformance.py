"""The exchange conformance suite, unchanged, against the HTTP front through ccxt."""

from __future__ import annotations

import pytest
from exchange_suite import ExchangeConformance, Venue

from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.interface import Exchange

from .conftest import Rig


@pytest.fixture
def venue(rig: Rig, exchange: CcxtBinanceExchange) -> Venue:
    assert isinstance(exchange, Exchange)
    return Venue(exchange, rig.admin)


class TestHttpConformance(ExchangeConformance):
    pass
