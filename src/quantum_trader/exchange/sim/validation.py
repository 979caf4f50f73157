"""Order admission checks, in the order Binance applies them, raising its error codes.

Pure functions of the request, the instrument and the account's current exposure; the
core calls them before an order exists, so a rejected request leaves no trace.
"""

from __future__ import annotations

from decimal import Decimal

import quantum_trader.exchange.sim.errors as errors
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO, is_multiple
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.sim.account import initial_margin


def decimals(value: Decimal) -> int:
    """Number of decimal places ``value`` really needs (trailing zeros do not count)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def check_price(value: Decimal, instrument: Instrument) -> None:
    """PRICE_FILTER and pricePrecision for a limit or stop price."""
    if decimals(value) > instrument.price_precision:
        raise errors.rejected(errors.PRECISION)
    if value < instrument.min_price:
        raise errors.rejected(errors.PRICE_BELOW_MIN)
    if value > instrument.max_price:
        raise errors.rejected(errors.FILTER_FAILURE, filter="PRICE_FILTER")
    if not is_multiple(value - instrument.min_price, instrument.tick_size):
        raise errors.rejected(errors.PRICE_NOT_ON_TICK)


def check_quantity(value: Decimal, instrument: Instrument, *, market: bool) -> None:
    """LOT_SIZE (or MARKET_LOT_SIZE for orders that execute as market) and precision."""
    step = instrument.market_step_size if market else instrument.step_size
    low = instrument.market_min_qty if market else instrument.min_qty
    high = instrument.market_max_qty if market else instrument.max_qty
    if value <= 0:
        raise errors.rejected(errors.QTY_NOT_POSITIVE)
    if decimals(value) > instrument.quantity_precision or not is_multiple(value, step):
        raise errors.rejected(errors.PRECISION)
    if value < low:
        raise errors.rejected(errors.QTY_BELOW_MIN)
    if value > high:
        raise errors.rejected(errors.QTY_ABOVE_MAX)


def check_shape(request: OrderRequest, instrument: Instrument) -> None:
    """Parameters, precision and filters: everything that needs no market state."""
    kind = request.type
    if request.close_position:
        if not kind.is_conditional:
            raise errors.rejected(errors.PARAM_NOT_REQUIRED, param="closePosition")
        if request.reduce_only:
            raise errors.rejected(errors.PARAM_NOT_REQUIRED, param="reduceOnly")
        if request.quantity:
            raise errors.rejected(errors.PARAM_NOT_REQUIRED, param="quantity")
    elif request.quantity is None:
        raise errors.rejected(errors.MANDATORY_PARAM, param="quantity")
    if kind is OrderType.LIMIT:
        if request.price is None:
            raise errors.rejected(errors.MANDATORY_PARAM, param="price")
        check_price(request.price, instrument)
    elif request.price is not None:
        raise errors.rejected(errors.PARAM_NOT_REQUIRED, param="price")
    if kind.is_conditional:
        if request.stop_price is None:
            raise errors.rejected(errors.MANDATORY_PARAM, param="stopPrice")
        check_price(request.stop_price, instrument)
    if request.quantity is not None and not request.close_position:
        check_quantity(request.quantity, instrument, market=kind is not OrderType.LIMIT)


def check_min_notional(
    request: OrderRequest, instrument: Instrument, reference_price: Decimal
) -> None:
    """MIN_NOTIONAL: reduce-only and closePosition orders are exempt, as on Binance."""
    if request.reduce_only or request.close_position or request.quantity is None:
        return
    if request.quantity * reference_price < instrument.min_notional:
        raise errors.rejected(errors.MIN_NOTIONAL, notional=instrument.min_notional)


def check_reduce_only(request: OrderRequest, position_qty: Decimal) -> None:
    """A reduce-only order must face an open position of the opposite direction."""
    if not request.reduce_only:
        return
    sign = 1 if request.side is Side.BUY else -1
    if not position_qty or (position_qty > 0) == (sign > 0):
        raise errors.rejected(errors.REDUCE_ONLY_REJECTED)


def would_trigger(kind: OrderType, side: Side, stop: Decimal, price: Decimal) -> bool:
    """True when a conditional order's trigger condition already holds at ``price``."""
    rises = (kind is OrderType.STOP_MARKET) == (side is Side.BUY)
    return price >= stop if rises else price <= stop


def check_not_triggered(request: OrderRequest, price: Decimal) -> None:
    assert request.stop_price is not None
    if price > 0 and would_trigger(request.type, request.side, request.stop_price, price):
        raise errors.rejected(errors.WOULD_IMMEDIATELY_TRIGGER)


def opening_qty(position_qty: Decimal, signed_qty: Decimal) -> Decimal:
    """How much of a signed order adds exposure (the part beyond closing the position)."""
    after = position_qty + signed_qty
    if position_qty and (after > 0) != (position_qty > 0):
        return abs(after)
    return max(ZERO, abs(after) - abs(position_qty))


def check_exposure(
    instrument: Instrument,
    *,
    position_qty: Decimal,
    signed_qty: Decimal,
    price: Decimal,
    leverage: int,
    available: Decimal,
) -> None:
    """-2027 above the leverage tier's notional cap, -2019 without the initial margin."""
    adding = opening_qty(position_qty, signed_qty)
    if not adding:
        return
    if abs(position_qty + signed_qty) * price > instrument.max_notional_at(leverage):
        raise errors.rejected(errors.MAX_POSITION_AT_LEVERAGE)
    if initial_margin(adding * price, leverage) > available:
        raise errors.rejected(errors.MARGIN_INSUFFICIENT)
