"""Matching: market fills, immediate limit crosses, and sweeping resting orders as price moves.

A move of a price source from ``start`` to ``end`` acts on every resting order whose
level it reaches, in the order the price reaches them (nearest level first, then
arrival). A continuous move executes a triggered stop at its stop price (the price
passes through it); a gap (a jump, e.g. the bar's open) executes at the price after the
jump, as a real stop does when the market gaps through it.

:class:`~quantum_trader.exchange.sim.book.MatchingRules` are run-level settings of the
core: the defaults are Binance's; the idealised venue of bench/REFERENCE_STRATEGY.md is
``continuous`` quantities and prices with the ``LEVELS`` bar model.
"""

from __future__ import annotations

from decimal import Decimal

import quantum_trader.exchange.sim.errors as errors
from quantum_trader.domain.enums import OrderStatus, OrderType, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.interface import OrderRejected
from quantum_trader.exchange.sim.book import (
    BINANCE_RULES,
    CONDITIONAL,
    BarModel,
    MatchingRules,
    SymbolBook,
    WorkingOrder,
    crossed,
)
from quantum_trader.exchange.sim.execution import (
    REASON_ORDER,
    after_fill,
    available_balance,
    emit_account,
    executable_qty,
    fill_order,
    finish,
)
from quantum_trader.exchange.sim.liquidation import check_liquidation, clearly_solvent
from quantum_trader.exchange.sim.state import SimState
from quantum_trader.exchange.sim.validation import check_exposure

__all__ = ["BINANCE_RULES", "BarModel", "MatchingRules", "quote", "sweep", "walk_levels"]


def set_prices(book: SymbolBook, last: Decimal | None, mark: Decimal | None) -> None:
    if last is not None:
        book.last = last
    if mark is not None:
        book.mark = mark
        book.mark_f = float(mark)


def reference_price(request: OrderRequest, book: SymbolBook) -> Decimal:
    """Price Binance values an order at for notional and margin checks."""
    if request.type is OrderType.LIMIT:
        assert request.price is not None
        return request.price
    if request.type in CONDITIONAL:
        assert request.stop_price is not None
        return request.stop_price
    return book.last


def crosses_market(side: Side, price: Decimal | None, book: SymbolBook) -> bool:
    """True when a limit at ``price`` would execute against the market right now."""
    assert price is not None
    if not book.has_price:
        return False
    return price >= book.last if side is Side.BUY else price <= book.last


def execute_market(state: SimState, order: WorkingOrder) -> bool:
    """Fill a MARKET or triggered conditional order as taker; False when it expired instead."""
    book = state.books[order.symbol]
    qty = executable_qty(state, order)
    if qty <= 0:
        finish(state, order, OrderStatus.EXPIRED)
        return False
    price = state.config.slippage.fill_price(
        book.instrument, book.last, order.side, qty, state.rng, on_tick=not book.rules.continuous
    )
    if order.type in CONDITIONAL and not (order.reduce_only or order.close_position):
        # A triggered stop is a new market order: margin is checked only now.
        try:
            check_exposure(
                book.instrument,
                position_qty=state.account.position_qty(order.symbol),
                signed_qty=qty if order.side is Side.BUY else -qty,
                price=price,
                leverage=state.account.leverage_of(order.symbol),
                available=available_balance(state),
            )
        except OrderRejected:
            finish(state, order, OrderStatus.EXPIRED)
            return False
    fill_order(state, order, qty, price, maker=False, fee=state.config.taker_fee)
    if order.is_open:  # reduce-only cut short: the rest can never execute
        finish(state, order, OrderStatus.EXPIRED)
    after_fill(state, order.symbol)
    emit_account(state, REASON_ORDER)
    return True


def cross_limit_now(state: SimState, order: WorkingOrder) -> None:
    """A limit order priced through the market executes at once as taker, capped at its price."""
    book = state.books[order.symbol]
    qty = executable_qty(state, order)
    if qty <= 0:
        finish(state, order, OrderStatus.EXPIRED)
        return
    assert order.price is not None
    price = state.config.slippage.fill_price(
        book.instrument, book.last, order.side, qty, state.rng, on_tick=not book.rules.continuous
    )
    price = min(price, order.price) if order.side is Side.BUY else max(price, order.price)
    fill_order(state, order, qty, price, maker=False, fee=state.config.taker_fee)
    if order.is_open:
        finish(state, order, OrderStatus.EXPIRED)
    after_fill(state, order.symbol)
    emit_account(state, REASON_ORDER)


def fill_resting_limit(state: SimState, order: WorkingOrder) -> None:
    """The market reached a resting limit: it fills at its own price as maker."""
    qty = executable_qty(state, order)
    if qty <= 0:
        finish(state, order, OrderStatus.EXPIRED)
        return
    fill_order(state, order, qty, order.level, maker=True, fee=state.config.maker_fee)
    if order.is_open:
        finish(state, order, OrderStatus.EXPIRED)
    after_fill(state, order.symbol)
    emit_account(state, REASON_ORDER)


def _between(level: Decimal, start: Decimal, end: Decimal) -> bool:
    return start <= level <= end if start <= end else end <= level <= start


def sweep(
    state: SimState,
    book: SymbolBook,
    end_last: Decimal | None,
    end_mark: Decimal | None,
    *,
    gap: bool,
    at_level: bool = False,
) -> None:
    """Move the last and/or mark price to their new values, acting on what they reach.

    ``at_level``: a triggered order fills at its own level whatever the move (``LEVELS``).
    """
    start_last, start_mark = book.last, book.mark
    hits: list[WorkingOrder] = []
    for order in book.resting:
        end = end_mark if order.on_mark else end_last
        if end is not None and crossed(order, end):
            hits.append(order)
    if hits:
        if end_last is not None:
            rising = end_last >= start_last
        else:
            rising = end_mark is not None and end_mark >= start_mark
        hits.sort(key=lambda o: (o.level if rising else -o.level, o.seq))
        for order in hits:
            if not order.is_open or order not in book.resting:
                continue  # an earlier fill in this move cancelled or expired it
            start = start_mark if order.on_mark else start_last
            end = end_mark if order.on_mark else end_last
            assert end is not None
            level = order.level
            exact = at_level or (not gap and _between(level, start, end))
            at = level if order.type is OrderType.LIMIT or exact else end
            moves = (start_last, end_last, start_mark, end_mark)
            last_at, mark_at = _prices_at(book, order.on_mark, at, moves)
            set_prices(book, last_at, mark_at)
            if order.type is OrderType.LIMIT:
                fill_resting_limit(state, order)
            else:
                execute_market(state, order)
    set_prices(book, end_last, end_mark)


def _prices_at(
    book: SymbolBook,
    on_mark: bool,
    at: Decimal,
    moves: tuple[Decimal, Decimal | None, Decimal, Decimal | None],
) -> tuple[Decimal | None, Decimal | None]:
    """(last, mark) when the price an order watches is at ``at`` during a move of
    ``moves`` = (start last, end last, start mark, end mark; an end None: that price
    does not move). Moving together (no basis), both are ``at``; moving apart, the other
    price is where a straight move of it has got to — the last price on the tick, since
    a triggered order fills at it."""
    start_last, end_last, start_mark, end_mark = moves
    if on_mark:
        start, end, other_start, other_end = start_mark, end_mark, start_last, end_last
    else:
        start, end, other_start, other_end = start_last, end_last, start_mark, end_mark
    if other_end is None:
        other = None
    elif other_start == start and other_end == end:
        other = at
    elif end is None or end == start:
        other = other_end
    else:
        other = other_start + (other_end - other_start) * ((at - start) / (end - start))
        if on_mark and not book.rules.continuous:
            other = book.instrument.round_price(other)
    return (other, at) if on_mark else (at, other)


def walk_levels(
    state: SimState, book: SymbolBook, high: Decimal, low: Decimal, close: Decimal
) -> None:
    """The ``LEVELS`` bar: low and high (the open position's losing side first), then close."""
    if high < book.up_min and low > book.down_max and solvent_through(state, book, high, low):
        book.last = book.mark = close
        book.mark_f = float(close)
        return
    position = state.account.positions.get(book.instrument.symbol)
    short = position is not None and position.qty < 0
    for price in (high, low, close) if short else (low, high, close):
        sweep(state, book, price, price, gap=False, at_level=True)
        check_liquidation(state)


def quote(state: SimState, book: SymbolBook, price: Decimal) -> None:
    """A ``LEVELS`` price between bars: market orders fill at it, resting orders wait."""
    set_prices(book, price, price)
    check_liquidation(state)


def solvent_through(state: SimState, book: SymbolBook, high: Decimal, low: Decimal) -> bool:
    """Float pre-check at the bar's worst price for this symbol's position, if any."""
    position = state.account.positions.get(book.instrument.symbol)
    if position is None:
        return True
    saved = book.mark_f
    book.mark_f = float(low) if position.qty_f > 0 else float(high)
    solvent = clearly_solvent(state)
    book.mark_f = saved
    return solvent


def check_continuous_shape(request: OrderRequest) -> None:
    """``check_shape``'s parameter rules without the instrument's filters (``continuous``):
    any positive quantity and price are accepted."""
    kind = request.type
    if request.close_position:
        if kind not in CONDITIONAL:
            raise errors.rejected(errors.PARAM_NOT_REQUIRED, param="closePosition")
        if request.reduce_only:
            raise errors.rejected(errors.PARAM_NOT_REQUIRED, param="reduceOnly")
        if request.quantity:
            raise errors.rejected(errors.PARAM_NOT_REQUIRED, param="quantity")
    elif request.quantity is None:
        raise errors.rejected(errors.MANDATORY_PARAM, param="quantity")
    elif request.quantity <= 0:
        raise errors.rejected(errors.QTY_NOT_POSITIVE)
    if kind is OrderType.LIMIT and request.price is None:
        raise errors.rejected(errors.MANDATORY_PARAM, param="price")
    if kind is not OrderType.LIMIT and request.price is not None:
        raise errors.rejected(errors.PARAM_NOT_REQUIRED, param="price")
    if kind in CONDITIONAL and request.stop_price is None:
        raise errors.rejected(errors.MANDATORY_PARAM, param="stopPrice")
    for price in (request.price, request.stop_price):
        if price is not None and not price > 0:
            raise errors.rejected(errors.PRICE_BELOW_MIN)
