"""Shared builders for the simulated exchange unit tests."""

from __future__ import annotations

from decimal import Decimal

from tests.conftest import shared_data

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.sim import NO_SLIPPAGE, MatchingCore, SimConfig

START_MS = 1_700_000_000_000
shared_file = shared_data  # the real Binance material in ../shared/data


def flat_core(**config: object) -> MatchingCore:
    """A core whose market orders fill exactly at the last price (hand-checkable)."""
    return MatchingCore(
        config=SimConfig(slippage=NO_SLIPPAGE, **config),  # type: ignore[arg-type]
        seed=1,
        start_ms=START_MS,
    )


def mkt(symbol: str, side: Side, qty: str, cid: str, **kw: object) -> OrderRequest:
    return OrderRequest(symbol, side, OrderType.MARKET, cid, Decimal(qty), **kw)  # type: ignore[arg-type]
