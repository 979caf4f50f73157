"""Market WebSocket streams beyond mark price: klines of an interval the bars are not at,
book ticker, partial and diff depth (continuing a REST snapshot), aggregate trades, and
Binance's SUBSCRIBE / LIST_SUBSCRIPTIONS commands on ``/ws``."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange

from .conftest import START_MS, Rig
from .test_user_stream import until

SYMBOL = "BTCUSDT"
D = Decimal
BUCKET = (START_MS // 300_000 + 1) * 300_000  # a 5m candle's open, after the start


async def receive(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[Any]:
    return [json.loads((await ws.receive(timeout=5)).data) for _ in range(count)]


async def rest_depth(rig: Rig) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        params = {"symbol": SYMBOL, "limit": "1000"}
        async with session.get(f"{rig.url}/fapi/v1/depth", params=params) as resp:
            body: dict[str, Any] = await resp.json()
            return body


def apply(book: dict[str, str], changes: list[list[str]]) -> dict[str, str]:
    out = dict(book)
    for price, qty in changes:
        if D(qty) == 0:
            out.pop(price, None)
        else:
            out[price] = qty
    return out


async def test_book_kline_and_trade_streams(rig: Rig, exchange: CcxtBinanceExchange) -> None:
    await rig.admin.set_price(SYMBOL, D("60000"))
    names = "btcusdt@bookTicker/btcusdt@depth5@100ms/btcusdt@kline_5m/btcusdt@aggTrade"
    url = rig.url.replace("http", "ws") + "/stream?streams=" + names
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await until(lambda: rig.server.markets.wants("btcusdt@aggtrade"))
        bar = {"symbol": SYMBOL, "open_time": BUCKET, "open": "60000",
               "high": "60100", "low": "59900", "close": "60050"}  # fmt: skip
        await rig.admin.post("bar", bar)  # a 1m bar: the 5m candle it opens, not closed
        got = {g["stream"]: g["data"] for g in await receive(ws, 3)}
        ticker = got["btcusdt@bookTicker"]
        assert (ticker["b"], ticker["a"]) == ("60049.9", "60050.1")
        depth = got["btcusdt@depth5@100ms"]
        assert len(depth["b"]) == len(depth["a"]) == 5 and depth["e"] == "depthUpdate"
        kline = got["btcusdt@kline_5m"]["k"]
        assert (kline["i"], kline["t"], kline["x"]) == ("5m", BUCKET, False)
        assert (kline["o"], kline["h"], kline["c"]) == ("60000", "60100", "60050")
        await exchange.create_order(
            OrderRequest(SYMBOL, Side.BUY, OrderType.MARKET, "s-1", D("0.002"))
        )
        (trade,) = [g["data"] for g in await receive(ws, 1)]
        (fill,) = await exchange.my_trades(SYMBOL)
        assert (trade["e"], trade["a"], trade["p"], trade["q"], trade["m"]) == (
            "aggTrade", int(fill.trade_id), str(fill.price), "0.002", False,
        )  # fmt: skip


async def test_diff_depth_continues_the_rest_snapshot(rig: Rig) -> None:
    await rig.admin.set_price(SYMBOL, D("60000"))
    url = rig.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 1}))
        assert await receive(ws, 1) == [{"result": None, "id": 1}]
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert await receive(ws, 1) == [{"result": ["btcusdt@depth"], "id": 2}]
        await rig.admin.set_price(SYMBOL, D("60010"))
        (first,) = await receive(ws, 1)  # the book the stream starts from
        snapshot = await rest_depth(rig)
        assert first["U"] <= snapshot["lastUpdateId"] <= first["u"]  # Binance's rule
        bids = {p: q for p, q in snapshot["bids"]}
        asks = {p: q for p, q in snapshot["asks"]}
        previous = first["u"]
        for price in ("60030.5", "59990", "59990"):
            await rig.admin.set_price(SYMBOL, D(price))
            if price == "59990" and previous == (await rest_depth(rig))["lastUpdateId"]:
                continue  # no change, no event
            (event,) = await receive(ws, 1)
            assert event["pu"] == previous
            previous = event["u"]
            bids, asks = apply(bids, event["b"]), apply(asks, event["a"])
        now = await rest_depth(rig)
        assert now["lastUpdateId"] == previous
        assert bids == {p: q for p, q in now["bids"]} and asks == {p: q for p, q in now["asks"]}
