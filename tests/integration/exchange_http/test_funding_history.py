"""GET /fapi/v1/fundingRate as Binance answers it: its fields, its paging rules, and what
ccxt's unified ``fetch_funding_rate_history`` makes of it."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

import quantum_trader.exchange.ccxt_binance as ccxt_binance
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange

from .conftest import START_MS, Rig

HOUR = 3_600_000
FIRST = 1_700_006_400_000  # the first funding time after START_MS (00:00 UTC)


async def settled(rig: Rig, count: int) -> None:
    """BTCUSDT and ETHUSDT trade from the start; ``count`` funding times pass."""
    await rig.admin.set_price("BTCUSDT", Decimal("60000.0"))
    await rig.admin.set_price("ETHUSDT", Decimal("3000.00"))
    await rig.admin.advance_time(FIRST + (count - 1) * 8 * HOUR + 1)


async def get(rig: Rig, **params: object) -> list[dict[str, object]]:
    async with aiohttp.ClientSession() as session:
        query = {k: str(v) for k, v in params.items()}
        async with session.get(f"{rig.url}/fapi/v1/fundingRate", params=query) as resp:
            assert resp.status == 200
            rows: list[dict[str, object]] = await resp.json()
            return rows


async def test_rows_carry_binances_fields_oldest_first(rig: Rig) -> None:
    await settled(rig, 3)
    rows = await get(rig, symbol="BTCUSDT")
    assert [r["fundingTime"] for r in rows] == [FIRST, FIRST + 8 * HOUR, FIRST + 16 * HOUR]
    assert set(rows[0]) == {"symbol", "fundingTime", "fundingRate", "markPrice"}
    assert rows[0]["symbol"] == "BTCUSDT" and rows[0]["fundingRate"] == "0.00010000"
    both = await get(rig)
    assert [(r["symbol"], r["fundingTime"]) for r in both[:2]] == [
        ("BTCUSDT", FIRST),
        ("ETHUSDT", FIRST),
    ]


async def test_limit_counts_from_the_start_time_else_back_from_now(rig: Rig) -> None:
    await settled(rig, 4)
    times = [FIRST + k * 8 * HOUR for k in range(4)]
    assert [r["fundingTime"] for r in await get(rig, symbol="BTCUSDT", limit=2)] == times[2:]
    from_start = await get(rig, symbol="BTCUSDT", startTime=times[1], limit=2)
    assert [r["fundingTime"] for r in from_start] == times[1:3]
    until = await get(rig, symbol="BTCUSDT", startTime=0, endTime=times[1])
    assert [r["fundingTime"] for r in until] == times[:2]


async def test_ccxt_reads_the_history_and_our_adapter_pages_through_it(
    rig: Rig, exchange: CcxtBinanceExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    await settled(rig, 4)
    history = await exchange.ccxt_client.fetch_funding_rate_history("BTC/USDT:USDT")
    assert [h["timestamp"] for h in history] == [FIRST + k * 8 * HOUR for k in range(4)]
    assert history[0]["fundingRate"] == 0.0001 and history[0]["symbol"] == "BTC/USDT:USDT"
    # Three rows a page over 8 rows: each page starts again at the previous one's last
    # time (a page may end between two symbols' rows of one time): 4 pages.
    monkeypatch.setattr(ccxt_binance, "FUNDING_PAGE", 3)
    rig.server.requests.clear()
    rows = await exchange.funding_rates(START_MS)
    pages = [r for r in rig.server.requests if r["path"] == "/fapi/v1/fundingRate"]
    assert len(pages) == 4
    assert [(r.symbol, r.funding_time) for r in rows] == [
        (s, FIRST + k * 8 * HOUR) for k in range(4) for s in ("BTCUSDT", "ETHUSDT")
    ]
    assert {r.rate for r in rows} == {Decimal("0.0001")}
