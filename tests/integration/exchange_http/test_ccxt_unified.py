"""A ccxt user's first session against the simulator, configured exactly as the README says.

The README's client configuration (its ``ccxt.binanceusdm`` block, read from the file) is
built as written — only the server's address and ccxt's asyncio flavour differ, since
the server runs in this test's event loop — and the unified calls a trader makes first
run through it against a venue replaying Binance's XRPUSDT 5m bars. Time moves on the
venue's own clock (the replay's injected wait, the admin clock): nothing sleeps, so
ccxt's client-side pacing, which waits on the wall clock (8 s for these calls), is
switched off after the block has run; the venue's own request-weight limit still holds.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from quantum_trader.cli.sim_exchange import load_series
from quantum_trader.data.resample import resample_klines
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer
from quantum_trader.exchange.sim.http.replay import replay
from tests.conftest import shared_data

README = Path(__file__).resolve().parents[3] / "README.md"
SYMBOL = "XRP/USDT:USDT"
BARS = 300  # 25 hours of 5m bars from 00:00 UTC: funding times 00:00, 08:00, 16:00, 00:00


def readme_client(url: str) -> Any:
    """The README's ccxt configuration, executed as written (address and asyncio aside)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if "ccxt.binanceusdm(" in b]
    code = block.replace("import ccxt\n", "import ccxt.async_support as ccxt\n", 1)
    code = re.sub(r'sim = "[^"]*"', f'sim = "{url}"', code, count=1)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(README), "exec"), namespace)
    exchange = namespace["exchange"]
    exchange.enableRateLimit = False  # pacing waits on the wall clock; see above
    return exchange


@pytest.fixture
async def venue() -> Any:
    data = shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")
    series = [s.slice(0, BARS) for s in load_series(data, seed=0)[0]]
    core = MatchingCore(seed=3, start_ms=int(series[0].open_time[0]))
    server = SimHttpServer(SimExchange(core), seed=3)
    url = await server.start()

    async def no_wait(seconds: float) -> None:
        return None

    await replay(server, series, speed=1, sleep=no_wait)
    yield server, url, series[0]
    await server.stop()


def d(value: Any) -> Decimal:
    return Decimal(str(value))


async def test_the_readme_configuration_runs_a_traders_unified_calls(venue: Any) -> None:
    server, url, series = venue
    ex = readme_client(url)
    try:
        await session(ex, server, series)
    finally:
        await ex.close()


async def session(ex: Any, server: SimHttpServer, series: Any) -> None:
    core = server.core
    last = core.last_price("XRPUSDT")
    markets = await ex.fetch_markets()
    assert SYMBOL in {m["symbol"] for m in markets}
    await ex.load_markets()

    # -- market data ------------------------------------------------------------------
    ticker = await ex.fetch_ticker(SYMBOL)
    assert d(ticker["last"]) == last and ticker["high"] >= ticker["low"] > 0
    tickers = await ex.fetch_tickers()
    assert SYMBOL in tickers and "BTC/USDT:USDT" not in tickers  # BTC has no price here
    book = await ex.fetch_order_book(SYMBOL, 5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] < float(last) < book["asks"][0][0]
    trades = await ex.fetch_trades(SYMBOL)
    assert trades == []  # nobody traded yet: the account is the venue's only trader

    five = await ex.fetch_ohlcv(SYMBOL, "5m", limit=24)
    one = await ex.fetch_ohlcv(SYMBOL, "1m", limit=60)
    hour = await ex.fetch_ohlcv(SYMBOL, "1h", limit=3)
    assert len(five) == 24 and len(one) == 60 and len(hour) == 3
    bars = core.klines("XRPUSDT", "5m", BARS)
    assert [r[0] for r in five] == [k.open_time for k in bars[-24:]]
    hourly = resample_klines(bars, "1h")
    assert [[r[0], d(r[1]), d(r[2]), d(r[3]), d(r[4])] for r in hour] == [
        [k.open_time, k.open, k.high, k.low, k.close] for k in hourly[-3:]
    ]
    assert one[-1][4] == hour[-1][4] == five[-1][4]  # the same close, whatever the interval
    mark = await ex.fetch_mark_ohlcv(SYMBOL, "1h", limit=2)
    assert [r[0] for r in mark] == [k.open_time for k in hourly[-2:]]

    rate = await ex.fetch_funding_rate(SYMBOL)
    assert d(rate["markPrice"]) == last and rate["fundingRate"] == pytest.approx(0.0001)
    history = await ex.fetch_funding_rate_history(SYMBOL)
    assert [h["timestamp"] for h in history] == [
        series.open_time[0] + k * 8 * 3_600_000 for k in range(4)
    ]
    tiers = await ex.fetch_leverage_tiers([SYMBOL])
    assert tiers[SYMBOL][0]["maxLeverage"] == core.instrument("XRPUSDT").max_leverage

    # -- account settings --------------------------------------------------------------
    assert (await ex.set_leverage(10, SYMBOL))["leverage"] == 10
    await ex.set_margin_mode("isolated", SYMBOL)
    await ex.set_margin_mode("cross", SYMBOL)
    with pytest.raises(ccxt_async.MarginModeAlreadySet):
        await ex.set_margin_mode("cross", SYMBOL)
    balance = await ex.fetch_balance()
    assert balance["USDT"]["total"] == 10_000

    # -- orders -------------------------------------------------------------------------
    bought = await ex.create_order(SYMBOL, "market", "buy", 100)
    assert bought["status"] == "closed" and bought["filled"] == 100
    (position,) = await ex.fetch_positions([SYMBOL])
    assert position["side"] == "long" and position["contracts"] == 100
    low = float(core.instrument("XRPUSDT").round_price(last * Decimal("0.9")))
    resting = await ex.create_order(SYMBOL, "limit", "buy", 50, low, {"clientOrderId": "mine-1"})
    assert resting["status"] == "open" and resting["clientOrderId"] == "mine-1"
    edited = await ex.edit_order(resting["id"], SYMBOL, "limit", "buy", 60, low)
    assert (edited["id"], edited["amount"], edited["status"]) == (resting["id"], 60, "open")
    assert (await ex.fetch_order(resting["id"], SYMBOL))["amount"] == 60
    by_client = await ex.fetch_order(None, SYMBOL, {"origClientOrderId": "mine-1"})
    assert by_client["id"] == resting["id"]
    stop = float(core.instrument("XRPUSDT").round_price(last * Decimal("0.8")))
    stopped = await ex.create_order(
        SYMBOL, "market", "sell", 100, None, {"stopLossPrice": stop, "reduceOnly": True}
    )
    assert stopped["type"] == "market" and stopped["triggerPrice"] == stop
    assert [o["id"] for o in await ex.fetch_open_orders(SYMBOL)] == [resting["id"]]
    triggers = await ex.fetch_open_orders(SYMBOL, params={"trigger": True})
    assert [o["id"] for o in triggers] == [stopped["id"]]
    cancelled = await ex.cancel_order(resting["id"], SYMBOL)
    assert cancelled["status"] == "canceled"
    second = await ex.create_order(SYMBOL, "limit", "buy", 50, low)
    await ex.cancel_all_orders(SYMBOL)
    await ex.cancel_all_orders(SYMBOL, {"trigger": True})
    assert await ex.fetch_open_orders(SYMBOL) == []
    assert await ex.fetch_open_orders(SYMBOL, params={"trigger": True}) == []
    closed = await ex.fetch_closed_orders(SYMBOL)
    assert [o["id"] for o in closed] == [bought["id"]]
    every = await ex.fetch_orders(SYMBOL)
    assert [o["id"] for o in every] == [bought["id"], resting["id"], second["id"]]
    (fill,) = await ex.fetch_my_trades(SYMBOL)
    assert fill["order"] == bought["id"] and fill["fee"]["currency"] == "USDT"
    assert fill["info"]["marginAsset"] == "USDT"
    assert [t["id"] for t in await ex.fetch_trades(SYMBOL)] == [fill["id"]]

    # -- a funding time passes, the position is closed: the income history --------------
    server.sim.advance_time(core.next_funding_ms)
    await ex.create_order(SYMBOL, "market", "sell", 100, None, {"reduceOnly": True})
    funding = await ex.fetch_funding_history(SYMBOL)
    assert len(funding) == 1 and funding[0]["amount"] < 0  # a long pays a positive rate
    ledger = await ex.fetch_ledger("USDT", None, None, {"type": "swap"})
    kinds = [row["info"]["incomeType"] for row in ledger]
    assert sorted(set(kinds)) == ["COMMISSION", "FUNDING_FEE", "REALIZED_PNL"]
    total = sum(d(row["info"]["income"]) for row in ledger)
    assert total == core.account().wallet_balance - 10_000
