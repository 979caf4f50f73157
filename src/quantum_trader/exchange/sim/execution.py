"""Fills and their consequences: booking a trade, order status changes, account snapshots.

Every state change here appends the matching execution event, in the order Binance sends
them: ORDER_TRADE_UPDATE for the order first, then ACCOUNT_UPDATE for the wallet — unless
the core's event list is :class:`NoEvents` (a caller that reads fills from the history,
such as a backtest, is spared building a snapshot per change).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from quantum_trader.domain.enums import OrderStatus, OrderType, PositionSide, Side
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import AccountState, Fill, PositionState
from quantum_trader.exchange.interface import AccountUpdate, ExecutionEvent, OrderUpdate
from quantum_trader.exchange.sim.account import (
    initial_margin,
    liquidation_price,
    maintenance_margin,
)
from quantum_trader.exchange.sim.book import WorkingOrder
from quantum_trader.exchange.sim.state import SimState

REASON_ORDER = "ORDER"
REASON_FUNDING = "FUNDING_FEE"
REASON_LIQUIDATION = "LIQUIDATION"


class NoEvents(list[ExecutionEvent]):
    """An event list that keeps nothing: no execution event is built for it."""

    def append(self, event: ExecutionEvent) -> None:
        return None  # kept nowhere


def emit_order(state: SimState, order: WorkingOrder, fill: Fill | None = None) -> None:
    if type(state.events) is not NoEvents:
        state.events.append(OrderUpdate(order=order.snapshot(), fill=fill, ts=state.now_ms))


def emit_account(state: SimState, reason: str) -> None:
    if type(state.events) is not NoEvents:
        state.events.append(
            AccountUpdate(account=account_state(state), reason=reason, ts=state.now_ms)
        )


def finish(state: SimState, order: WorkingOrder, status: OrderStatus) -> None:
    """Move an open order to a final status (CANCELED / EXPIRED) and announce it."""
    order.status = status
    order.updated_at = state.now_ms
    book = state.books[order.symbol]
    if order in book.resting:
        book.remove(order)
    state.history.order_closed(order)
    emit_order(state, order)


def fill_order(
    state: SimState, order: WorkingOrder, qty: Decimal, price: Decimal, *, maker: bool, fee: Decimal
) -> Fill:
    """Book one execution of ``qty`` at ``price`` against the order and the position."""
    account = state.account
    signed = qty if order.side is Side.BUY else -qty
    position = account.position(order.symbol)
    realized = position.apply_fill(signed, price)
    if not position.qty:
        del account.positions[order.symbol]
    commission = price * qty * fee
    account.book_trade(realized, commission)
    order.executed_qty += qty
    order.cum_quote += price * qty
    order.updated_at = state.now_ms
    if order.executed_qty >= order.quantity:
        order.status = OrderStatus.FILLED
        book = state.books[order.symbol]
        if order in book.resting:
            book.remove(order)
        state.history.order_closed(order)
    else:
        order.status = OrderStatus.PARTIALLY_FILLED
    fill = Fill(
        symbol=order.symbol,
        trade_id=state.next_trade_id(),
        exchange_order_id=order.exchange_order_id,
        client_order_id=order.client_order_id,
        side=order.side,
        price=price,
        qty=qty,
        commission=commission,
        commission_asset="USDT",
        realized_pnl=realized,
        maker=maker,
        reduce_only=order.reduce_only or order.close_position,
        ts=state.now_ms,
    )
    state.history.record_fill(fill)
    emit_order(state, order, fill)
    return fill


def executable_qty(state: SimState, order: WorkingOrder) -> Decimal:
    """Quantity a triggered / resting order may execute now; zero means it must expire.

    reduceOnly never increases a position: it is cut to the position's size, and a
    closePosition order takes whatever is open on its side.
    """
    remaining = order.quantity - order.executed_qty
    if not (order.reduce_only or order.close_position):
        return remaining
    position_qty = state.account.position_qty(order.symbol)
    reduces = position_qty < 0 if order.side is Side.BUY else position_qty > 0
    if not reduces:
        return ZERO
    if order.close_position:
        return abs(position_qty)
    return min(remaining, abs(position_qty))


def after_fill(state: SimState, symbol: str) -> None:
    """A flat position cancels its closePosition orders (nothing left to close)."""
    if state.account.position_qty(symbol):
        return
    for order in list(state.books[symbol].resting):
        if order.close_position:
            finish(state, order, OrderStatus.CANCELED)


def margin_totals(state: SimState) -> tuple[Decimal, Decimal, Decimal]:
    """(unrealized PnL, initial margin incl. open orders, maintenance margin)."""
    account = state.account
    upnl = initial = maint = ZERO
    for symbol, position in account.positions.items():
        book = state.books[symbol]
        notional = position.qty * book.mark
        upnl += position.unrealized(book.mark)
        initial += initial_margin(notional, account.leverage_of(symbol))
        maint += maintenance_margin(book.instrument, notional)
    return upnl, initial + open_order_margin(state), maint


def open_order_margin(state: SimState) -> Decimal:
    """Margin Binance reserves for resting limit orders that would add exposure."""
    total = ZERO
    for symbol, book in state.books.items():
        for order in book.resting:
            if order.type is OrderType.LIMIT and not order.reduce_only:
                assert order.price is not None
                notional = (order.quantity - order.executed_qty) * order.price
                total += initial_margin(notional, state.account.leverage_of(symbol))
    return total


def available_balance(state: SimState) -> Decimal:
    upnl, initial, _ = margin_totals(state)
    return state.account.wallet + upnl - initial


class MarginSummary(NamedTuple):
    """The figures of ``account_state`` an entry decision reads, and the gross notional."""

    margin_balance: Decimal
    available_balance: Decimal
    initial_margin: Decimal
    gross_notional: Decimal  # Σ |qty| × |mark| over the open positions


def margin_summary(state: SimState) -> MarginSummary:
    """``account_state``'s totals without the per-position detail (no liquidation prices)."""
    upnl, initial, _ = margin_totals(state)
    balance = state.account.wallet + upnl
    gross = ZERO
    for symbol, position in sorted(state.account.positions.items()):  # as account_state
        gross += abs(position.qty) * abs(state.books[symbol].mark)
    return MarginSummary(balance, balance - initial, initial, gross)


def margin_floats(state: SimState) -> tuple[float, dict[str, tuple[float, float]]]:
    """(wallet, {symbol: (signed qty, signed cost)}) as floats, for solvency bounds."""
    account = state.account
    return float(account.wallet), {s: (p.qty_f, p.cost_f) for s, p in account.positions.items()}


def account_state(state: SimState) -> AccountState:
    account = state.account
    upnl, initial, maint = margin_totals(state)
    margin_balance = account.wallet + upnl
    positions = []
    for symbol, position in sorted(account.positions.items()):
        book = state.books[symbol]
        own_upnl = position.unrealized(book.mark)
        own_maint = maintenance_margin(book.instrument, position.qty * book.mark)
        other_equity = margin_balance - own_upnl - (maint - own_maint)
        positions.append(
            PositionState(
                symbol=symbol,
                side=PositionSide.LONG if position.qty > 0 else PositionSide.SHORT,
                qty=abs(position.qty),
                entry_price=position.entry_price,
                mark_price=book.mark,
                unrealized_pnl=own_upnl,
                leverage=account.leverage_of(symbol),
                liquidation_price=liquidation_price(
                    book.instrument, position, book.mark, other_equity
                ),
                updated_at=state.now_ms,
            )
        )
    return AccountState(
        wallet_balance=account.wallet,
        unrealized_pnl=upnl,
        margin_balance=margin_balance,
        initial_margin=initial,
        maint_margin=maint,
        available_balance=margin_balance - initial,
        positions=tuple(positions),
        updated_at=state.now_ms,
    )
