"""``SimHttpServer``: a ``SimExchange`` behind the Binance USDⓈ-M REST and WebSocket API.

Every /fapi request goes through one dispatcher: request log → weight (429 when spent)
→ key / signature / timestamp → injected HTTP faults → the endpoint → execution events
pushed to the user-data sockets. The market itself only moves through the loopback-only
admin endpoints or the bar replay, so tests and paper runs decide what the price does.
Security time (timestamps, weight minutes, listen-key expiry) is the injected wall
``Clock``; exchange time (fills, funding) is the matching core's own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import web

import quantum_trader.exchange.sim.http.market_streams as ms
import quantum_trader.exchange.sim.http.streams as streams
from quantum_trader.clock import Clock, SystemClock
from quantum_trader.domain.orders import Fill, Order, OrderRequest
from quantum_trader.exchange.interface import (
    AccountUpdate,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderUpdate,
    RetryableError,
)
from quantum_trader.exchange.sim import FaultPlan, MatchingCore, SimExchange
from quantum_trader.exchange.sim.http.depth import BookFeed
from quantum_trader.exchange.sim.http.faults import HttpFaultProfile, HttpFaults, profile_named
from quantum_trader.exchange.sim.http.routes_account import ACCOUNT_ROUTES
from quantum_trader.exchange.sim.http.routes_batch import BATCH_ROUTES
from quantum_trader.exchange.sim.http.routes_info import INFO_ROUTES
from quantum_trader.exchange.sim.http.routes_market import MARKET_ROUTES
from quantum_trader.exchange.sim.http.routes_trade import TRADE_ROUTES, Route
from quantum_trader.exchange.sim.http.security import (
    DEFAULT_WEIGHT_LIMIT,
    BinanceError,
    Credentials,
    WeightMeter,
    check_api_key,
    check_signed,
    weight_of,
)
from quantum_trader.exchange.sim.http.venue import AccountModes

T = TypeVar("T")
ROUTES: dict[tuple[str, str], Route] = {
    **TRADE_ROUTES,
    **BATCH_ROUTES,
    **INFO_ROUTES,
    **MARKET_ROUTES,
    **ACCOUNT_ROUTES,
}
UNKNOWN_TEXT = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."  # noqa: E501
BUS_TEXT = "An unexpected response was received from the message bus. Execution status unknown."


class LostResponse(Exception):
    """The request executed but its reply never reaches the client (a gateway timeout)."""


class SimHttpServer:
    """Serve one simulated account on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        exchange: SimExchange | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
        weight_limit: int = DEFAULT_WEIGHT_LIMIT,
        faults: str | HttpFaultProfile = "none",
        seed: int = 0,
        clock: Clock | None = None,
        weight_clock: Clock | None = None,
    ) -> None:
        profile = profile_named(faults) if isinstance(faults, str) else faults
        self.sim = exchange or SimExchange(MatchingCore(seed=seed))
        self.sim.faults = FaultPlan(profile.sim, seed)
        self.core = self.sim.core
        self.host, self.port = host, port
        self.credentials = credentials or Credentials()
        self.weights = WeightMeter(weight_limit)
        self.faults = HttpFaults(profile, seed)
        self.clock: Clock = clock or SystemClock()
        # Weight minutes: wall time by default (as on Binance); a stepped paper run counts
        # them in market time, so Binance's real per-minute budget holds per market minute.
        self.weight_clock: Clock = weight_clock or self.clock
        self.users = streams.UserStreams(seed)
        self.markets = ms.MarketStreams()
        self.leverage: dict[str, int] = {}
        self.modes = AccountModes()
        self.requests: deque[dict[str, Any]] = deque(maxlen=2000)
        self.books = BookFeed()
        self._ids = itertools.count(1)
        self._touched: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.app = self._build_app()

    # -- lifecycle ------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        from quantum_trader.exchange.sim.http.admin import admin_routes

        app = web.Application()
        app.add_routes(admin_routes(self))
        app.router.add_get("/ws/{name}", self._ws_single)
        app.router.add_get("/ws", self._ws_raw)
        app.router.add_get("/stream", self._ws_combined)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self) -> str:
        """Bind and serve; returns the base URL (``http://host:port``)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.users.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # -- the REST dispatcher --------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        query = request.raw_path.partition("?")[2]
        body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        self.requests.append({"method": method, "path": path, "params": params})
        route = ROUTES.get((method, path))
        if route is None:
            return _error(BinanceError(404, -5000, f"Path {path} not found."), {})
        now = self.clock.now_ms()
        headers: dict[str, str] = {}
        try:
            used = self.weights.spend(weight_of(path, params), self.weight_clock.now_ms())
            headers["X-MBX-USED-WEIGHT-1M"] = str(used)
            if route.security == "signed":
                check_signed(self.credentials, request.headers, query, body, now)
            elif route.security == "apikey":
                check_api_key(self.credentials, request.headers)
            await self._before(route)
            result = await route.handler(self, params)
            if route.order_write and self.faults.chance(self.faults.profile.status_unknown):
                raise BinanceError(503, -1006, BUS_TEXT)
        except BinanceError as exc:
            return _error(exc, headers)
        except OrderRejected as exc:
            return _error(BinanceError(400, exc.code, exc.message), headers)
        except OrderNotFound:
            return _error(self.not_found(), headers)
        except LostResponse:
            return web.Response(status=504, text="<html>504 Gateway Time-out</html>")
        finally:
            await self.publish()
        return web.json_response(result, headers=headers, dumps=_dumps)

    async def _before(self, route: Route) -> None:
        """HTTP faults that strike before the request reaches the exchange."""
        faults = self.faults
        latency = faults.latency_s()
        if latency > 0:
            await asyncio.sleep(latency)
        if faults.in_burst():
            raise BinanceError(
                429, -1003, "Too many requests; current limit is exceeded.", {"Retry-After": "1"}
            )
        if faults.chance(faults.profile.server_error):
            raise BinanceError(502, 0, "")
        if faults.chance(faults.profile.internal_error):
            raise BinanceError(
                500, -1001, "Internal error; unable to process your request. Please try again."
            )

    # -- exchange calls used by the endpoints ----------------------------------------

    def new_client_id(self) -> str:
        return f"sim-{next(self._ids)}"

    @staticmethod
    def not_found() -> BinanceError:
        return BinanceError(400, -2013, "Order does not exist.")

    def lookup(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except OrderNotFound:
            raise self.not_found() from None
        except OrderRejected as exc:
            raise BinanceError(400, exc.code, exc.message) from None

    async def submit(self, request: OrderRequest) -> Order:
        return await self._order_call(self.sim.create_order(request))

    async def cancel(self, symbol: str, client_order_id: str) -> Order:
        return await self._order_call(self.sim.cancel_order(symbol, client_order_id))

    async def modify(
        self, symbol: str, client_order_id: str, quantity: Decimal, price: Decimal
    ) -> Order:
        call = self.sim.modify_order(symbol, client_order_id, quantity, price)
        return await self._order_call(call)

    async def _order_call(self, call: Any) -> Order:
        try:
            order: Order = await call
            return order
        except OrderRejected as exc:
            status = 503 if exc.code == -1008 else 400
            raise BinanceError(status, exc.code, exc.message) from None
        except OrderNotFound:
            raise self.not_found() from None
        except RetryableError:
            raise BinanceError(
                429, -1003, "Too many requests; current limit is exceeded.", {"Retry-After": "1"}
            ) from None
        except OrderOutcomeUnknown as exc:
            if "lost" in str(exc):
                raise LostResponse() from None
            raise BinanceError(503, -1007, UNKNOWN_TEXT) from None

    # -- events out -----------------------------------------------------------------

    async def publish(self) -> None:
        """Push the account's new execution events to every user-data socket."""
        events = self.sim.pending_events()
        if not events:
            return
        payloads: list[dict[str, Any]] = []
        fills: list[Fill] = []
        for event in events:
            if isinstance(event, OrderUpdate):
                order = event.order
                if order.type.is_conditional:
                    payloads.append(streams.algo_event(event))
                if not order.type.is_conditional or event.fill is not None:
                    payloads.append(streams.order_event(event))
                if event.fill is not None:
                    self._touched.add(order.symbol)
                    fills.append(event.fill)
            elif isinstance(event, AccountUpdate):
                payloads.append(streams.account_event(event, self._touched))
                self._touched = set()
        now = self.clock.now_ms()
        if self.users.connected and self.faults.chance(self.faults.profile.ws_drop):
            await self.users.drop_all()
        if self.users.connected and self.faults.chance(self.faults.profile.listen_key_expiry):
            await self.users.expire_all(now)
        await self.users.expire_stale(now)
        await self.users.push(payloads)
        await ms.traded(self.core, self.markets, fills)

    async def market_moved(self, symbol: str) -> None:
        """Market streams of the move (and execution events the move caused)."""
        await self.publish()
        await ms.moved(self.core, self.markets, self.books, symbol)

    async def bar_closed(self, symbol: str, interval: str) -> None:
        await self.market_moved(symbol)
        bars = self.core.klines(symbol, interval, 1)
        if bars:
            await ms.bar(self.core, self.markets, symbol, bars[-1])

    # -- WebSockets -----------------------------------------------------------------

    async def _ws_single(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if "@" in name:
            return await self._market_socket(request, [name], combined=False)
        if not self.users.valid(name, self.clock.now_ms()):
            return _error(BinanceError(400, -1125, "This listenKey does not exist."), {})

        def register(ws: web.WebSocketResponse) -> None:
            self.users.sockets.setdefault(name, set()).add(ws)

        def unregister(ws: web.WebSocketResponse) -> None:
            self.users.sockets.get(name, set()).discard(ws)

        return await streams.serve_socket(request, register, unregister)

    async def _ws_raw(self, request: web.Request) -> web.StreamResponse:
        """``/ws``: raw payloads of the streams a client SUBSCRIBEs to."""
        return await self._market_socket(request, [], combined=False)

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await self._market_socket(request, names, combined=True)

    async def _market_socket(
        self, request: web.Request, names: list[str], combined: bool
    ) -> web.StreamResponse:
        async def command(ws: web.WebSocketResponse, text: str) -> None:
            await self.markets.command(ws, text, combined)

        return await streams.serve_socket(
            request, lambda ws: self.markets.add(ws, names, combined), self.markets.remove, command
        )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _error(exc: BinanceError, headers: dict[str, str]) -> web.Response:
    merged = {**headers, **exc.headers}
    if exc.status == 502:
        return web.Response(status=502, text="<html>502 Bad Gateway</html>", headers=merged)
    body = _dumps({"code": exc.code, "msg": exc.msg})
    return web.Response(
        status=exc.status, text=body, content_type="application/json", headers=merged
    )
