"""Order round trips (create a resting LIMIT far from the market, then cancel it) per second
through our ccxt adapter against the local simulated exchange server, beside a bare
aiohttp client sending the same signed requests to the same server, same run."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).parent))
import aiohttp
from _common import report

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import DEFAULT_API_KEY, DEFAULT_API_SECRET, SimHttpServer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
SYMBOL = "BTCUSDT"


async def ours(url: str) -> float:
    ex = CcxtBinanceExchange("sim", base_url=url, user_stream=False)
    await ex.start()
    start = time.perf_counter()
    for i in range(N):
        cid = f"ccxt-{i}"
        await ex.create_order(
            OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, cid, Decimal("0.002"), Decimal("50000"))
        )
        await ex.cancel_order(SYMBOL, cid)
    elapsed = time.perf_counter() - start
    await ex.close()
    return N / elapsed


def signed(params: dict[str, str]) -> str:
    params = {**params, "timestamp": str(int(time.time() * 1000)), "recvWindow": "5000"}
    query = urlencode(params)
    signature = hmac.new(DEFAULT_API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


async def bare(url: str) -> float:
    headers = {"X-MBX-APIKEY": DEFAULT_API_KEY}
    form = {"Content-Type": "application/x-www-form-urlencoded", **headers}
    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        for i in range(N):
            cid = f"bare-{i}"
            body = signed(
                {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "0.002",
                 "price": "50000", "timeInForce": "GTC", "newClientOrderId": cid,
                 "newOrderRespType": "RESULT"}
            )  # fmt: skip
            async with session.post(f"{url}/fapi/v1/order", data=body, headers=form) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()
            query = signed({"symbol": SYMBOL, "origClientOrderId": cid})
            async with session.delete(f"{url}/fapi/v1/order?{query}", headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()
        return N / (time.perf_counter() - start)


async def main() -> None:
    server = SimHttpServer(SimExchange(MatchingCore(seed=1)), weight_limit=10_000_000)
    url = await server.start()
    server.sim.set_price(SYMBOL, Decimal("60000"))
    try:
        await bare(url)  # warm-up of both paths
        baseline = await bare(url)
        ccxt_rate = await ours(url)
    finally:
        await server.stop()
    print(f"ccxt adapter : {ccxt_rate:8.1f} create+cancel round trips/s ({N} round trips)")
    print(f"bare aiohttp : {baseline:8.1f} create+cancel round trips/s ({N} round trips)")
    report("ccxt_roundtrip", ccxt_rate, baseline, "roundtrips/s", n=N)


if __name__ == "__main__":
    asyncio.run(main())
