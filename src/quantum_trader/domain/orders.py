"""Orders, fills, positions and balances as the exchange reports them.

These are facts from the venue (the source of truth), not our intentions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from quantum_trader.domain.enums import (
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from quantum_trader.domain.money import ZERO


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What we ask the exchange to do. ``client_order_id`` is ours and deterministic."""

    symbol: str
    side: Side
    type: OrderType
    client_order_id: str
    quantity: Decimal | None = None  # None only with close_position
    price: Decimal | None = None  # LIMIT
    stop_price: Decimal | None = None  # conditional trigger
    reduce_only: bool = False
    close_position: bool = False
    working_type: WorkingType = WorkingType.MARK_PRICE
    time_in_force: TimeInForce = TimeInForce.GTC


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the exchange knows it."""

    symbol: str
    side: Side
    type: OrderType
    status: OrderStatus
    client_order_id: str
    exchange_order_id: str
    quantity: Decimal
    executed_qty: Decimal
    avg_price: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    close_position: bool
    working_type: WorkingType
    time_in_force: TimeInForce
    created_at: int  # ms since epoch, exchange clock
    updated_at: int


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (a Binance 'trade'). ``trade_id`` is unique per symbol."""

    symbol: str
    trade_id: str
    exchange_order_id: str
    client_order_id: str
    side: Side
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    maker: bool
    reduce_only: bool
    ts: int  # ms since epoch


@dataclass(frozen=True, slots=True)
class PositionState:
    """A net one-way position on the exchange. ``qty`` is always positive; side gives sign."""

    symbol: str
    side: PositionSide
    qty: Decimal
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    leverage: int
    liquidation_price: Decimal
    updated_at: int

    @property
    def signed_qty(self) -> Decimal:
        return self.qty * self.side.sign

    @property
    def notional(self) -> Decimal:
        return self.qty * self.mark_price


@dataclass(frozen=True, slots=True)
class AccountState:
    """Cross-margin USDT wallet as Binance's /fapi/v3/account reports it."""

    wallet_balance: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    initial_margin: Decimal
    maint_margin: Decimal
    available_balance: Decimal
    positions: tuple[PositionState, ...] = field(default=())
    updated_at: int = 0

    @property
    def equity(self) -> Decimal:
        return self.margin_balance

    @property
    def margin_utilisation(self) -> Decimal:
        return self.initial_margin / self.margin_balance if self.margin_balance > ZERO else ZERO
