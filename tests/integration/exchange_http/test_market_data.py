"""Public market data on the HTTP front: tickers only for symbols that have a price, the
24 h ticker from the bars fed, klines of every interval, Binance's interval refusal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp

from .conftest import START_MS, Rig

D = Decimal


async def get(rig: Rig, path: str, **params: object) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        query = {k: str(v) for k, v in params.items()}
        async with session.get(f"{rig.url}{path}", params=query) as resp:
            return resp.status, await resp.json()


async def test_a_symbol_without_a_price_has_no_ticker(rig: Rig) -> None:
    await rig.admin.set_price("ETHUSDT", D("3000"))
    for path in ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price", "/fapi/v1/ticker/24hr",
                 "/fapi/v1/ticker/bookTicker", "/fapi/v1/premiumIndex"):  # fmt: skip
        assert await get(rig, path, symbol="BTCUSDT") == (
            400, {"code": -1121, "msg": "Invalid symbol."},
        )  # fmt: skip
        status, rows = await get(rig, path)
        assert status == 200 and [r["symbol"] for r in rows] == ["ETHUSDT"]
    assert (await get(rig, "/fapi/v1/ticker/price", symbol="ETHUSDT"))[1]["price"] == "3000"
    status, book = await get(rig, "/fapi/v1/depth", symbol="BTCUSDT")
    assert status == 200 and book["bids"] == book["asks"] == []  # listed, nothing traded


async def test_the_day_ticker_and_klines_come_from_the_bars_fed(rig: Rig) -> None:
    await rig.admin.set_price("ETHUSDT", D("3000"))
    closes = ["3001", "3010", "2990", "3005", "3020", "3015"]
    for k, close in enumerate(closes):  # six 5m bars: half an hour
        bar = {"symbol": "ETHUSDT", "open_time": START_MS + k * 300_000, "open": "3000",
               "high": "3030", "low": "2980", "close": close, "volume": "2.5",
               "interval": "5m"}  # fmt: skip
        await rig.admin.post("bar", bar)
    _, day = await get(rig, "/fapi/v1/ticker/24hr", symbol="ETHUSDT")
    assert (day["openPrice"], day["lastPrice"], day["highPrice"], day["lowPrice"]) == (
        "3000", "3015", "3030", "2980",
    )  # fmt: skip
    assert (day["volume"], day["priceChange"], day["priceChangePercent"]) == ("15", "15", "0.500")
    _, minutes = await get(rig, "/fapi/v1/klines", symbol="ETHUSDT", interval="1m", limit=30)
    assert len(minutes) == 30 and minutes[-1][4] == "3015"
    assert sum(D(m[5]) for m in minutes) == D("15")
    _, hours = await get(rig, "/fapi/v1/klines", symbol="ETHUSDT", interval="1h")
    assert [h[1:6] for h in hours] == [["3000", "3030", "2980", "3015", "15"]]  # one hour
    _, marks = await get(rig, "/fapi/v1/markPriceKlines", symbol="ETHUSDT", interval="30m")
    assert marks[-1][4] == "3015" and marks[-1][5] == "0"
    _, premium = await get(rig, "/fapi/v1/premiumIndexKlines", symbol="ETHUSDT", interval="5m")
    assert len(premium) == 6 and {p[4] for p in premium} == {"0.00000000"}
    assert await get(rig, "/fapi/v1/klines", symbol="ETHUSDT", interval="7m") == (
        400, {"code": -1120, "msg": "Invalid interval."},
    )  # fmt: skip
