"""Field checks for the frozen config and input dataclasses of ``decide/``.

Each check raises ``ValueError`` naming the offending field, so a bad config fails at
startup with a message an operator can act on instead of trading on a silent default.
"""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.domain.money import ZERO


def require_positive(field: str, value: Decimal | int) -> None:
    if not value > 0:
        raise ValueError(f"{field} must be > 0, got {value}")


def require_non_negative(field: str, value: Decimal | int) -> None:
    if value < 0:
        raise ValueError(f"{field} must be >= 0, got {value}")


def require_fraction(field: str, value: Decimal, *, allow_zero: bool = False) -> None:
    """A ratio in (0, 1] (or [0, 1] with ``allow_zero``), e.g. a risk or loss percentage."""
    low_ok = value >= ZERO if allow_zero else value > ZERO
    if not (low_ok and value <= 1):
        bounds = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{field} must be in {bounds}, got {value}")


def require_finite(field: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{field} must be a finite Decimal, got {value!r}")


def require_non_empty(field: str, value: str) -> None:
    if not value:
        raise ValueError(f"{field} must not be empty")
