"""Liquidation: when the margin balance falls below the maintenance margin, close everything.

Cross margin: one wallet backs every position, so the test is account-wide. A float
pre-check keeps the per-bar cost low; only when it cannot rule liquidation out with a
wide tolerance is the exact Decimal test run, so the decision itself is always exact.
"""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.domain.enums import OrderStatus, OrderType, Side, TimeInForce, WorkingType
from quantum_trader.exchange.sim.book import WorkingOrder
from quantum_trader.exchange.sim.execution import (
    REASON_LIQUIDATION,
    emit_account,
    emit_order,
    fill_order,
    finish,
    margin_totals,
)
from quantum_trader.exchange.sim.state import SimState

# Relative float tolerance: doubles carry ~1e-16, so 1e-9 of the sizes involved is ample.
_REL_TOLERANCE = 1e-9


def clearly_solvent(state: SimState) -> bool:
    """Float pre-check: True only when the account is safely above maintenance margin."""
    positions = state.account.positions
    if not positions:
        return True
    books = state.books
    margin_balance = float(state.account.wallet)
    maint = 0.0
    scale = abs(margin_balance)
    for symbol, position in positions.items():
        book = books[symbol]
        notional = position.qty_f * book.mark_f
        margin_balance += notional - position.cost_f
        size = abs(notional)
        maint += book.maint_f(size)
        scale += size + abs(position.cost_f)
    return margin_balance - maint > _REL_TOLERANCE * scale + 1e-6


def check_liquidation(state: SimState) -> bool:
    """Liquidate the account if it is below maintenance margin; True when it did."""
    if clearly_solvent(state):
        return False
    upnl, _, maint = margin_totals(state)
    if state.account.wallet + upnl >= maint:
        return False
    liquidate(state)
    return True


def liquidate(state: SimState) -> None:
    """Cancel every open order, then close every position at its mark price.

    The closing orders carry Binance's ``autoclose-`` client id prefix and pay the
    liquidation fee instead of the taker fee; a negative wallet afterwards is absorbed
    by the insurance fund (recorded in the ledger).
    """
    for book in state.books.values():
        for order in list(book.resting):
            finish(state, order, OrderStatus.CANCELED)
    for symbol, position in sorted(state.account.positions.items()):
        book = state.books[symbol]
        qty = abs(position.qty)
        state.liquidation_seq += 1
        order = WorkingOrder(
            symbol=symbol,
            side=Side.SELL if position.qty > 0 else Side.BUY,
            type=OrderType.MARKET,
            client_order_id=f"autoclose-{state.now_ms}-{state.liquidation_seq}",
            exchange_order_id=state.next_order_id(),
            quantity=qty,
            price=None,
            stop_price=None,
            reduce_only=True,
            close_position=False,
            working_type=WorkingType.CONTRACT_PRICE,
            time_in_force=TimeInForce.IOC,
            created_at=state.now_ms,
            seq=state.order_seq,
        )
        state.history.record_order(order)
        emit_order(state, order)
        price = book.instrument.round_price(book.mark)
        fill_order(state, order, qty, price, maker=False, fee=state.config.liquidation_fee_rate)
    state.account.cover_bankruptcy()
    emit_account(state, REASON_LIQUIDATION)


def margin_ratio(state: SimState) -> Decimal:
    """Maintenance margin / margin balance (Binance's account margin ratio)."""
    upnl, _, maint = margin_totals(state)
    balance = state.account.wallet + upnl
    return maint / balance if balance > 0 else Decimal(1)
