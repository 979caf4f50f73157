"""The paper venue that runs the live code path: the simulated exchange served over its
Binance-compatible HTTP/WebSocket front, the services talking to it through the ccxt
adapter, and the market moved through the front's loopback admin endpoints."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import aiohttp

from quantum_trader.clock import Clock
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import fmt
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.sim import SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer


class HttpDriver:
    """Moves the market through the admin endpoints, as an external feed would."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession()

    async def _post(self, path: str, body: dict[str, object]) -> None:
        async with self.session.post(f"{self.base_url}{path}", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}: {await response.text()}")

    async def set_price(self, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
        body: dict[str, object] = {"symbol": symbol, "price": fmt(price)}
        if mark is not None:
            body["mark"] = fmt(mark)
        await self._post("/admin/price", body)

    async def bar(self, kline: Kline, mark: Kline | None = None) -> None:
        body: dict[str, object] = {
            "symbol": kline.symbol,
            "interval": kline.interval,
            "open_time": kline.open_time,
            "open": fmt(kline.open),
            "high": fmt(kline.high),
            "low": fmt(kline.low),
            "close": fmt(kline.close),
            "volume": fmt(kline.volume),
        }
        if mark is not None:
            body |= {
                "mark_open": fmt(mark.open),
                "mark_high": fmt(mark.high),
                "mark_low": fmt(mark.low),
                "mark_close": fmt(mark.close),
            }
        await self._post("/admin/bar", body)

    async def close(self) -> None:
        await self.session.close()


@dataclass
class HttpVenue:
    server: SimHttpServer
    exchange: CcxtBinanceExchange
    driver: HttpDriver


@contextlib.asynccontextmanager
async def http_venue(sim: SimExchange, market_clock: Clock) -> AsyncIterator[HttpVenue]:
    # The front authenticates on wall-clock time (as Binance does); market time is the
    # simulated core's own, moved by the feed. Request weight is counted per minute of
    # market time with Binance's real budget: a run at any speed spends what it would
    # spend live, and a system that would be rate-limited live is rate-limited here.
    server = SimHttpServer(sim, weight_clock=market_clock)
    url = await server.start()
    exchange = CcxtBinanceExchange("sim", base_url=url)
    driver = HttpDriver(url)
    try:
        await exchange.start()
        yield HttpVenue(server, exchange, driver)
    finally:
        await driver.close()
        await exchange.close()
        await server.stop()
