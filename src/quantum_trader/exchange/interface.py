"""The one async ``Exchange`` interface every service talks to.

Three implementations sit behind it: the in-process simulated exchange, the ccxt
Binance adapter pointed at the simulated exchange's HTTP front (paper), and the ccxt
Binance adapter pointed at Binance (demo / live). Nothing above this line knows which.

Every order request ends in exactly one of three outcomes (DESIGN.md §3):
accepted (an ``Order`` is returned), rejected (``OrderRejected`` with Binance's code),
or unknown (``OrderOutcomeUnknown``): the caller must then look the order up by its
client order id before doing anything else on that symbol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from quantum_trader.domain.enums import OrderStatus
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.orders import AccountState, Fill, Order, OrderRequest, PositionState


class ExchangeError(Exception):
    """Base of every error an exchange call raises."""


class OrderRejected(ExchangeError):
    """The exchange definitely refused the request. ``code`` is Binance's (e.g. -2019)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class OrderOutcomeUnknown(ExchangeError):
    """Timeout, 5xx, -1006/-1007: the order may or may not exist. Never retry blindly."""

    def __init__(self, client_order_id: str, message: str) -> None:
        super().__init__(f"{client_order_id}: {message}")
        self.client_order_id = client_order_id


class RetryableError(ExchangeError):
    """Rate limit or network failure before the request was sent; safe to retry after backoff."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class OrderNotFound(ExchangeError):
    """-2013: no order with that id exists (definitive)."""


@dataclass(frozen=True, slots=True)
class MarkPrice:
    symbol: str
    mark_price: Decimal
    index_price: Decimal
    funding_rate: Decimal
    next_funding_time: int
    ts: int


@dataclass(frozen=True, slots=True)
class FundingRate:
    """One settled funding rate (Binance's fundingRate history row)."""

    symbol: str
    funding_time: int  # ms; Binance's carries a few ms past the hour (…00017)
    rate: Decimal


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """Execution event: an order changed status (ORDER_TRADE_UPDATE / ALGO_UPDATE)."""

    order: Order
    fill: Fill | None
    ts: int


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """Execution event: wallet or positions changed (ACCOUNT_UPDATE), with its reason."""

    account: AccountState
    reason: str  # ORDER, FUNDING_FEE, LIQUIDATION, ADJUSTMENT, ...
    ts: int


ExecutionEvent = OrderUpdate | AccountUpdate


@runtime_checkable
class Exchange(Protocol):
    """Binance USDⓈ-M futures as seen by our services (one-way mode, cross margin)."""

    async def instruments(self) -> Sequence[Instrument]: ...

    async def account(self) -> AccountState: ...

    async def positions(self) -> Sequence[PositionState]:
        """Every non-zero position (all symbols, one call)."""
        ...

    async def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        """Open regular *and* conditional orders; all symbols when ``symbol`` is None."""
        ...

    async def create_order(self, request: OrderRequest) -> Order: ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order: ...

    async def fetch_order(self, symbol: str, client_order_id: str) -> Order:
        """Look up by our client order id; raises ``OrderNotFound`` when it never existed."""
        ...

    async def set_leverage(self, symbol: str, leverage: int) -> int: ...

    async def my_trades(self, symbol: str, since: int | None = None) -> Sequence[Fill]: ...

    async def mark_price(self, symbol: str) -> MarkPrice: ...

    async def klines(
        self, symbol: str, interval: str, limit: int = 500, end_time: int | None = None
    ) -> Sequence[Kline]: ...

    async def funding_rates(
        self, start_ms: int, end_ms: int | None = None, symbol: str | None = None
    ) -> Sequence[FundingRate]:
        """The rates settled from ``start_ms`` to ``end_ms`` (inclusive; None: now), oldest
        first; every symbol's when ``symbol`` is None."""
        ...

    def execution_events(self) -> AsyncIterator[ExecutionEvent]:
        """Order updates, fills and account updates, in exchange order."""
        ...

    async def close(self) -> None: ...


def is_open(order: Order) -> bool:
    return order.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


def price_or_zero(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)
