"""Public market-data endpoints: klines of every kind, tickers, the book, trades, funding
info and open interest.

Klines of any Binance interval come from the bars the venue was fed (``sim.candles``:
recorded, resampled or split along the intrabar path). A symbol that has no price yet —
listed, but no bar or price has reached it — has no ticker: a request naming it is
refused with Binance's -1121, and the all-symbols lists leave it out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import quantum_trader.exchange.sim.http.binance_json as bj
import quantum_trader.exchange.sim.http.market_json as mj
from quantum_trader.data.bars import interval_ms
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import fmt
from quantum_trader.domain.orders import Fill
from quantum_trader.exchange.sim.candles import candles, served_interval
from quantum_trader.exchange.sim.http.depth import book_ticker_json, depth_json, depth_limit
from quantum_trader.exchange.sim.http.routes_info import int_param, priced
from quantum_trader.exchange.sim.http.routes_trade import Params, Route, need
from quantum_trader.exchange.sim.http.security import bad_request
from quantum_trader.exchange.sim.http.venue import Venue

Row = Callable[[Kline], list[Any]]
HOUR_MS = 3_600_000


def one_or_all(params: Params, rows: list[Any]) -> Any:
    return rows[0] if params.get("symbol") else rows


async def _klines(srv: Venue, params: Params, key: str, row: Row, mark: bool = False) -> Any:
    symbol = need(params, key)
    interval = need(params, "interval")
    if not served_interval(interval):
        raise bad_request(-1120, "Invalid interval.")
    limit = max(1, min(int_param(params, "limit", 500) or 500, 1500))
    start, end = int_param(params, "startTime"), int_param(params, "endTime")
    srv.core.instrument(symbol)
    bars = candles(srv.core, symbol, interval, start=start, end=end, limit=limit, mark=mark)
    return [row(k) for k in bars]


async def klines(srv: Venue, params: Params) -> Any:
    return await _klines(srv, params, "symbol", bj.kline_row)


async def continuous_klines(srv: Venue, params: Params) -> Any:
    """Perpetual contracts only: the venue lists no quarterly ones."""
    if params.get("contractType", "PERPETUAL") != "PERPETUAL":
        need(params, "pair")
        return []
    return await _klines(srv, params, "pair", bj.kline_row)


async def mark_price_klines(srv: Venue, params: Params) -> Any:
    """The mark's own bars where the venue was fed them (a replay of markPriceKlines
    files, a synthetic market); else the mark follows the traded price's path."""
    return await _klines(srv, params, "symbol", mj.price_kline_row, mark=True)


async def index_price_klines(srv: Venue, params: Params) -> Any:
    return await _klines(srv, params, "pair", mj.price_kline_row)


async def premium_index_klines(srv: Venue, params: Params) -> Any:
    return await _klines(srv, params, "symbol", mj.premium_kline_row)


def day_bars(srv: Venue, symbol: str) -> list[Kline]:
    """The finest recorded bars of the last 24 hours."""
    recorded = srv.core.kline_intervals(symbol)
    if not recorded:
        return []
    since = srv.core.now_ms - mj.DAY_MS
    base = min(recorded, key=interval_ms)
    return [k for k in srv.core.klines(symbol, base, 1_000_000) if k.open_time > since]


async def ticker_24hr(srv: Venue, params: Params) -> Any:
    now = srv.core.now_ms
    rows = [
        mj.ticker_24h_json(
            s,
            srv.core.last_price(s),
            day_bars(srv, s),
            srv.core.trades(s, now - mj.DAY_MS),
            now,
        )
        for s in priced(srv, params)
    ]
    return one_or_all(params, rows)


async def ticker_price(srv: Venue, params: Params) -> Any:
    now = srv.core.now_ms
    rows = [
        {"symbol": s, "price": fmt(srv.core.last_price(s)), "time": now}
        for s in priced(srv, params)
    ]
    return one_or_all(params, rows)


async def book_ticker(srv: Venue, params: Params) -> Any:
    now = srv.core.now_ms
    rows = [book_ticker_json(srv.books.book(srv.core, s, 1), now) for s in priced(srv, params)]
    return one_or_all(params, rows)


async def depth(srv: Venue, params: Params) -> Any:
    """GET /fapi/v1/depth (and rpiDepth: the venue has no RPI orders, the books agree)."""
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    levels = depth_limit(int_param(params, "limit"))
    return depth_json(srv.books.book(srv.core, symbol, levels), srv.core.now_ms)


def _page(fills: list[Fill], params: Params, default: int, most: int) -> list[Fill]:
    """Binance's trade paging: from ``fromId``, else within the time range (at most an
    hour), else the latest ``limit``."""
    limit = max(1, min(int_param(params, "limit", default) or default, most))
    from_id = int_param(params, "fromId")
    start, end = int_param(params, "startTime"), int_param(params, "endTime")
    if start is not None and end is not None and end - start > HOUR_MS:
        raise bad_request(-1127, "More than 1 hours between startTime and endTime.")
    if from_id is not None:
        return [f for f in fills if int(f.trade_id) >= from_id][:limit]
    if start is not None or end is not None:
        chosen = [
            f for f in fills if (start is None or f.ts >= start) and (end is None or f.ts <= end)
        ]
        return chosen[:limit] if start is not None else chosen[-limit:]
    return fills[-limit:]


async def agg_trades(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    return [mj.agg_trade_json(f) for f in _page(srv.core.trades(symbol), params, 500, 1000)]


async def recent_trades(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    limit = max(1, min(int_param(params, "limit", 500) or 500, 1000))
    return [mj.public_trade_json(f) for f in srv.core.trades(symbol)[-limit:]]


async def historical_trades(srv: Venue, params: Params) -> Any:
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    fills = srv.core.trades(symbol)
    limit = max(1, min(int_param(params, "limit", 100) or 100, 500))
    from_id = int_param(params, "fromId")
    if from_id is not None:
        fills = [f for f in fills if int(f.trade_id) >= from_id][:limit]
    return [mj.public_trade_json(f) for f in fills[-limit:]]


async def funding_info(srv: Venue, params: Params) -> Any:
    hours = srv.core.funding_interval_ms // HOUR_MS
    return [
        {
            "symbol": i.symbol,
            "adjustedFundingRateCap": "0.02000000",
            "adjustedFundingRateFloor": "-0.02000000",
            "fundingIntervalHours": hours,
            "disclaimer": False,
        }
        for i in srv.core.instruments()
    ]


async def open_interest(srv: Venue, params: Params) -> Any:
    """The account is the venue's only trader: its position is the open interest."""
    symbol = need(params, "symbol")
    srv.core.instrument(symbol)
    qty = abs(srv.core.position_qty(symbol))
    return {"openInterest": fmt(qty), "symbol": symbol, "time": srv.core.now_ms}


MARKET_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/fapi/v1/klines"): Route(klines, "public"),
    ("GET", "/fapi/v1/continuousKlines"): Route(continuous_klines, "public"),
    ("GET", "/fapi/v1/markPriceKlines"): Route(mark_price_klines, "public"),
    ("GET", "/fapi/v1/indexPriceKlines"): Route(index_price_klines, "public"),
    ("GET", "/fapi/v1/premiumIndexKlines"): Route(premium_index_klines, "public"),
    ("GET", "/fapi/v1/ticker/24hr"): Route(ticker_24hr, "public"),
    ("GET", "/fapi/v1/ticker/price"): Route(ticker_price, "public"),
    ("GET", "/fapi/v2/ticker/price"): Route(ticker_price, "public"),
    ("GET", "/fapi/v1/ticker/bookTicker"): Route(book_ticker, "public"),
    ("GET", "/fapi/v1/depth"): Route(depth, "public"),
    ("GET", "/fapi/v1/rpiDepth"): Route(depth, "public"),
    ("GET", "/fapi/v1/aggTrades"): Route(agg_trades, "public"),
    ("GET", "/fapi/v1/trades"): Route(recent_trades, "public"),
    ("GET", "/fapi/v1/historicalTrades"): Route(historical_trades, "apikey"),
    ("GET", "/fapi/v1/fundingInfo"): Route(funding_info, "public"),
    ("GET", "/fapi/v1/openInterest"): Route(open_interest, "public"),
}
