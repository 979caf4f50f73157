"""Fixtures: the simulated exchange's HTTP front on a free loopback port, and clients of it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "conformance"))
START_MS = 1_700_000_000_000


class Admin:
    """The loopback admin API: the market driver and a person at Binance's web UI."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base
        self.maker_fee = Decimal("0.0002")
        self.taker_fee = Decimal("0.0005")

    async def post(self, op: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.post(f"{self.base}/admin/{op}", json=body or {}) as resp:
            data = await resp.json()
            assert resp.status == 200, data
            return data

    async def get(self, op: str) -> Any:
        async with self.session.get(f"{self.base}/admin/{op}") as resp:
            return await resp.json()

    async def set_price(self, symbol: str, price: Decimal) -> None:
        await self.post("price", {"symbol": symbol, "price": str(price)})

    async def set_mark(self, symbol: str, mark: Decimal) -> None:
        await self.post("mark", {"symbol": symbol, "mark": str(mark)})

    async def advance_time(self, now_ms: int) -> None:
        await self.post("time", {"now_ms": now_ms})

    async def close_position_by_hand(self, symbol: str) -> None:
        await self.post("position/close", {"symbol": symbol})

    async def cancel_by_hand(self, symbol: str, client_order_id: str) -> None:
        await self.post("order/cancel", {"symbol": symbol, "client_order_id": client_order_id})

    async def faults(self, profile: str, **overrides: Any) -> None:
        await self.post("faults", {"profile": profile, **overrides})


@dataclass
class Rig:
    server: SimHttpServer
    admin: Admin
    url: str


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    server = SimHttpServer(SimExchange(MatchingCore(seed=7, start_ms=START_MS)), seed=7)
    url = await server.start()
    async with aiohttp.ClientSession() as session:
        yield Rig(server, Admin(session, url), url)
    await server.stop()


@pytest.fixture
async def exchange(rig: Rig) -> AsyncIterator[CcxtBinanceExchange]:
    ex = CcxtBinanceExchange("sim", base_url=rig.url)
    await ex.start()
    yield ex
    await ex.close()
