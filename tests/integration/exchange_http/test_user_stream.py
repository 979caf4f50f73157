"""User-data events over the WebSocket: every fill arrives once, across drops and expiry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal

import aiohttp

from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.orders import Fill, OrderRequest
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.interface import AccountUpdate, ExecutionEvent, OrderUpdate

from .conftest import Rig

SYMBOL = "BTCUSDT"
D = Decimal


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0)  # yield to the socket readers until the event is in

    await asyncio.wait_for(wait(), timeout_s)


async def drain(ex: CcxtBinanceExchange) -> list[ExecutionEvent]:
    await ex.close()
    return [e async for e in ex.execution_events()]


def fills(events: list[ExecutionEvent]) -> list[Fill]:
    return [e.fill for e in events if isinstance(e, OrderUpdate) and e.fill is not None]


async def trade_and_stop(rig: Rig, ex: CcxtBinanceExchange, tag: str) -> None:
    """A market entry, a resting limit that fills, and a stop that triggers."""
    await rig.admin.set_price(SYMBOL, D("60000"))
    await ex.create_order(OrderRequest(SYMBOL, Side.BUY, OrderType.MARKET, f"{tag}-m", D("0.004")))
    await ex.create_order(
        OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, f"{tag}-l", D("0.002"), D("59900"))
    )
    await ex.create_order(
        OrderRequest(
            SYMBOL, Side.SELL, OrderType.STOP_MARKET, f"{tag}-s", None, stop_price=D("59000"),
            close_position=True,
        )
    )  # fmt: skip
    await rig.admin.set_price(SYMBOL, D("59850"))
    await rig.admin.set_price(SYMBOL, D("58900"))


async def test_every_fill_arrives_with_algo_and_account_updates(
    rig: Rig, exchange: CcxtBinanceExchange
) -> None:
    await trade_and_stop(rig, exchange, "a")
    events = await drain(exchange)
    assert fills(events) == list(await exchange.my_trades(SYMBOL))
    assert len(fills(events)) == 3
    stop_events = [
        e for e in events if isinstance(e, OrderUpdate) and e.order.client_order_id == "a-s"
    ]
    assert stop_events[0].order.status == "NEW" and stop_events[-1].order.status == "FILLED"
    assert any(isinstance(e, AccountUpdate) and e.reason == "ORDER" for e in events)


async def test_no_fill_missed_after_a_drop_and_a_listen_key_expiry(
    rig: Rig, exchange: CcxtBinanceExchange
) -> None:
    stream = exchange.stream
    assert stream is not None
    await rig.admin.set_price(SYMBOL, D("60000"))
    await rig.admin.post("ws/drop")
    await rig.admin.post("position/open", {"symbol": SYMBOL, "side": "BUY", "qty": "0.003"})
    await until(lambda: stream.reconnects >= 1 and stream.connected.is_set())
    key_before = stream._key
    await rig.admin.post("listenkey/expire")
    await rig.admin.post("position/close", {"symbol": SYMBOL})
    await until(lambda: stream.reconnects >= 2 and stream.connected.is_set())
    assert stream._key != key_before
    await trade_and_stop(rig, exchange, "b")
    events = await drain(exchange)
    assert fills(events) == list(await exchange.my_trades(SYMBOL))
    assert len(fills(events)) == 5


async def test_events_lost_by_the_venue_are_filled_from_rest(
    rig: Rig, exchange: CcxtBinanceExchange
) -> None:
    await rig.admin.faults("drop_events")
    await trade_and_stop(rig, exchange, "c")
    assert (await rig.admin.get("state"))["dropped_events"] > 0
    events = await drain(exchange)
    assert fills(events) == list(await exchange.my_trades(SYMBOL))


async def test_sockets_dropped_on_every_push_lose_no_fill(
    rig: Rig, exchange: CcxtBinanceExchange
) -> None:
    await rig.admin.faults("ws_drop")
    await trade_and_stop(rig, exchange, "d")
    await rig.admin.faults("none")
    events = await drain(exchange)
    assert fills(events) == list(await exchange.my_trades(SYMBOL))
    assert exchange.stream is not None and exchange.stream.reconnects >= 1


async def test_market_streams_carry_mark_price_and_klines(rig: Rig) -> None:
    url = rig.url.replace("http", "ws") + "/stream?streams=btcusdt@markPrice/btcusdt@kline_1m"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await until(lambda: bool(rig.server.markets.subscribers.get("btcusdt@markprice")))
        await rig.admin.set_price(SYMBOL, D("60000"))
        bar = {"symbol": SYMBOL, "open_time": 1_700_000_040_000, "open": "60000",
               "high": "60100", "low": "59900", "close": "60050"}  # fmt: skip
        await rig.admin.post("bar", bar)
        got = [json.loads((await ws.receive(timeout=5)).data) for _ in range(3)]
    streams = [g["stream"] for g in got]
    assert streams.count("btcusdt@markPrice") == 2 and "btcusdt@kline_1m" in streams
    kline = next(g["data"]["k"] for g in got if g["stream"] == "btcusdt@kline_1m")
    assert (kline["o"], kline["c"], kline["x"]) == ("60000", "60050", True)
