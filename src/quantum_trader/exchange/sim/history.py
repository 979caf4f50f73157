"""The exchange's permanent record: every order ever accepted, every fill, every funding.

Kept complete so that an independent checker can audit duplicates (one client order id
placed twice while open, one trade booked twice) after a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from quantum_trader.domain.orders import Fill, Order
from quantum_trader.exchange.sim.book import WorkingOrder


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding settlement of one position (Binance income type FUNDING_FEE)."""

    symbol: str
    funding_time: int
    rate: Decimal
    mark_price: Decimal
    position_qty: Decimal  # signed
    amount: Decimal  # credited to the wallet; negative when paid


@dataclass(frozen=True, slots=True)
class HistorySnapshot:
    """Immutable copy of the record, comparable between runs (determinism checks)."""

    orders: tuple[Order, ...]
    fills: tuple[Fill, ...]
    funding: tuple[FundingPayment, ...]


@dataclass(slots=True)
class History:
    orders: list[WorkingOrder] = field(default_factory=list)
    by_exchange_id: dict[str, WorkingOrder] = field(default_factory=dict)
    # (symbol, client id) -> the latest order with that id; earlier ones stay in ``orders``.
    by_client_id: dict[tuple[str, str], WorkingOrder] = field(default_factory=dict)
    open_client_ids: set[str] = field(default_factory=set)
    fills: list[Fill] = field(default_factory=list)
    fills_by_symbol: dict[str, list[Fill]] = field(default_factory=dict)
    funding: list[FundingPayment] = field(default_factory=list)

    def record_order(self, order: WorkingOrder) -> None:
        self.orders.append(order)
        self.by_exchange_id[order.exchange_order_id] = order
        self.by_client_id[(order.symbol, order.client_order_id)] = order
        if order.is_open:
            self.open_client_ids.add(order.client_order_id)

    def order_closed(self, order: WorkingOrder) -> None:
        """A final order frees its client id for reuse (Binance: unique among open orders)."""
        self.open_client_ids.discard(order.client_order_id)

    def record_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.fills_by_symbol.setdefault(fill.symbol, []).append(fill)

    def snapshot(self) -> HistorySnapshot:
        return HistorySnapshot(
            orders=tuple(o.snapshot() for o in self.orders),
            fills=tuple(self.fills),
            funding=tuple(self.funding),
        )
