"""Every order this system sends, built in one place for every mode.

The apply layer, the protective stops, the supervisor's panic flatten and the backtest
all send their orders through these functions, so an order's type, side, flags and client
id (:mod:`quantum_trader.domain.order_ids`) are the same in a backtest and live:

* ``entry_order`` — the plan's MARKET entry, its id from the plan id (a redelivered plan
  finds its order instead of placing a second one);
* ``stop_order`` — a reduce-only STOP_MARKET on the mark price for the whole position,
  its id from position, price, quantity and the ledger version (new for every placement
  after a recorded one, the same for a retry after a crash before it was recorded);
* ``target_order`` — a reduce-only TAKE_PROFIT_MARKET (strategies with fixed exits);
* ``exit_order`` — a reduce-only MARKET exit for the quantity ``close_qty_for`` gives,
  its id from the exit plan's id;
* ``unprotected_exit`` — the market exit of a position whose stop the exchange refused;
* ``emergency_stop`` / ``emergency_exit`` — protection straight from a fill the store
  could not take; ``panic_exit`` — the supervisor's last-resort flatten.
"""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.enums import OrderType, PositionSide, WorkingType
from quantum_trader.domain.order_ids import ENTRY, EXIT, PANIC, STOP, TARGET, client_order_id
from quantum_trader.domain.orders import OrderRequest


def entry_order(plan_id: str, symbol: str, side: PositionSide, qty: Decimal) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side.entry_side,
        type=OrderType.MARKET,
        client_order_id=entry_order_id(plan_id),
        quantity=qty,
    )


def entry_order_id(plan_id: str) -> str:
    return client_order_id(ENTRY, plan_id)


def stop_order(position: LedgerPosition, stop_price: Decimal) -> OrderRequest:
    coid = client_order_id(STOP, position.position_id, stop_price, position.qty, position.version)
    return _reducing(
        position.symbol, position.side, OrderType.STOP_MARKET, coid, position.qty, stop_price
    )


def target_order(position: LedgerPosition, target_price: Decimal) -> OrderRequest:
    coid = client_order_id(TARGET, position.position_id, target_price, position.qty)
    return _reducing(
        position.symbol,
        position.side,
        OrderType.TAKE_PROFIT_MARKET,
        coid,
        position.qty,
        target_price,
    )


def exit_order(plan_id: str, symbol: str, side: PositionSide, qty: Decimal) -> OrderRequest:
    """The market exit of ``side``'s position that the exit plan ``plan_id`` decided."""
    return _reducing(symbol, side, OrderType.MARKET, exit_order_id(plan_id), qty)


def exit_order_id(plan_id: str) -> str:
    return client_order_id(EXIT, plan_id)


def unprotected_exit(position: LedgerPosition) -> OrderRequest:
    coid = client_order_id(EXIT, position.position_id, "stop-refused", position.qty)
    return _reducing(position.symbol, position.side, OrderType.MARKET, coid, position.qty)


def emergency_stop(
    symbol: str, side: PositionSide, qty: Decimal, stop_price: Decimal, tag: str
) -> OrderRequest:
    coid = client_order_id(STOP, "emergency", tag)
    return _reducing(symbol, side, OrderType.STOP_MARKET, coid, qty, stop_price)


def emergency_exit(symbol: str, side: PositionSide, qty: Decimal, tag: str) -> OrderRequest:
    return _reducing(symbol, side, OrderType.MARKET, client_order_id(EXIT, "emergency", tag), qty)


def panic_exit(symbol: str, side: PositionSide, qty: Decimal, now_ms: int) -> OrderRequest:
    return _reducing(symbol, side, OrderType.MARKET, client_order_id(PANIC, symbol, now_ms), qty)


def _reducing(
    symbol: str,
    side: PositionSide,
    kind: OrderType,
    coid: str,
    qty: Decimal,
    trigger: Decimal | None = None,
) -> OrderRequest:
    """A reduce-only order against ``side``'s position (triggers on the mark price)."""
    return OrderRequest(
        symbol=symbol,
        side=side.exit_side,
        type=kind,
        client_order_id=coid,
        quantity=qty,
        stop_price=trigger,
        reduce_only=True,
        working_type=WorkingType.MARK_PRICE,
    )
