"""R multiples: profit measured in units of the initial risk, one convention for both sides.

    risk_per_unit = |entry − initial_stop|                       (USDT per base unit)
    R             = sign × (price − entry) ÷ risk_per_unit        (sign +1 long, −1 short)
    R_net         = (sign × (price − entry) − fees_per_unit) ÷ risk_per_unit

``fees_per_unit`` is the entry fee per unit (the fees actually paid when known, else
taker rate × entry) plus the exit fee a market close would pay (taker rate × price).
"""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.money import ZERO


def risk_per_unit(entry: Decimal, initial_stop: Decimal) -> Decimal:
    risk = abs(entry - initial_stop)
    if risk <= ZERO:
        raise ValueError("initial_stop must differ from entry_price")
    return risk


def r_multiple(
    side: PositionSide, entry: Decimal, initial_stop: Decimal, price: Decimal
) -> Decimal:
    """Signed R: +1 means one initial risk in profit, −1 means at the initial stop."""
    return side.sign * (price - entry) / risk_per_unit(entry, initial_stop)


def fees_per_unit(
    entry: Decimal,
    price: Decimal,
    taker_fee_rate: Decimal,
    entry_fee_per_unit: Decimal | None = None,
) -> Decimal:
    entry_fee = entry_fee_per_unit if entry_fee_per_unit is not None else taker_fee_rate * entry
    return entry_fee + taker_fee_rate * price


def r_net(
    side: PositionSide,
    entry: Decimal,
    initial_stop: Decimal,
    price: Decimal,
    taker_fee_rate: Decimal,
    entry_fee_per_unit: Decimal | None = None,
) -> Decimal:
    """R after the round-trip fees a market exit at ``price`` would leave behind."""
    fees = fees_per_unit(entry, price, taker_fee_rate, entry_fee_per_unit)
    return (side.sign * (price - entry) - fees) / risk_per_unit(entry, initial_stop)


def break_even_price(side: PositionSide, entry: Decimal, taker_fee_rate: Decimal) -> Decimal:
    """Exit price at which a round trip paying taker fees on both legs nets exactly zero.

    Long:  P − e − t·e − t·P = 0  →  P = e(1 + t)/(1 − t)
    Short: e − P − t·e − t·P = 0  →  P = e(1 − t)/(1 + t)
    """
    one = Decimal(1)
    if side is PositionSide.LONG:
        return entry * (one + taker_fee_rate) / (one - taker_fee_rate)
    return entry * (one - taker_fee_rate) / (one + taker_fee_rate)
