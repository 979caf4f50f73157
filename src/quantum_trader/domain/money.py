"""Exact money arithmetic: Decimal parsing and rounding to an instrument's tick and step.

Prices and quantities never travel as floats: a float such as 33892.56058295204 is
exactly the kind of value an exchange rejects (-1111 precision).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)


class MoneyError(ValueError):
    """A value that cannot be a price or a quantity."""


def to_decimal(value: object, *, field: str = "value") -> Decimal:
    """Parse a str / int / Decimal into a finite Decimal; floats go through repr (shortest form)."""
    if isinstance(value, bool):
        raise MoneyError(f"{field}: expected a decimal, got a boolean")
    try:
        if isinstance(value, Decimal):
            result = value
        elif isinstance(value, float):
            result = Decimal(repr(value))
        elif isinstance(value, int | str):
            result = Decimal(value)
        else:
            raise MoneyError(f"{field}: expected a decimal, got {type(value).__name__}")
    except InvalidOperation as exc:
        raise MoneyError(f"{field}: {value!r} is not a decimal number") from exc
    if not result.is_finite():
        raise MoneyError(f"{field}: {value!r} is not finite")
    return result


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` not above ``value`` (quantities: never oversize)."""
    if step <= 0:
        raise MoneyError("step must be positive")
    return ((value / step).to_integral_value(rounding=ROUND_DOWN) * step).quantize(step)


def round_up(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` not below ``value``."""
    if step <= 0:
        raise MoneyError("step must be positive")
    return ((value / step).to_integral_value(rounding=ROUND_UP) * step).quantize(step)


def round_nearest(value: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of ``step`` (banker's rounding on exact ties)."""
    if step <= 0:
        raise MoneyError("step must be positive")
    return ((value / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step).quantize(step)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is an exact multiple of ``step``."""
    return step > 0 and (value % step) == 0


def fmt(value: Decimal) -> str:
    """Plain decimal string without exponent, as Binance expects (1E+1 -> '10')."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
