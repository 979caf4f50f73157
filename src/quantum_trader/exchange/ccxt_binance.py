"""``CcxtBinanceExchange``: the ``Exchange`` interface on ccxt's ``binanceusdm``.

Modes: ``sim`` (every fapi URL, REST and WebSocket, pointed at the local simulated
exchange server), ``demo`` (Binance demo trading) and ``live`` (refused unless
``i_understand_live=True``). Keys come from ``QUANTUM_BINANCE_API_KEY`` /
``QUANTUM_BINANCE_API_SECRET`` or a secret file, never from code, and are never logged;
``sim`` falls back to the simulator's documented local credentials.

Orders carry our client order id (``newClientOrderId``, or ``clientAlgoId`` for the
conditional orders that Binance serves on its algo-order API). Prices and quantities go
out as the exact decimal strings we hand in: ccxt's own precision rounding is switched
off, because the instrument rules are checked before an order gets here and a rounded
quantity is a different order. Every ccxt error becomes exactly one of
``RetryableError`` / ``OrderRejected`` / ``OrderOutcomeUnknown`` / ``OrderNotFound``
(``ccxt_codec.map_error``); nothing is retried here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import ccxt.async_support as ccxt

from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import fmt
from quantum_trader.domain.orders import AccountState, Fill, Order, OrderRequest, PositionState
from quantum_trader.exchange import ccxt_codec as codec
from quantum_trader.exchange.ccxt_client import (
    KEY_ENV,
    SECRET_ENV,
    SIM_KEY,
    SIM_SECRET,
    Mode,
    build_client,
    load_credentials,
)
from quantum_trader.exchange.ccxt_userdata import UserDataStream
from quantum_trader.exchange.interface import (
    ExchangeError,
    ExecutionEvent,
    FundingRate,
    MarkPrice,
    OrderNotFound,
    OrderRejected,
    OrderUpdate,
)

T = TypeVar("T")
FUNDING_PAGE = 1000  # rows per fundingRate request, Binance's maximum
log = logging.getLogger(__name__)
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


class CcxtBinanceExchange:
    """Binance USDⓈ-M (one-way, cross) through ccxt, for the sim server, demo or live."""

    def __init__(
        self,
        mode: Mode = "sim",
        *,
        base_url: str = "http://127.0.0.1:8765",
        ws_url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        secret_file: Path | None = None,
        i_understand_live: bool = False,
        recv_window_ms: int = 5000,
        timeout_ms: int = 10_000,
        rate_limit: bool | None = None,
        user_stream: bool = True,
        keepalive_s: float = 1800.0,
    ) -> None:
        if mode not in ("sim", "demo", "live"):
            raise ValueError(f"mode must be sim, demo or live, not {mode!r}")
        if mode == "live" and not i_understand_live:
            raise ValueError("live trading needs i_understand_live=True")
        creds = (api_key, api_secret) if api_key and api_secret else load_credentials(secret_file)
        if creds is None:
            if mode != "sim":
                raise ValueError(
                    f"{mode}: set {KEY_ENV} and {SECRET_ENV}, or QUANTUM_BINANCE_SECRET_FILE"
                )
            creds = (SIM_KEY, SIM_SECRET)
        self.mode = mode
        self._client, self.endpoint, self.ws_base = build_client(
            mode, creds, base_url, ws_url, recv_window_ms, timeout_ms, rate_limit
        )
        self._queue: asyncio.Queue[ExecutionEvent | None] = asyncio.Queue()
        self._leverage: dict[str, int] = {}
        self._conditional: set[str] = set()
        self._order_meta: dict[str, tuple[str, bool]] = {}  # orderId -> (client id, reduce)
        self._symbols: set[str] = set()
        self._instruments: list[Instrument] | None = None
        self._want_stream = user_stream
        self._keepalive_s = keepalive_s
        self.stream: UserDataStream | None = None
        self._ready_lock = asyncio.Lock()
        self._closed = False

    @property
    def ccxt_client(self) -> Any:
        """The underlying ccxt ``binanceusdm`` (for request inspection; keys stay inside)."""
        return self._client

    def __repr__(self) -> str:  # never show keys
        return f"CcxtBinanceExchange(mode={self.mode!r}, endpoint={self.endpoint!r})"

    # -- plumbing -------------------------------------------------------------------

    async def start(self) -> None:
        """Load markets and open the user-data stream (done lazily by any first call)."""
        async with self._ready_lock:
            if self._client.markets is None:
                await self._call(self._client.load_markets())
            if self._want_stream and self.stream is None:
                self.stream = UserDataStream(
                    ws_base=self.ws_base,
                    new_listen_key=self._new_listen_key,
                    keepalive=self._keepalive_listen_key,
                    gap_fill=self._fills_since,
                    queue=self._queue,
                    leverage=self._leverage,
                    keepalive_s=self._keepalive_s,
                )
                await self.stream.start()

    async def _call(
        self, coro: Awaitable[T], *, write: bool = False, client_order_id: str = ""
    ) -> T:
        if self._client.closed_by_user:  # a read after close(): reopen, close() closes again
            self._client.open()
        try:
            return await coro
        except ccxt.BaseError as exc:
            headers = getattr(self._client, "last_response_headers", None)
            raise codec.map_error(
                exc, write=write, client_order_id=client_order_id, headers=headers
            ) from exc

    async def _raw(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A call to one of ccxt's implicit Binance endpoints (same request, raw body)."""
        await self.start()
        return await self._call(getattr(self._client, method)(params or {}))

    def _market(self, symbol: str) -> str:
        return str(self._client.markets_by_id[symbol][0]["symbol"])

    # -- Exchange protocol ----------------------------------------------------------

    async def instruments(self) -> Sequence[Instrument]:
        if self._instruments is None:
            await self.start()
            brackets = await self._raw("fapiPrivateGetLeverageBracket")
            tiers = {b["symbol"]: b["brackets"] for b in brackets}
            self._instruments = [
                codec.instrument_from_json(m["info"], tiers.get(m["id"], []))
                for m in self._client.markets.values()
                if m.get("linear") and m.get("swap") and m["id"] in tiers
            ]
        return self._instruments

    async def account(self) -> AccountState:
        raw = await self._raw("fapiPrivateV3GetAccount")
        return codec.account_from_json(raw, tuple(await self.positions()))

    async def positions(self) -> Sequence[PositionState]:
        rows = await self._raw("fapiPrivateV3GetPositionRisk")
        if any("leverage" not in r for r in rows):  # v3 dropped it: read symbolConfig
            config = await self._raw("fapiPrivateGetSymbolConfig")
            self._leverage.update({c["symbol"]: int(c["leverage"]) for c in config})
        found = []
        for row in rows:
            position = codec.position_from_json(row, self._leverage.get(row["symbol"], 0))
            if position is not None:
                self._leverage[position.symbol] = position.leverage
                self._symbols.add(position.symbol)
                found.append(position)
        return found

    async def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        params = {"symbol": symbol} if symbol else {}
        regular = await self._raw("fapiPrivateGetOpenOrders", params)
        algo = await self._raw("fapiPrivateGetOpenAlgoOrders", dict(params))
        orders = [codec.order_from_json(r) for r in regular]
        orders += [codec.algo_from_json(r) for r in algo]
        self._symbols.update(o.symbol for o in orders)
        self._conditional.update(o.client_order_id for o in orders if o.type.is_conditional)
        return sorted(orders, key=lambda o: (o.created_at, int(o.exchange_order_id)))

    async def create_order(self, request: OrderRequest) -> Order:
        cid = request.client_order_id
        if not CLIENT_ID.match(cid):
            raise OrderRejected(-4015, f"Client order id is not valid: {cid!r} (≤ 36 chars)")
        await self.start()
        self._symbols.add(request.symbol)
        conditional = request.type.is_conditional
        params: dict[str, Any] = {"clientAlgoId" if conditional else "newClientOrderId": cid}
        if request.reduce_only:
            params["reduceOnly"] = True
        if conditional:
            assert request.stop_price is not None
            trigger = (
                "takeProfitPrice"
                if request.type is OrderType.TAKE_PROFIT_MARKET
                else "triggerPrice"
            )
            params[trigger] = fmt(request.stop_price)
            params["workingType"] = request.working_type.value
            if request.close_position:
                params["closePosition"] = True
            self._conditional.add(cid)
        elif request.type is OrderType.LIMIT:
            params["timeInForce"] = request.time_in_force.value
        amount = fmt(request.quantity) if request.quantity is not None else None
        price = fmt(request.price) if request.price is not None else None
        kind = "limit" if request.type is OrderType.LIMIT else "market"
        call = self._client.create_order(
            self._market(request.symbol), kind, request.side.value.lower(), amount, price, params
        )
        result = await self._call(call, write=True, client_order_id=cid)
        return self._remember(result["info"])

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        await self.start()
        market, cid = self._market(symbol), client_order_id
        if cid in self._conditional:
            return await self._cancel_algo(symbol, cid)
        try:
            call = self._client.cancel_order("", market, {"origClientOrderId": cid})
            result = await self._call(call, write=True, client_order_id=cid)
            return self._remember(result["info"])
        except OrderRejected as exc:
            if exc.code != -2011:
                raise
            # Binance says -2011 for unknown and for finished orders alike: look it up.
            order = await self.fetch_order(symbol, cid)
            if order.type.is_conditional and not order.status.is_final:
                return await self._cancel_algo(symbol, cid)
            raise

    async def _cancel_algo(self, symbol: str, cid: str) -> Order:
        call = self._client.cancel_order(
            "", self._market(symbol), {"clientAlgoId": cid, "trigger": True}
        )
        try:
            await self._call(call, write=True, client_order_id=cid)
        except OrderRejected as exc:
            if exc.code == -2011:
                await self.fetch_order(symbol, cid)  # OrderNotFound when it never existed
            raise
        return await self.fetch_order(symbol, cid)

    async def fetch_order(self, symbol: str, client_order_id: str) -> Order:
        await self.start()
        first, second = (self._fetch_algo, self._fetch_regular)
        if client_order_id not in self._conditional:
            first, second = second, first
        try:
            return await first(symbol, client_order_id)
        except OrderNotFound:
            return await second(symbol, client_order_id)

    async def _fetch_regular(self, symbol: str, cid: str) -> Order:
        call = self._client.fetch_order("", self._market(symbol), {"origClientOrderId": cid})
        return self._remember((await self._call(call))["info"])

    async def _fetch_algo(self, symbol: str, cid: str) -> Order:
        market = self._market(symbol)
        call = self._client.fetch_order("", market, {"clientAlgoId": cid, "trigger": True})
        info = (await self._call(call))["info"]
        self._conditional.add(cid)
        actual = str(info.get("actualOrderId") or "")
        if info.get("algoStatus") in ("TRIGGERED", "FINISHED") and actual:
            regular = await self._call(self._client.fetch_order(actual, market))
            return self._remember(regular["info"], type_override=info["orderType"])
        return codec.algo_from_json(info)

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        await self.start()
        raw = await self._call(self._client.set_leverage(leverage, self._market(symbol)))
        self._leverage[symbol] = int(raw["leverage"])
        return self._leverage[symbol]

    async def my_trades(self, symbol: str, since: int | None = None) -> Sequence[Fill]:
        params: dict[str, Any] = {"symbol": symbol, "limit": 1000}
        if since is not None:
            params["startTime"] = since
        fills = []
        for raw in await self._raw("fapiPrivateGetUserTrades", params):
            cid, reduce = await self._meta(symbol, str(raw["orderId"]))
            fills.append(codec.fill_from_trade(raw, cid, reduce))
        return fills

    async def mark_price(self, symbol: str) -> MarkPrice:
        return codec.mark_from_json(
            await self._raw("fapiPublicGetPremiumIndex", {"symbol": symbol})
        )

    async def klines(
        self, symbol: str, interval: str, limit: int = 500, end_time: int | None = None
    ) -> Sequence[Kline]:
        params: dict[str, Any] = {"symbol": symbol, "interval": interval, "limit": limit}
        if end_time is not None:
            params["endTime"] = end_time
        rows = await self._raw("fapiPublicGetKlines", params)
        return [codec.kline_from_row(symbol, interval, r) for r in rows]

    async def funding_rates(
        self, start_ms: int, end_ms: int | None = None, symbol: str | None = None
    ) -> Sequence[FundingRate]:
        """GET /fapi/v1/fundingRate, 1,000 rows a page from ``start_ms`` on. Symbols share
        funding times, so the next page starts at the last page's last time again (a page
        may end between two symbols' rows of one time), and rows already read are skipped."""
        out: list[FundingRate] = []
        seen: set[tuple[str, int]] = set()
        start = start_ms
        while True:
            params: dict[str, Any] = {"startTime": start, "limit": FUNDING_PAGE}
            if end_ms is not None:
                params["endTime"] = end_ms
            if symbol is not None:
                params["symbol"] = symbol
            rows = await self._raw("fapiPublicGetFundingRate", params)
            fresh = [
                rate
                for rate in map(codec.funding_from_json, rows)
                if (rate.symbol, rate.funding_time) not in seen
            ]
            seen.update((r.symbol, r.funding_time) for r in fresh)
            out += fresh
            if len(rows) < FUNDING_PAGE or not fresh:
                return out
            start = fresh[-1].funding_time

    def undelivered(self) -> int:
        """Execution events received but not yet taken by the reader."""
        return self._queue.qsize()

    async def barrier(self) -> None:
        """Return once every user-data event the venue sent so far is in our queue."""
        if self.stream is not None:
            await self.stream.sync()

    async def execution_events(self) -> AsyncIterator[ExecutionEvent]:
        await self.start()
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        """End ``execution_events`` after every event up to now (stream barrier + REST gap
        fill) and release the connections. REST reads still work afterwards; call close()
        again to release what they reopened."""
        try:
            if not self._closed and self.stream is not None:
                try:
                    await self.stream.sync()
                except ExchangeError as exc:  # the REST gap fill failed: say so, still close
                    log.warning("final gap fill failed: %s", type(exc).__name__)
                finally:
                    await self.stream.stop()
        finally:
            if not self._closed:
                self._closed = True
                self._queue.put_nowait(None)
            await self._client.close()

    # -- operations beyond the protocol ---------------------------------------------

    async def server_time(self) -> int:
        """The exchange's clock (ms): Binance's is the wall clock, a replaying simulator's is
        its market's."""
        raw = await self._raw("fapiPublicGetTime")
        return int(raw["serverTime"])

    async def self_check(self) -> dict[str, Any]:
        """Endpoint, account mode and balance: what to read before trading with real money."""
        dual = await self._raw("fapiPrivateGetPositionSideDual")
        account = await self._raw("fapiPrivateV3GetAccount")
        config = await self._raw("fapiPrivateGetSymbolConfig")
        margin_modes = sorted({str(c.get("marginType", "")).upper() for c in config})
        return {
            "mode": self.mode,
            "endpoint": self.endpoint,
            "position_mode": "hedge" if codec.truthy(dual.get("dualSidePosition")) else "one-way",
            "multi_assets_margin": codec.truthy(account.get("multiAssetsMargin")),
            "margin_modes": margin_modes or ["CROSSED"],
            "wallet_balance": str(codec.d(account.get("totalWalletBalance"))),
            "available_balance": str(codec.d(account.get("availableBalance"))),
        }

    # -- internals ------------------------------------------------------------------

    def _remember(self, info: dict[str, Any], type_override: str | None = None) -> Order:
        order = (
            codec.algo_from_json(info)
            if "algoId" in info
            else codec.order_from_json(info, type_override)
        )
        if "orderId" in info:
            reduce = order.reduce_only or order.close_position
            self._order_meta[order.exchange_order_id] = (order.client_order_id, reduce)
        return order

    async def _meta(self, symbol: str, order_id: str) -> tuple[str, bool]:
        if order_id not in self._order_meta:
            raw = await self._raw("fapiPrivateGetOrder", {"symbol": symbol, "orderId": order_id})
            self._remember(raw)
        return self._order_meta[order_id]

    async def _new_listen_key(self) -> str:
        raw = await self._call(self._client.fapiPrivatePostListenKey({}))
        return str(raw["listenKey"])

    async def _keepalive_listen_key(self, key: str) -> None:
        await self._call(self._client.fapiPrivatePutListenKey({"listenKey": key}))

    async def _fills_since(self, since_ms: int) -> list[OrderUpdate]:
        """REST view of every fill at or after ``since_ms`` on the symbols we trade."""
        symbols = set(self._symbols) | {p.symbol for p in await self.positions()}
        updates: list[OrderUpdate] = []
        for symbol in sorted(symbols):
            for fill in await self.my_trades(symbol, since_ms or None):
                order = await self._order_by_id(symbol, fill.exchange_order_id)
                updates.append(OrderUpdate(order, fill, fill.ts))
        return sorted(updates, key=lambda u: (u.ts, int(u.fill.trade_id) if u.fill else 0))

    async def _order_by_id(self, symbol: str, order_id: str) -> Order:
        raw = await self._raw("fapiPrivateGetOrder", {"symbol": symbol, "orderId": order_id})
        return self._remember(raw)
