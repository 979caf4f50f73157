"""Market WebSocket streams: who listens to what, and the events in Binance's shape.

Streams (symbol in lower case, as on Binance): ``<symbol>@markPrice[@1s]`` and
``!markPrice@arr[@1s]``, ``<symbol>@kline_<interval>`` for any Binance interval (from the
bars fed, as the REST klines: recorded, resampled or split; ``x`` is true once the
candle has closed), ``<symbol>@aggTrade`` (the account's fills, the venue's only
trades), ``<symbol>@bookTicker``, ``<symbol>@depth<5|10|20>[@100ms|@250ms|@500ms]``
(the book's top levels) and ``<symbol>@depth[@100ms|…]`` (changes, numbered so that
they continue a REST snapshot). ``/ws/<name>`` and ``/ws`` send raw payloads,
``/stream?streams=a/b`` wraps each as ``{"stream": name, "data": payload}``; on either a
client may send Binance's ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web

import quantum_trader.exchange.sim.http.market_json as mj
from quantum_trader.data.bars import interval_ms
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import fmt
from quantum_trader.domain.orders import Fill
from quantum_trader.exchange.sim.candles import candles, served_interval
from quantum_trader.exchange.sim.core import MatchingCore
from quantum_trader.exchange.sim.http.binance_json import kline_row
from quantum_trader.exchange.sim.http.depth import Book, BookFeed, changed, levels_json

JSON = dict[str, Any]
PARTIAL = re.compile(r"^(?P<symbol>[a-z0-9]+)@depth(?P<levels>5|10|20)(@(100|250|500)ms)?$")
DIFF = re.compile(r"^(?P<symbol>[a-z0-9]+)@depth(@(100|250|500)ms)?$")


class MarketStreams:
    """Subscribers of market streams by lower-case stream name (and the name as sent)."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[tuple[web.WebSocketResponse, bool]]] = {}
        self.names: dict[str, str] = {}

    def add(self, ws: web.WebSocketResponse, names: list[str], combined: bool) -> None:
        for name in names:
            self.names.setdefault(name.lower(), name)
            self.subscribers.setdefault(name.lower(), set()).add((ws, combined))

    def discard(self, ws: web.WebSocketResponse, names: list[str]) -> None:
        for name in names:
            subs = self.subscribers.get(name.lower(), set())
            for entry in [e for e in subs if e[0] is ws]:
                subs.discard(entry)

    def remove(self, ws: web.WebSocketResponse) -> None:
        self.discard(ws, list(self.subscribers))

    def of(self, ws: web.WebSocketResponse) -> list[str]:
        return sorted(self.names[n] for n, subs in self.subscribers.items() if
                      any(e[0] is ws for e in subs))  # fmt: skip

    async def push(self, name: str, payload: JSON | list[JSON]) -> None:
        for ws, combined in list(self.subscribers.get(name.lower(), ())):
            if ws.closed:
                continue
            body = {"stream": name, "data": payload} if combined else payload
            await ws.send_str(json.dumps(body))

    def wants(self, name: str) -> bool:
        return bool(self.subscribers.get(name.lower()))

    def wanted(self, prefix: str) -> list[str]:
        """The subscribed names starting with ``prefix`` (lower case), as subscribed."""
        return [self.names[n] for n, subs in self.subscribers.items()
                if subs and n.startswith(prefix.lower())]  # fmt: skip

    async def command(self, ws: web.WebSocketResponse, text: str, combined: bool) -> None:
        """A client's SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS message."""
        try:
            message = json.loads(text)
            method, ident = message["method"], message.get("id")
            params = [str(p) for p in message.get("params") or []]
        except (ValueError, KeyError, TypeError):
            await ws.send_str(json.dumps({"error": {"code": 2, "msg": "Invalid request"}}))
            return
        result: list[str] | None = None
        if method == "SUBSCRIBE":
            self.add(ws, params, combined)
        elif method == "UNSUBSCRIBE":
            self.discard(ws, params)
        elif method == "LIST_SUBSCRIPTIONS":
            result = self.of(ws)
        else:
            error = {"code": 1, "msg": f"Invalid value '{method}' for parameter 'method'"}
            await ws.send_str(json.dumps({"error": error, "id": ident}))
            return
        await ws.send_str(json.dumps({"result": result, "id": ident}))


# -- events ----------------------------------------------------------------------------


def mark_price_event(
    symbol: str, mark: str, index: str, rate: str, next_funding: int, now: int
) -> JSON:
    return {
        "e": "markPriceUpdate",
        "E": now,
        "s": symbol,
        "p": mark,
        "i": index,
        "P": mark,
        "r": rate,
        "T": next_funding,
    }


def kline_event(symbol: str, row: list[Any], interval: str, now: int, closed: bool = True) -> JSON:
    return {
        "e": "kline",
        "E": now,
        "s": symbol,
        "k": {
            "t": row[0],
            "T": row[6],
            "s": symbol,
            "i": interval,
            "f": 0,
            "L": 0,
            "o": row[1],
            "c": row[4],
            "h": row[2],
            "l": row[3],
            "v": row[5],
            "n": 0,
            "x": closed,
            "q": row[7],
            "V": "0",
            "Q": "0",
            "B": "0",
        },
    }


def agg_trade_event(fill: Fill, now: int) -> JSON:
    row = mj.agg_trade_json(fill)
    return {"e": "aggTrade", "E": now, "s": fill.symbol, **row}


def book_ticker_event(book: Book, now: int) -> JSON:
    bid = book.bids[0] if book.bids else None
    ask = book.asks[0] if book.asks else None
    return {
        "e": "bookTicker",
        "u": book.update_id,
        "E": now,
        "T": now,
        "s": book.symbol,
        "b": fmt(bid[0]) if bid else "0",
        "B": fmt(bid[1]) if bid else "0",
        "a": fmt(ask[0]) if ask else "0",
        "A": fmt(ask[1]) if ask else "0",
    }


def depth_event(
    symbol: str, first: int, last: int, previous: int, bids: Any, asks: Any, now: int
) -> JSON:
    return {
        "e": "depthUpdate",
        "E": now,
        "T": now,
        "s": symbol,
        "U": first,
        "u": last,
        "pu": previous,
        "b": bids,
        "a": asks,
    }


# -- what a market move, a bar or a fill sends ------------------------------------------


def mark_payload(core: MatchingCore, symbol: str) -> JSON:
    m = core.mark_price(symbol)
    return mark_price_event(
        symbol, fmt(m.mark_price), fmt(m.index_price), fmt(m.funding_rate),
        m.next_funding_time, m.ts,
    )  # fmt: skip


async def moved(core: MatchingCore, markets: MarketStreams, books: BookFeed, symbol: str) -> None:
    """A price move of ``symbol``: mark price, book ticker and depth streams."""
    low, now = symbol.lower(), core.now_ms
    for suffix in ("@markPrice", "@markPrice@1s"):
        if markets.wants(low + suffix):
            await markets.push(low + suffix, mark_payload(core, symbol))
    for name in ("!markPrice@arr", "!markPrice@arr@1s"):
        if markets.wants(name):
            rows = [mark_payload(core, i.symbol) for i in core.instruments()
                    if core.last_price(i.symbol) > 0]  # fmt: skip
            await markets.push(name, rows)
    if markets.wants(low + "@bookTicker"):
        await markets.push(low + "@bookTicker", book_ticker_event(books.book(core, symbol, 1), now))
    depth_names = markets.wanted(low + "@depth")
    for name in depth_names:
        partial = PARTIAL.match(name.lower())
        if partial:
            book = books.book(core, symbol, int(partial["levels"]))
            event = depth_event(symbol, book.update_id, book.update_id, book.update_id - 1,
                                levels_json(book.bids), levels_json(book.asks), now)  # fmt: skip
            await markets.push(name, event)
    diff_names = [n for n in depth_names if DIFF.match(n.lower())]
    step = books.diff(core, symbol) if diff_names else None
    if step is not None:
        before, after = step
        event = depth_event(symbol, before.update_id + 1, after.update_id, before.update_id,
                            changed(before.bids, after.bids), changed(before.asks, after.asks),
                            now)  # fmt: skip
        for name in diff_names:
            await markets.push(name, event)
    elif not diff_names:
        books.sent.pop(symbol, None)


async def bar(core: MatchingCore, markets: MarketStreams, symbol: str, fed: Kline) -> None:
    """A bar was fed: the candle of every subscribed interval it belongs to (several for
    an interval finer than the bar's)."""
    low = symbol.lower()
    for name in markets.wanted(low + "@kline_"):
        interval = name.split("@kline_", 1)[1]
        if not served_interval(interval):
            continue
        start = fed.open_time - interval_ms(interval) + 1
        for k in candles(core, symbol, interval, start=start, end=fed.close_time, limit=1500):
            closed = k.close_time <= fed.close_time
            await markets.push(
                name, kline_event(symbol, kline_row(k), interval, core.now_ms, closed)
            )


async def traded(core: MatchingCore, markets: MarketStreams, fills: Sequence[Fill]) -> None:
    for fill in fills:
        name = fill.symbol.lower() + "@aggTrade"
        if markets.wants(name):
            await markets.push(name, agg_trade_event(fill, core.now_ms))
