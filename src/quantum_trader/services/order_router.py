"""Placing an order so that its outcome is always known (DESIGN.md §3 "Order outcomes").

An unknown outcome (timeout, 5xx, -1006/-1007) is never treated as a rejection and never
retried blindly: the order is looked up by its client order id until its fate is known.
Only a definitive "no such order" allows placing it (with the same client id) again.
Client order ids are derived from what the order is for, so a retry after a crash finds
the earlier order instead of placing a second one (invariant 1).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from quantum_trader.clock import Clock
from quantum_trader.domain.orders import Fill, Order, OrderRequest
from quantum_trader.exchange.interface import (
    Exchange,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    RetryableError,
)


class OutcomeUnresolved(RuntimeError):
    """The exchange would not say whether the order exists; nothing else may happen on
    the symbol. The plan stays pending and is retried (its lease still holds the symbol)."""


@dataclass(frozen=True, slots=True)
class Placed:
    order: Order


@dataclass(frozen=True, slots=True)
class Refused:
    code: int
    message: str


@dataclass
class OrderOutcomes:
    """What the exchange answered this process's order requests, for ``/metrics``: accepted,
    rejected (by Binance code), or unknown at first; ``unresolved`` holds the client ids
    whose fate is still not known (looked up until it is)."""

    accepted: int = 0
    rejected: Counter[int] = field(default_factory=Counter)
    unknown: int = 0
    unresolved: set[str] = field(default_factory=set)


OUTCOMES = OrderOutcomes()  # the process's tally: every router in it adds to it


@dataclass
class OrderRouter:
    exchange: Exchange
    clock: Clock
    lookups: int = 8
    backoff_s: float = 0.25

    @staticmethod
    async def _pause(seconds: float) -> None:
        # Network backoff is wall-clock time: under a simulated or stepped market clock a
        # one-second retry must not wait for the next bar.
        await asyncio.sleep(seconds)

    async def place(self, request: OrderRequest) -> Placed | Refused:
        """Place ``request`` (or find it, if an earlier attempt got through)."""
        attempts, coid = 0, request.client_order_id
        while True:
            try:
                order = await self.exchange.create_order(request)
            except OrderRejected as exc:
                if exc.code != -4116:
                    OUTCOMES.rejected[exc.code] += 1
                    OUTCOMES.unresolved.discard(coid)
                    return Refused(exc.code, exc.message)
                order = await self.find(request.symbol, coid)  # our earlier attempt exists
            except RetryableError as exc:
                attempts += 1
                if attempts > self.lookups:
                    raise OutcomeUnresolved(f"{coid}: {exc}") from exc
                await self._pause(exc.retry_after_s)
                continue
            except OrderOutcomeUnknown:
                OUTCOMES.unknown += 1
                OUTCOMES.unresolved.add(coid)
                found = await self.resolve(request.symbol, coid)
                if found is None:
                    continue  # definitively absent: safe to send again with the same id
                order = found
            OUTCOMES.accepted += 1
            return Placed(order)

    async def resolve(self, symbol: str, coid: str) -> Order | None:
        """The order with ``coid``, or None when the exchange says it does not exist."""
        delay = self.backoff_s
        for _ in range(self.lookups):
            try:
                order = await self.exchange.fetch_order(symbol, coid)
            except OrderNotFound:
                OUTCOMES.unresolved.discard(coid)
                return None
            except (OrderOutcomeUnknown, RetryableError):
                await self._pause(delay)
                delay = min(delay * 2, 5.0)
            else:
                OUTCOMES.unresolved.discard(coid)
                return order
        raise OutcomeUnresolved(f"{coid}: status still unknown after {self.lookups} lookups")

    async def find(self, symbol: str, coid: str) -> Order:
        order = await self.resolve(symbol, coid)
        if order is None:
            raise OutcomeUnresolved(f"{coid}: reported duplicate but not found")
        return order

    async def until_final(self, order: Order) -> Order:
        """Market orders fill at once; wait (bounded) if the venue answered before filling."""
        for _ in range(self.lookups):
            if order.status.is_final:
                return order
            await self._pause(self.backoff_s)
            order = await self.find(order.symbol, order.client_order_id)
        return order

    async def fills_of(self, order: Order) -> Sequence[Fill]:
        trades = await self.exchange.my_trades(order.symbol, since=order.created_at - 1)
        return [t for t in trades if t.client_order_id == order.client_order_id]

    async def cancel_quietly(self, symbol: str, coid: str) -> bool:
        """Cancel if still open; an order already gone is fine. False when the outcome is
        not known (the reconciler sees the order again next round and retries)."""
        try:
            await self.exchange.cancel_order(symbol, coid)
        except (OrderNotFound, OrderRejected):
            pass
        except (OrderOutcomeUnknown, RetryableError):
            return False
        return True
