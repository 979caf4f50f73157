"""Shared builders for the simulated exchange unit tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.sim import NO_SLIPPAGE, MatchingCore, SimConfig

START_MS = 1_700_000_000_000
SHARED_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared reference data {relative} not present at {SHARED_DATA}")
    return path


def flat_core(**config: object) -> MatchingCore:
    """A core whose market orders fill exactly at the last price (hand-checkable)."""
    return MatchingCore(
        config=SimConfig(slippage=NO_SLIPPAGE, **config),  # type: ignore[arg-type]
        seed=1,
        start_ms=START_MS,
    )


def mkt(symbol: str, side: Side, qty: str, cid: str, **kw: object) -> OrderRequest:
    return OrderRequest(symbol, side, OrderType.MARKET, cid, Decimal(qty), **kw)  # type: ignore[arg-type]
