"""Stateful kernels: lags, recursive averages and windows, over arrays and bar by bar.

Each kernel is a ``vector(x, param)`` function over a whole column and a tracker class
whose ``step(x)`` takes one value and returns the output for that position, in O(1) per
value with fixed memory (a ring of at most ``param + 1`` entries, or a few floats).

* The recursive ones (EMA, Wilder average, EWM standard deviation): the column form is
  the tracker's ``step`` written as one loop over the column (same expressions, same
  bits), compiled by numba (:mod:`~quantum_trader.features.column_loops`). A linear
  recurrence has no numpy primitive, and closed forms built from powers of ``1 − α``
  drift from the recursion (the reasoning of ``strategies/vector.py``, whose conventions
  these follow: ``α = 2/(span+1)`` seeded with the first value, Wilder's SMA seed then
  ``(avg·(p−1) + x)/p``).
* Windows and lags are numpy in the column form. ``window_sum`` subtracts prefix sums
  (``np.cumsum`` is a sequential sum, exactly what the tracker accumulates), so both forms
  give the same bits; max/min are exact. The prefix grows with the series, so a window
  sum carries about ``w`` roundings of the prefix's size: for a year of 1 m volumes that
  is ~1e-10 relative, far below any signal (and the same in both forms).

NaN conventions. Recursive kernels skip NaN: the output is NaN at that position and the
state does not move, so an input that is NaN while it warms up (a return at bar 0, MACD
before its slow EMA is ready) starts the recursion at its first real value. Recursive
outputs are NaN until ``span`` (``period``) real values went in. Windows cover the last
``w`` *positions*: NaN until ``w`` positions exist, and NaN while any of them is NaN.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from quantum_trader.data.bars import FloatArray
from quantum_trader.features.column_loops import ema_column, ewm_std_column, wilder_column

NAN = math.nan


class Tracker(Protocol):
    def step(self, x: float) -> float: ...


class Lag:
    """The value ``k`` positions back (NaN for the first ``k`` positions)."""

    __slots__ = ("_ring",)

    def __init__(self, k: int) -> None:
        self._ring: deque[float] = deque(maxlen=k)

    def step(self, x: float) -> float:
        ring = self._ring
        out = ring[0] if len(ring) == ring.maxlen else NAN
        ring.append(x)
        return out


class Ema:
    """Exponential moving average, ``α = 2/(span+1)``, seeded with the first real value."""

    __slots__ = ("_alpha", "_count", "_span", "_value")

    def __init__(self, span: int) -> None:
        self._span, self._alpha = span, 2.0 / (span + 1)
        self._count, self._value = 0, NAN

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        # prev + α(x − prev), as strategies.indicators.Ema: a flat input stays exactly flat.
        self._value = x if self._count == 0 else self._value + self._alpha * (x - self._value)
        self._count += 1
        return self._value if self._count >= self._span else NAN


class Wilder:
    """Wilder's average: the mean of the first ``period`` real values, then 1/period."""

    __slots__ = ("_count", "_period", "_seed", "_value")

    def __init__(self, period: int) -> None:
        self._period, self._count, self._seed, self._value = period, 0, 0.0, NAN

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        self._count += 1
        if self._count < self._period:
            self._seed = self._seed + x
            return NAN
        if self._count == self._period:
            self._value = (self._seed + x) / self._period
        else:
            self._value = (self._value * (self._period - 1) + x) / self._period
        return self._value


class EwmStd:
    """Exponentially weighted standard deviation around the EMA of the same span.

    West's recursion: ``d = x − m``, ``m ← m + α·d``, ``v ← (1 − α)·(v + α·d²)``, seeded
    with ``m = x₀, v = 0``; the mean is bit-identical to :class:`Ema` of the same span.
    """

    __slots__ = ("_alpha", "_count", "_mean", "_span", "_var")

    def __init__(self, span: int) -> None:
        self._span, self._alpha = span, 2.0 / (span + 1)
        self._count, self._mean, self._var = 0, NAN, 0.0

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        if self._count == 0:
            self._mean = x
        else:
            d = x - self._mean
            self._mean = self._mean + self._alpha * d
            self._var = (1.0 - self._alpha) * (self._var + self._alpha * d * d)
        self._count += 1
        return math.sqrt(self._var) if self._count >= self._span else NAN


class WindowSum:
    """Sum of the last ``w`` positions as a difference of running prefix sums."""

    __slots__ = ("_nan_prefixes", "_nans", "_prefixes", "_total", "_w")

    def __init__(self, w: int) -> None:
        self._w, self._total, self._nans = w, 0.0, 0
        self._prefixes: deque[float] = deque([0.0], maxlen=w + 1)
        self._nan_prefixes: deque[int] = deque([0], maxlen=w + 1)

    def step(self, x: float) -> float:
        if x != x:
            self._nans += 1
        else:
            self._total = self._total + x
        self._prefixes.append(self._total)
        self._nan_prefixes.append(self._nans)
        if len(self._prefixes) <= self._w or self._nans > self._nan_prefixes[0]:
            return NAN
        return self._total - self._prefixes[0]


class _WindowExtreme:
    """Max (``sign`` 1) or min (``sign`` −1) of the last ``w`` positions: a monotonic deque."""

    __slots__ = ("_candidates", "_last_nan", "_position", "_sign", "_w")

    def __init__(self, w: int, sign: float) -> None:
        self._w, self._sign, self._position, self._last_nan = w, sign, -1, -(2**62)
        self._candidates: deque[tuple[int, float]] = deque()  # (position, sign·value)

    def step(self, x: float) -> float:
        self._position += 1
        position, candidates = self._position, self._candidates
        if x != x:
            self._last_nan = position
        else:
            key = self._sign * x
            while candidates and candidates[-1][1] <= key:
                candidates.pop()
            candidates.append((position, key))
        while candidates and candidates[0][0] <= position - self._w:
            candidates.popleft()
        if position < self._w - 1 or self._last_nan > position - self._w:
            return NAN
        return self._sign * candidates[0][1]


class WindowMax(_WindowExtreme):
    __slots__ = ()

    def __init__(self, w: int) -> None:
        super().__init__(w, 1.0)


class WindowMin(_WindowExtreme):
    __slots__ = ()

    def __init__(self, w: int) -> None:
        super().__init__(w, -1.0)


def _lag_v(x: FloatArray, k: int) -> FloatArray:
    out = np.full(x.size, NAN)
    if x.size > k:
        out[k:] = x[: x.size - k]
    return out


def _window_sum_v(x: FloatArray, w: int) -> FloatArray:
    nan = np.isnan(x)
    prefix = np.concatenate(([0.0], np.cumsum(np.where(nan, 0.0, x))))
    nans = np.concatenate(([0], np.cumsum(nan)))
    out = np.full(x.size, NAN)
    if x.size >= w:
        sums = prefix[w:] - prefix[:-w]
        out[w - 1 :] = np.where(nans[w:] > nans[:-w], NAN, sums)
    return out


def _window_v(reduce: Callable[..., FloatArray]) -> Callable[[FloatArray, int], FloatArray]:
    def apply(x: FloatArray, w: int) -> FloatArray:
        out = np.full(x.size, NAN)
        if x.size >= w:
            out[w - 1 :] = reduce(np.lib.stride_tricks.sliding_window_view(x, w), axis=1)
        return out

    return apply


@dataclass(frozen=True, slots=True)
class Kernel:
    """A stateful operation with one integer parameter, in its two forms."""

    vector: Callable[[FloatArray, int], FloatArray]
    tracker: Callable[[int], Tracker]


KERNELS: dict[str, Kernel] = {
    "lag": Kernel(_lag_v, Lag),
    "ema": Kernel(ema_column, Ema),
    "wilder": Kernel(wilder_column, Wilder),
    "ewm_std": Kernel(ewm_std_column, EwmStd),
    "window_sum": Kernel(_window_sum_v, WindowSum),
    "window_max": Kernel(_window_v(np.max), WindowMax),
    "window_min": Kernel(_window_v(np.min), WindowMin),
}
