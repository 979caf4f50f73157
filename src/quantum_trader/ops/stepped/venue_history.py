"""The exchange's own record read back: ``GET /admin/history`` returns every order and
fill of the matching core as JSON, which these turn into domain objects for the checker;
and the harness's own read of the account, straight from the core."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from quantum_trader.clock import Clock
from quantum_trader.domain.enums import OrderStatus, OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.orders import AccountState, Fill, Order
from quantum_trader.exchange.sim import MatchingCore


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def order_from_json(raw: dict[str, Any]) -> Order:
    return Order(
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        type=OrderType(raw["type"]),
        status=OrderStatus(raw["status"]),
        client_order_id=raw["client_order_id"],
        exchange_order_id=raw["exchange_order_id"],
        quantity=Decimal(raw["quantity"]),
        executed_qty=Decimal(raw["executed_qty"]),
        avg_price=Decimal(raw["avg_price"]),
        price=_dec(raw["price"]),
        stop_price=_dec(raw["stop_price"]),
        reduce_only=bool(raw["reduce_only"]),
        close_position=bool(raw["close_position"]),
        working_type=WorkingType(raw["working_type"]),
        time_in_force=TimeInForce(raw["time_in_force"]),
        created_at=int(raw["created_at"]),
        updated_at=int(raw["updated_at"]),
    )


def fill_from_json(raw: dict[str, Any]) -> Fill:
    return Fill(
        symbol=raw["symbol"],
        trade_id=str(raw["trade_id"]),
        exchange_order_id=raw["exchange_order_id"],
        client_order_id=raw["client_order_id"],
        side=Side(raw["side"]),
        price=Decimal(raw["price"]),
        qty=Decimal(raw["qty"]),
        commission=Decimal(raw["commission"]),
        commission_asset=raw["commission_asset"],
        realized_pnl=Decimal(raw["realized_pnl"]),
        maker=bool(raw["maker"]),
        reduce_only=bool(raw["reduce_only"]),
        ts=int(raw["ts"]),
    )


@dataclass(frozen=True, slots=True)
class CoreAccount:
    """The account straight from a matching core at the clock's time (a harness that
    owns the simulated exchange reads it so, never through a request's injected faults)."""

    core: MatchingCore
    clock: Clock

    async def account(self) -> AccountState:
        self.core.advance_time(self.clock.now_ms())
        return self.core.account()
