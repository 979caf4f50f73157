"""The column forms of the recursive kernels (:mod:`quantum_trader.features.kernels`).

Each tracker's ``step`` written as one loop over the column with its state in locals —
the same expressions in the same order, so the same bits — compiled to machine code by
numba on first use (strict IEEE arithmetic: no fast-math, so no fused multiply-add),
about 30 times faster than stepping a tracker. numba is imported on the first call, not
by the live path, which steps trackers; the compiled code is cached on disk.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from quantum_trader.data.bars import FloatArray

NAN = math.nan
Column = Callable[[FloatArray, int], FloatArray]


def _ema_loop(x: FloatArray, span: int) -> FloatArray:
    alpha, count, value = 2.0 / (span + 1), 0, NAN
    out = np.full(x.size, NAN)
    for i in range(x.size):
        v = x[i]
        if v != v:
            continue
        value = v if count == 0 else value + alpha * (v - value)
        count += 1
        if count >= span:
            out[i] = value
    return out


def _wilder_loop(x: FloatArray, period: int) -> FloatArray:
    count, seed, value = 0, 0.0, NAN
    out = np.full(x.size, NAN)
    for i in range(x.size):
        v = x[i]
        if v != v:
            continue
        count += 1
        if count < period:
            seed = seed + v
            continue
        value = (seed + v) / period if count == period else (value * (period - 1) + v) / period
        out[i] = value
    return out


def _ewm_std_loop(x: FloatArray, span: int) -> FloatArray:
    alpha, count, mean, var = 2.0 / (span + 1), 0, NAN, 0.0
    out = np.full(x.size, NAN)
    for i in range(x.size):
        v = x[i]
        if v != v:
            continue
        if count == 0:
            mean = v
        else:
            d = v - mean
            mean = mean + alpha * d
            var = (1.0 - alpha) * (var + alpha * d * d)
        count += 1
        if count >= span:
            out[i] = math.sqrt(var)
    return out


def compiled_column(loop: Column) -> Column:
    """``loop`` compiled on its first call (numba is imported then, not by the live path,
    which steps trackers); the compiled code is cached on disk for the next process."""
    compiled: list[Callable[[FloatArray, int], FloatArray]] = []

    def run(x: FloatArray, param: int) -> FloatArray:
        if not compiled:
            import numba

            compiled.append(numba.njit(cache=True, nogil=True)(loop))
        return compiled[0](np.ascontiguousarray(x, dtype=np.float64), int(param))

    return run


ema_column = compiled_column(_ema_loop)
wilder_column = compiled_column(_wilder_loop)
ewm_std_column = compiled_column(_ewm_std_loop)
