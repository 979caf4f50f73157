"""Modifying a resting limit order in place (Binance's PUT /fapi/v1/order).

The order keeps its ids and loses its queue priority. The new price and quantity pass
the same filters a new order does; a refused amendment leaves the order as it was.
As on Binance the amendment cancels the order instead when the new quantity is not
above what has executed already, and expires a post-only (GTX) order whose new price
would execute at once; any other order priced through the market executes as taker.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import quantum_trader.exchange.sim.errors as errors
from quantum_trader.domain.enums import OrderStatus, OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.sim.book import WorkingOrder
from quantum_trader.exchange.sim.execution import available_balance, emit_order, finish
from quantum_trader.exchange.sim.liquidation import check_liquidation
from quantum_trader.exchange.sim.matching import (
    check_continuous_shape,
    cross_limit_now,
    crosses_market,
)
from quantum_trader.exchange.sim.state import SimState
from quantum_trader.exchange.sim.validation import (
    check_exposure,
    check_min_notional,
    check_shape,
)


def amend_order(state: SimState, order: WorkingOrder, quantity: Decimal, price: Decimal) -> None:
    """Give the open LIMIT ``order`` a new ``quantity`` and ``price`` (or refuse)."""
    if not order.is_open:
        raise errors.rejected(errors.NO_SUCH_ORDER)
    if order.type is not OrderType.LIMIT:
        raise errors.rejected(errors.ONLY_LIMIT_MODIFIABLE)
    if quantity == order.quantity and price == order.price:
        raise errors.rejected(errors.NO_NEED_TO_MODIFY)
    book = state.books[order.symbol]
    request = OrderRequest(
        order.symbol,
        order.side,
        OrderType.LIMIT,
        order.client_order_id,
        quantity,
        price,
        reduce_only=order.reduce_only,
        time_in_force=order.time_in_force,
    )
    if book.rules.continuous:
        check_continuous_shape(request)
    else:
        check_shape(request, book.instrument)
    if quantity <= order.executed_qty:
        finish(state, order, OrderStatus.CANCELED)
        return
    remaining = replace(request, quantity=quantity - order.executed_qty)
    if not book.rules.continuous:
        check_min_notional(remaining, book.instrument, price)
    if order in book.resting:  # the margin it holds now is not counted against its new size
        book.remove(order)
    if not order.reduce_only:
        assert remaining.quantity is not None
        try:
            check_exposure(
                book.instrument,
                position_qty=state.account.position_qty(order.symbol),
                signed_qty=remaining.quantity if order.side is Side.BUY else -remaining.quantity,
                price=price,
                leverage=state.account.leverage_of(order.symbol),
                available=available_balance(state),
            )
        except Exception:
            book.add(order)
            raise
    order.quantity, order.price = quantity, price
    order._level = price
    order.updated_at = state.now_ms
    state.next_order_id()  # a fresh arrival number: the amended order queues last
    order.seq = state.order_seq
    emit_order(state, order)
    if crosses_market(order.side, price, book):
        if order.time_in_force == "GTX":
            finish(state, order, OrderStatus.EXPIRED)
        else:
            cross_limit_now(state, order)
    else:
        book.add(order)
    check_liquidation(state)
