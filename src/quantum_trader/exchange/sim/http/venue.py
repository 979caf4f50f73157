"""What the endpoints see of the simulated venue: the matching core, the account's modes,
its streams and meters, and the calls that place and cancel orders.

The HTTP server (``server.SimHttpServer``) is the one implementation; the route tables
(``routes_trade``, ``routes_info``, ``admin``) are written against this view, so they
never import the server that mounts them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from quantum_trader.clock import Clock
from quantum_trader.domain.orders import Order, OrderRequest
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http.depth import BookFeed
from quantum_trader.exchange.sim.http.faults import HttpFaults
from quantum_trader.exchange.sim.http.security import BinanceError, WeightMeter
from quantum_trader.exchange.sim.http.streams import UserStreams

T = TypeVar("T")


@dataclass
class AccountModes:
    """How the account is set up: one-way, cross, single-asset by default — what this
    system trades. An operator's other choices (``POST /admin/account``) make a hostile
    account: hedge mode (orders without ``positionSide`` are then rejected, -4061, as
    Binance does), isolated margin on some symbols, multi-assets margin."""

    dual_side: bool = False
    multi_assets: bool = False
    isolated: set[str] = field(default_factory=set)


class Venue(Protocol):
    sim: SimExchange
    core: MatchingCore
    clock: Clock
    modes: AccountModes
    leverage: dict[str, int]
    faults: HttpFaults
    weights: WeightMeter
    users: UserStreams
    requests: deque[dict[str, Any]]
    books: BookFeed

    def new_client_id(self) -> str: ...

    def not_found(self) -> BinanceError: ...

    def lookup(self, fn: Callable[[], T]) -> T: ...

    async def submit(self, request: OrderRequest) -> Order: ...

    async def cancel(self, symbol: str, client_order_id: str) -> Order: ...

    async def modify(
        self, symbol: str, client_order_id: str, quantity: Decimal, price: Decimal
    ) -> Order: ...

    async def publish(self) -> None: ...

    async def market_moved(self, symbol: str) -> None: ...

    async def bar_closed(self, symbol: str, interval: str) -> None: ...
