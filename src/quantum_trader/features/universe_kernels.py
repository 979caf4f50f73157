"""The stateful kernels of :mod:`quantum_trader.features.kernels`, for many symbols at once.

Each holds one state per symbol (arrays) and ``step(x, rows)`` advances only the symbols
at ``rows`` (``None``: every symbol) with the same float operations as the single-symbol
tracker, so a symbol's outputs do not depend on which other symbols share the universe or
when they have bars. Only the advancing symbols' outputs are meaningful; the caller keeps
the others' previous values.

Speed is what this module is for (one walk per bar for the whole universe): rings are flat
arrays indexed ``symbol · width + position`` (one gather, one scatter), a kernel whose
every symbol is past its warm-up takes a path without the warm-up's selections, and a
window extreme keeps the extreme of each block of its ring, so a step rescans one block
and the block extremes rather than the whole window. Each path computes the same numbers
(max and min are exact; the recursions are the same expressions), which the parity tests
hold against ``FeatureState``.
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
Rows = npt.NDArray[np.int64] | None  # None: every symbol


class VectorKernel(Protocol):
    """A kernel's state for every symbol; ``step`` advances the symbols at ``rows``."""

    def step(self, x: FloatArray, rows: Rows) -> FloatArray: ...


class _Heads:
    """Each symbol's write position in its ring of ``width``: one number while every symbol
    has advanced together (a universe without gaps: the rings are written column by
    column), per-symbol positions from the first bar some symbols miss."""

    def __init__(self, n: int, width: int, start: int = 0) -> None:
        self.n, self.width = n, width
        self.common: int | None = start % width
        self.each = np.full(n, start % width, np.int64)

    def of(self, rows: Rows) -> npt.NDArray[np.int64]:
        if self.common is not None:
            return np.full(self.n if rows is None else len(rows), self.common, np.int64)
        return self.each if rows is None else self.each[rows]

    def advance(self, rows: Rows) -> None:
        if self.common is not None:
            if rows is None:
                self.common = (self.common + 1) % self.width
                return
            self.each = np.full(self.n, self.common, np.int64)
            self.common = None
        head = self.each if rows is None else self.each[rows]
        head = head + 1
        head[head == self.width] = 0
        if rows is None:
            self.each = head
        else:
            self.each[rows] = head


class _Lag:
    def __init__(self, k: int, n: int) -> None:
        self.k, self.n = k, n
        self.ring = np.full((k, n), NAN)  # position × symbol: a common head is one row
        self.flat = self.ring.reshape(-1)
        self.base = np.arange(n, dtype=np.int64)
        self.heads = _Heads(n, k)
        self.count = np.zeros(n, np.int64)
        self.full = False  # every symbol has k values in its ring

    def step(self, x: FloatArray, rows: Rows) -> FloatArray:
        head = self.heads.common
        old: FloatArray
        if rows is None and head is not None:
            old = self.ring[head].copy()
            self.ring[head] = x
        else:
            at = (self.base if rows is None else self.base[rows]) + self.heads.of(rows) * self.n
            old = self.flat[at]
            self.flat[at] = x if rows is None else x[rows]
        self.heads.advance(rows)
        if not self.full:
            count = self.count if rows is None else self.count[rows]
            old = np.where(count >= self.k, old, NAN)
            if rows is None:
                self.count = count + 1
            else:
                self.count[rows] = count + 1
            self.full = bool(self.count.min() >= self.k)
        if rows is None:
            return old
        out = np.full(self.n, NAN)
        out[rows] = old
        return out


class _Recursive:
    """EMA, Wilder average and EWM std: NaN inputs leave the state alone. Whole-vector
    arithmetic, then kept only where a symbol advanced (``live``); once every symbol is
    warm and the bar has no NaN, the same expressions without the selections."""

    def __init__(self, op: str, param: int, n: int) -> None:
        self.op, self.p, self.n = op, param, n
        self.alpha = 2.0 / (param + 1)
        self.count = np.zeros(n, np.int64)
        self.value, self.seed, self.var = np.full(n, NAN), np.zeros(n), np.zeros(n)
        self.warm = False  # every symbol's count has reached the period

    def step(self, x: FloatArray, rows: Rows) -> FloatArray:
        if self.warm and rows is None and not np.isnan(x).any():
            return self._warm(x)
        live = x == x
        if rows is not None:
            mask = np.zeros(self.n, np.bool_)
            mask[rows] = True
            live &= mask
        out = self._general(x, live)
        if not self.warm:
            self.warm = bool(self.count.min() >= self.p)
        return out

    def _warm(self, x: FloatArray) -> FloatArray:
        value, p = self.value, self.p
        if self.op == "ema":
            self.value = value + self.alpha * (x - value)
            return self.value
        if self.op == "wilder":
            self.value = (value * (p - 1) + x) / p
            return self.value
        d = x - value  # ewm_std, West's recursion
        self.value = value + self.alpha * d
        self.var = (1.0 - self.alpha) * (self.var + self.alpha * d * d)
        out: FloatArray = np.sqrt(self.var)
        return out

    def _general(self, x: FloatArray, live: Mask) -> FloatArray:
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
    """Prefix sums in a ring of ``w + 1`` per symbol (with a NaN count beside them): the
    window's sum is the newest prefix minus the one ``w`` positions older."""

    def __init__(self, w: int, n: int) -> None:
        self.w, self.n, self.width = w, n, w + 1
        self.prefix = np.zeros((self.width, n))  # position × symbol
        self.nan_prefix = np.zeros((self.width, n), np.int64)
        self.flat, self.nan_flat = self.prefix.reshape(-1), self.nan_prefix.reshape(-1)
        self.base = np.arange(n, dtype=np.int64)
        self.total, self.nans = np.zeros(n), np.zeros(n, np.int64)
        self.count = np.ones(n, np.int64)  # the prefix ring holds the leading 0 already
        self.heads = _Heads(n, self.width, 1)
        self.full = False  # every symbol's ring holds w + 1 prefixes

    def step(self, x: FloatArray, rows: Rows) -> FloatArray:
        xs = x if rows is None else x[rows]
        nan = xs != xs
        total = (self.total if rows is None else self.total[rows]) + np.where(nan, 0.0, xs)
        nans = (self.nans if rows is None else self.nans[rows]) + nan
        head = self.heads.common
        if rows is None and head is not None:
            self.prefix[head], self.nan_prefix[head] = total, nans
            oldest = (head + 1) % self.width  # the oldest prefix, once the ring is full
            first_total, first_nans = self.prefix[oldest], self.nan_prefix[oldest]
        else:
            base = self.base if rows is None else self.base[rows]
            heads = self.heads.of(rows)
            at = base + heads * self.n
            self.flat[at], self.nan_flat[at] = total, nans
            after = heads + 1
            after[after == self.width] = 0
            at = base + after * self.n
            first_total, first_nans = self.flat[at], self.nan_flat[at]
        self.heads.advance(rows)
        within = nans <= first_nans
        if not self.full:
            count = np.minimum((self.count if rows is None else self.count[rows]) + 1, self.width)
            within &= count > self.w
            if rows is None:
                self.count = count
            else:
                self.count[rows] = count
            self.full = bool(self.count.min() > self.w)
        sums = np.where(within, total - first_total, NAN)
        if rows is None:
            self.total, self.nans = total, nans
            return sums
        self.total[rows], self.nans[rows] = total, nans
        out = np.full(self.n, NAN)
        out[rows] = sums
        return out


class _WindowExtreme:
    """The ring of the last ``w`` values in blocks of about √w, padded to whole blocks with
    the value that never wins (−∞ for a max); each block's extreme is kept, so a step
    rescans the block it wrote to and then the block extremes. NaN — not filled yet, or a
    NaN input within the window — propagates to the output, as numpy's max does."""

    def __init__(self, w: int, n: int, take_max: bool) -> None:
        self.w, self.n, self.take_max = w, n, take_max
        self.block = max(1, math.isqrt(w))
        blocks = -(-w // self.block)
        pad = -math.inf if take_max else math.inf
        self.ring = np.full((blocks, self.block, n), pad)  # block × position × symbol
        self.ring.reshape(-1, n)[:w] = NAN
        self.extremes = np.full((blocks, n), NAN)  # every block holds a ring cell
        self.heads = _Heads(n, w)
        self.every = np.arange(n, dtype=np.int64)

    def _extreme(self, values: FloatArray) -> FloatArray:
        out: FloatArray = values.max(axis=0) if self.take_max else values.min(axis=0)
        return out

    def step(self, x: FloatArray, rows: Rows) -> FloatArray:
        if self.w == 1:
            return x.copy()
        head = self.heads.common
        if rows is None and head is not None:
            block, cell = divmod(head, self.block)
            self.ring[block, cell] = x
            self.extremes[block] = self._extreme(self.ring[block])
        else:
            who = self.every if rows is None else rows
            blocks, cells = np.divmod(self.heads.of(rows), self.block)
            self.ring[blocks, cells, who] = x if rows is None else x[rows]
            self.extremes[blocks, who] = self._extreme(self.ring[blocks, :, who].T)
        self.heads.advance(rows)
        return self._extreme(self.extremes)


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
