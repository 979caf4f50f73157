"""``SimExchange``: the async ``Exchange`` over a ``MatchingCore``, with injected faults.

One instance is one account. Execution events go to an asyncio.Queue that
``execution_events()`` iterates; the fault plan may drop or delay them. Delayed events
are released, in release-time order, on the first interaction after exchange time has
reached their release time (or by ``release_delayed``), so no background task and no
wall clock is involved. Latency is awaited through the injected ``Clock``.

Besides the ``Exchange`` protocol it offers the *driver* (move the market, move time)
and the *admin* operations a person can do in Binance's web UI (open or close a position
by hand, cancel an order by hand); these produce ordinary execution events.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

from quantum_trader.clock import Clock
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import AccountState, Fill, Order, OrderRequest, PositionState
from quantum_trader.exchange.interface import (
    ExecutionEvent,
    FundingRate,
    MarkPrice,
    OrderOutcomeUnknown,
    OrderRejected,
    RetryableError,
)
from quantum_trader.exchange.sim.core import MatchingCore
from quantum_trader.exchange.sim.faults import EventFate, FaultPlan, OrderFault

OVERLOADED = -1008
OVERLOADED_TEXT = (
    "Server is currently overloaded with other requests. Please try again in a few minutes."
)


class SimExchange:
    """Binance USDⓈ-M futures, simulated in-process."""

    def __init__(
        self,
        core: MatchingCore | None = None,
        *,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.core = core or MatchingCore()
        self.clock = clock
        self.faults = faults or FaultPlan()
        self._queue: asyncio.Queue[ExecutionEvent | None] = asyncio.Queue()
        self._delayed: list[tuple[int, int, ExecutionEvent]] = []
        self._delay_seq = itertools.count()
        self._manual_seq = itertools.count(1)
        self.dropped_events: list[ExecutionEvent] = []
        self._closed = False

    # -- Exchange protocol ----------------------------------------------------------

    async def instruments(self) -> Sequence[Instrument]:
        await self._call()
        return self.core.instruments()

    async def account(self) -> AccountState:
        await self._call()
        return self.core.account()

    async def positions(self) -> Sequence[PositionState]:
        await self._call()
        return self.core.positions()

    async def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        await self._call()
        return self.core.open_orders(symbol)

    async def create_order(self, request: OrderRequest) -> Order:
        await self._call()
        fault = self._order_fault(request.client_order_id)
        order = self.core.submit(request)
        self._publish()
        if fault is OrderFault.LOST_RESPONSE:
            raise OrderOutcomeUnknown(request.client_order_id, "response lost after execution")
        return order

    async def cancel_order(self, symbol: str, client_order_id: str) -> Order:
        await self._call()
        fault = self._order_fault(client_order_id)
        order = self.core.cancel(symbol, client_order_id)
        self._publish()
        if fault is OrderFault.LOST_RESPONSE:
            raise OrderOutcomeUnknown(client_order_id, "response lost after cancel")
        return order

    async def modify_order(
        self, symbol: str, client_order_id: str, quantity: Decimal, price: Decimal
    ) -> Order:
        """Amend a resting LIMIT order (Binance's PUT /fapi/v1/order)."""
        await self._call()
        fault = self._order_fault(client_order_id)
        order = self.core.modify(symbol, client_order_id, quantity, price)
        self._publish()
        if fault is OrderFault.LOST_RESPONSE:
            raise OrderOutcomeUnknown(client_order_id, "response lost after amendment")
        return order

    async def fetch_order(self, symbol: str, client_order_id: str) -> Order:
        await self._call()
        return self.core.order(symbol, client_order_id)

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        await self._call()
        return self.core.set_leverage(symbol, leverage)

    async def my_trades(self, symbol: str, since: int | None = None) -> Sequence[Fill]:
        await self._call()
        return self.core.trades(symbol, since)

    async def mark_price(self, symbol: str) -> MarkPrice:
        await self._call()
        return self.core.mark_price(symbol)

    async def klines(
        self, symbol: str, interval: str, limit: int = 500, end_time: int | None = None
    ) -> Sequence[Kline]:
        await self._call()
        return self.core.klines(symbol, interval, limit, end_time)

    async def funding_rates(
        self, start_ms: int, end_ms: int | None = None, symbol: str | None = None
    ) -> Sequence[FundingRate]:
        await self._call()
        return self.core.funding_rates(start_ms, end_ms, symbol)

    async def execution_events(self) -> AsyncIterator[ExecutionEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    # -- driver: the market and time ------------------------------------------------

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        open: Decimal,
        high: Decimal,
        low: Decimal,
        close: Decimal,
        volume: Decimal = ZERO,
        interval: str = "1m",
        mark: tuple[Decimal, Decimal, Decimal, Decimal] | None = None,
    ) -> None:
        self.core.on_bar(symbol, open_time, open, high, low, close, volume, interval, mark)
        self._publish()

    def set_mark(self, symbol: str, mark: Decimal) -> None:
        self.core.set_mark(symbol, mark)
        self._publish()

    def set_price(self, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
        self.core.set_price(symbol, price, mark=mark)
        self._publish()

    def advance_time(self, now_ms: int) -> None:
        self.core.advance_time(now_ms)
        self._publish()

    def undelivered(self) -> int:
        """Events queued for the execution-event stream but not yet taken by a reader."""
        return self._queue.qsize()

    def pending_events(self) -> list[ExecutionEvent]:
        """Take every event already delivered to the queue, without waiting."""
        taken: list[ExecutionEvent] = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is not None:
                taken.append(event)
        return taken

    def release_delayed(self) -> None:
        """Deliver every delayed event now, in release-time order."""
        while self._delayed:
            self._queue.put_nowait(heapq.heappop(self._delayed)[2])

    # -- admin: what a person does by hand ------------------------------------------

    def open_position_by_hand(self, symbol: str, side: Side, qty: Decimal) -> Order:
        return self._manual(OrderRequest(symbol, side, OrderType.MARKET, self._manual_id(), qty))

    def close_position_by_hand(self, symbol: str) -> Order | None:
        """Market-close whatever is open on ``symbol`` (the UI's "close all" button)."""
        qty = self.core.position_qty(symbol)
        if not qty:
            return None
        side = Side.SELL if qty > 0 else Side.BUY
        request = OrderRequest(
            symbol, side, OrderType.MARKET, self._manual_id(), abs(qty), reduce_only=True
        )
        return self._manual(request)

    def cancel_by_hand(self, symbol: str, client_order_id: str) -> Order:
        order = self.core.cancel(symbol, client_order_id)
        self._publish()
        return order

    # -- internals ------------------------------------------------------------------

    def _manual_id(self) -> str:
        return f"web_manual{next(self._manual_seq)}"

    def _manual(self, request: OrderRequest) -> Order:
        order = self.core.submit(request)
        self._publish()
        return order

    async def _call(self) -> None:
        """Every request: network latency first, then the exchange sees the current time."""
        latency = self.faults.latency_s()
        if latency > 0 and self.clock is not None:
            await self.clock.sleep(latency)
        if self.clock is not None:
            self.core.advance_time(self.clock.now_ms())
        self._publish()

    def _order_fault(self, client_order_id: str) -> OrderFault:
        """Faults that stop a request before it reaches the matching core raise here."""
        fault = self.faults.order_fault()
        if fault is OrderFault.REJECT:
            raise OrderRejected(OVERLOADED, OVERLOADED_TEXT)
        if fault is OrderFault.RATE_LIMIT:
            raise RetryableError("429 Too Many Requests (-1003)", retry_after_s=1.0)
        if fault is OrderFault.UNKNOWN_BEFORE:
            raise OrderOutcomeUnknown(client_order_id, "timeout: execution status unknown")
        return fault

    def _publish(self) -> None:
        """Move the core's new events to the queue, through the fault plan."""
        now = self.core.now_ms
        for event in self.core.drain_events():
            fate = self.faults.event_fate()
            if fate is EventFate.DROP:
                self.dropped_events.append(event)
            elif fate is EventFate.DELAY:
                release = now + int(self.faults.profile.event_delay_s * 1000)
                heapq.heappush(self._delayed, (release, next(self._delay_seq), event))
            else:
                self._queue.put_nowait(event)
        while self._delayed and self._delayed[0][0] <= now:
            self._queue.put_nowait(heapq.heappop(self._delayed)[2])
