"""The stateful kernels of :mod:`quantum_trader.features.kernels`, for many symbols at once.

Each holds one state per symbol (arrays) and ``step(x, mask)`` advances only the symbols
in ``mask`` with the same float operations as the single-symbol tracker, so a symbol's
outputs do not depend on which other symbols share the universe or when they have bars.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from quantum_trader.data.bars import FloatArray
from quantum_trader.features.graph import Node

NAN = math.nan
Mask = npt.NDArray[np.bool_]


class VectorKernel(Protocol):
    """A kernel's state for every symbol; ``step`` advances the symbols in ``mask``."""

    def step(self, x: FloatArray, mask: Mask) -> FloatArray: ...


def _rows(mask: Mask, every: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The positions of the symbols that advance (all of them: the cached range)."""
    return every if len(every) == len(mask) and bool(mask.all()) else np.flatnonzero(mask)


class _Lag:
    def __init__(self, k: int, n: int) -> None:
        self.k, self.ring = k, np.full((n, k), NAN)
        self.head, self.count = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.every = np.arange(n, dtype=np.int64)

    def step(self, x: FloatArray, mask: Mask) -> FloatArray:
        rows = _rows(mask, self.every)
        head = self.head[rows]
        old = self.ring[rows, head]
        self.ring[rows, head] = x[rows]
        self.head[rows] = (head + 1) % self.k
        count = self.count[rows]
        self.count[rows] = count + 1
        if rows is self.every:
            return np.where(count >= self.k, old, NAN)
        out = np.full(len(x), NAN)
        out[rows] = np.where(count >= self.k, old, NAN)
        return out


class _Recursive:
    """EMA, Wilder average and EWM std: NaN inputs leave the state alone. Whole-vector
    arithmetic, then kept only where a symbol advanced (``live``)."""

    def __init__(self, op: str, param: int, n: int) -> None:
        self.op, self.p = op, param
        self.alpha = 2.0 / (param + 1)
        self.count = np.zeros(n, np.int64)
        self.value, self.seed, self.var = np.full(n, NAN), np.zeros(n), np.zeros(n)

    def step(self, x: FloatArray, mask: Mask) -> FloatArray:
        live = mask & (x == x)
        count, value, p = self.count, self.value, self.p
        if self.op == "ema":
            fresh = np.where(count == 0, x, value + self.alpha * (x - value))
            out = fresh
            ready = count + 1 >= p
        elif self.op == "wilder":
            n = count + 1
            seeding = n < p
            first = (self.seed + x) / p
            later = (value * (p - 1) + x) / p
            fresh = np.where(seeding, value, np.where(n == p, first, later))
            self.seed = np.where(live & seeding, self.seed + x, self.seed)
            out = fresh
            ready = ~seeding
        else:  # ewm_std, West's recursion
            d = x - value
            start = count == 0
            fresh = np.where(start, x, value + self.alpha * d)
            var = np.where(start, self.var, (1.0 - self.alpha) * (self.var + self.alpha * d * d))
            self.var = np.where(live, var, self.var)
            out = np.sqrt(self.var)
            ready = count + 1 >= p
        self.value = np.where(live, fresh, value)
        self.count = count + live
        return np.where(live & ready, out, NAN)


class _WindowSum:
    def __init__(self, w: int, n: int) -> None:
        self.w = w
        self.prefix, self.nan_prefix = np.zeros((n, w + 1)), np.zeros((n, w + 1), np.int64)
        self.total, self.nans = np.zeros(n), np.zeros(n, np.int64)
        self.count = np.ones(n, np.int64)  # the prefix ring holds the leading 0 already
        self.head = np.ones(n, np.int64) % (w + 1)
        self.every = np.arange(n, dtype=np.int64)

    def step(self, x: FloatArray, mask: Mask) -> FloatArray:
        rows = _rows(mask, self.every)
        xs = x[rows]
        nan = xs != xs
        total = self.total[rows] + np.where(nan, 0.0, xs)
        nans = self.nans[rows] + nan
        head = self.head[rows]
        count = np.minimum(self.count[rows] + 1, self.w + 1)
        self.prefix[rows, head], self.nan_prefix[rows, head] = total, nans
        full = count > self.w
        oldest = np.where(full, (head + 1) % (self.w + 1), 0)
        first_total, first_nans = self.prefix[rows, oldest], self.nan_prefix[rows, oldest]
        sums = np.where(full & (nans <= first_nans), total - first_total, NAN)
        self.total[rows], self.nans[rows] = total, nans
        self.head[rows], self.count[rows] = (head + 1) % (self.w + 1), count
        if rows is self.every:
            return sums
        out = np.full(len(x), NAN)
        out[rows] = sums
        return out


class _WindowExtreme:
    def __init__(self, w: int, n: int, take_max: bool) -> None:
        self.w, self.take_max = w, take_max
        self.ring = np.full((n, w), NAN)
        self.head = np.zeros(n, np.int64)
        self.every = np.arange(n, dtype=np.int64)

    def step(self, x: FloatArray, mask: Mask) -> FloatArray:
        rows = _rows(mask, self.every)
        self.ring[rows, self.head[rows]] = x[rows]
        self.head[rows] = (self.head[rows] + 1) % self.w
        # Every symbol's window (the others' outputs are not read): NaN — not filled yet,
        # or a NaN input within the window — propagates to a NaN output.
        out: FloatArray = self.ring.max(axis=1) if self.take_max else self.ring.min(axis=1)
        return out


def vector_kernel(node: Node, n: int) -> VectorKernel:
    param = int(node.params[0])
    if node.op == "lag":
        return _Lag(param, n)
    if node.op in ("ema", "wilder", "ewm_std"):
        return _Recursive(node.op, param, n)
    if node.op == "window_sum":
        return _WindowSum(param, n)
    if node.op in ("window_max", "window_min"):
        return _WindowExtreme(param, n, node.op == "window_max")
    raise ValueError(f"no universe form of kernel {node.op!r}")
