"""Validation of strategy parameters: each check names the parameter it rejects.

Strategies come from configuration files and the CLI (``get_strategy(name, **params)``),
so a typo such as ``stop_atr=0`` must fail at construction with a message that says
which knob is wrong, not produce a strategy that never trades or sizes to infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def positive_int(name: str, value: object) -> int:
    """An integer >= 1 (booleans are not periods)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"parameter {name!r} must be a positive integer, got {value!r}")
    return value


def _number(name: str, value: object, requirement: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"parameter {name!r} must be {requirement}, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"parameter {name!r} must be {requirement}, got {value!r}")
    return number


def positive_float(name: str, value: object) -> float:
    """A finite number > 0."""
    number = _number(name, value, "a positive number")
    if number <= 0.0:
        raise ValueError(f"parameter {name!r} must be a positive number, got {value!r}")
    return number


def non_negative_float(name: str, value: object) -> float:
    """A finite number >= 0 (0 typically switches a filter off)."""
    number = _number(name, value, "a non-negative number")
    if number < 0.0:
        raise ValueError(f"parameter {name!r} must be a non-negative number, got {value!r}")
    return number


def optional_positive_float(name: str, value: object) -> float | None:
    """None (feature off) or a finite number > 0."""
    return None if value is None else positive_float(name, value)


def open_fraction(name: str, value: object) -> float:
    """A fraction strictly between 0 and 1 (a 100 % stop is no stop)."""
    number = _number(name, value, "a fraction between 0 and 1")
    if not 0.0 < number < 1.0:
        raise ValueError(f"parameter {name!r} must be between 0 and 1 (exclusive), got {value!r}")
    return number


def in_range(name: str, value: object, low: float, high: float) -> float:
    """A finite number within [low, high]."""
    number = _number(name, value, f"a number in [{low}, {high}]")
    if not low <= number <= high:
        raise ValueError(f"parameter {name!r} must be in [{low}, {high}], got {value!r}")
    return number


def ordered(lower_name: str, lower: float, upper_name: str, upper: float) -> None:
    """Two parameters that only make sense in order (fast < slow, oversold < overbought)."""
    if not lower < upper:
        raise ValueError(
            f"parameter {lower_name!r} ({lower}) must be below {upper_name!r} ({upper})"
        )


@dataclass(frozen=True, slots=True)
class ParamRange:
    """Where a hyperparameter search may take a parameter: ``low`` .. ``high``, as whole
    numbers (``kind`` "int"), evenly ("float") or on a log scale ("log")."""

    low: float
    high: float
    kind: str = "float"

    def __post_init__(self) -> None:
        if self.kind not in RANGE_KINDS:
            raise ValueError(
                f"range kind must be one of {', '.join(RANGE_KINDS)}, got {self.kind!r}"
            )
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"range needs low < high, got {self.low}:{self.high}")
        if self.kind == "log" and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.kind == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ValueError(f"an int range needs whole bounds, got {self.low}:{self.high}")

    def describe(self) -> str:
        bounds = f"{self.low:g}:{self.high:g}"
        return bounds if self.kind == "float" else f"{bounds}:{self.kind}"


RANGE_KINDS = ("float", "int", "log")
