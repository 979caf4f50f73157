"""Market data and account history in Binance USDⓈ-M's wire shape: the 24 h ticker,
public trades, price klines of the mark / index / premium index, and income rows.

The venue's trades are the matching core's fills: the account is the only trader the
simulated venue executes for (the market's own activity arrives as bars, whose volume
the 24 h ticker and the klines carry).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from quantum_trader.domain.enums import Side
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import ZERO, fmt
from quantum_trader.domain.orders import Fill
from quantum_trader.exchange.sim.history import FundingPayment

JSON = dict[str, Any]
DAY_MS = 86_400_000
PERCENT = Decimal("0.001")
AVERAGE = Decimal("0.00000001")


def ticker_24h_json(
    symbol: str, last: Decimal, bars: Sequence[Kline], fills: Sequence[Fill], now: int
) -> JSON:
    """GET /fapi/v1/ticker/24hr entry over the bars and fills of the last 24 hours."""
    open_price = bars[0].open if bars else last
    high = max([last, *(k.high for k in bars)])
    low = min([last, *(k.low for k in bars)])
    volume = sum((k.volume for k in bars), ZERO)
    quote = sum((k.volume * k.close for k in bars), ZERO)
    change = last - open_price
    percent = (change / open_price * 100).quantize(PERCENT) if open_price else ZERO
    average = (quote / volume).quantize(AVERAGE) if volume else last
    return {
        "symbol": symbol,
        "priceChange": fmt(change),
        "priceChangePercent": f"{percent:f}",
        "weightedAvgPrice": fmt(average),
        "lastPrice": fmt(last),
        "lastQty": fmt(fills[-1].qty) if fills else "0",
        "openPrice": fmt(open_price),
        "highPrice": fmt(high),
        "lowPrice": fmt(low),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote),
        "openTime": now - DAY_MS,
        "closeTime": now,
        "firstId": int(fills[0].trade_id) if fills else -1,
        "lastId": int(fills[-1].trade_id) if fills else -1,
        "count": len(fills),
    }


def buyer_is_maker(fill: Fill) -> bool:
    """The account's fill seen from the tape: the buyer made the price when the account
    bought as maker or sold as taker."""
    return (fill.side is Side.BUY) == fill.maker


def agg_trade_json(fill: Fill) -> JSON:
    """GET /fapi/v1/aggTrades entry (each fill is one aggregate of one trade)."""
    trade_id = int(fill.trade_id)
    return {
        "a": trade_id,
        "p": fmt(fill.price),
        "q": fmt(fill.qty),
        "f": trade_id,
        "l": trade_id,
        "T": fill.ts,
        "m": buyer_is_maker(fill),
    }


def public_trade_json(fill: Fill) -> JSON:
    """GET /fapi/v1/trades and historicalTrades entry."""
    return {
        "id": int(fill.trade_id),
        "price": fmt(fill.price),
        "qty": fmt(fill.qty),
        "quoteQty": fmt(fill.price * fill.qty),
        "time": fill.ts,
        "isBuyerMaker": buyer_is_maker(fill),
    }


def price_kline_row(k: Kline) -> list[Any]:
    """markPriceKlines / indexPriceKlines row: prices only, the volume fields zero."""
    return [k.open_time, fmt(k.open), fmt(k.high), fmt(k.low), fmt(k.close), "0",
            k.close_time, "0", 0, "0", "0", "0"]  # fmt: skip


def premium_kline_row(k: Kline) -> list[Any]:
    """premiumIndexKlines row: the venue's mark and index are one price, so the premium
    index is zero (the funding rate is then the interest rate, Binance's 0.01 %)."""
    zero = "0.00000000"
    return [k.open_time, zero, zero, zero, zero, "0", k.close_time, "0", 0, "0", "0", "0"]


def income_rows(fills: Sequence[Fill], funding: Sequence[FundingPayment]) -> list[JSON]:
    """GET /fapi/v1/income rows, oldest first: REALIZED_PNL and COMMISSION of each fill
    (the ones that are not zero), FUNDING_FEE of each settlement. ``tranId`` is the
    row's place in that history, so it never changes once given."""
    rows: list[tuple[int, int, JSON]] = []
    for f in fills:
        if f.realized_pnl:
            rows.append((f.ts, 0, _income(f.symbol, "REALIZED_PNL", f.realized_pnl, f)))
        if f.commission:
            rows.append((f.ts, 1, _income(f.symbol, "COMMISSION", -f.commission, f)))
    for p in funding:
        rows.append((p.funding_time, 2, _income(p.symbol, "FUNDING_FEE", p.amount, None)))
    rows.sort(key=lambda r: (r[0], r[1]))
    out = []
    for index, (ts, _, row) in enumerate(rows):
        out.append({**row, "time": ts, "tranId": 7_000_000_000 + index})
    return out


def _income(symbol: str, kind: str, amount: Decimal, fill: Fill | None) -> JSON:
    return {
        "symbol": symbol,
        "incomeType": kind,
        "income": fmt(amount),
        "asset": fill.commission_asset if fill and kind == "COMMISSION" else "USDT",
        "info": kind,
        "tradeId": fill.trade_id if fill else "",
    }
