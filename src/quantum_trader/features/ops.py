"""Elementwise operations of the feature graph, each written twice: over arrays and floats.

Both forms follow the same float expression in the same order, and agree on every edge
case, so a feature built from them gives the same number — and NaN at the same bars —
whether a whole series is evaluated at once or one bar at a time:

* NaN in, NaN out (except ``coalesce``, whose job is to replace it);
* ``log`` of x ≤ 0, ``log1p`` of x ≤ −1 and ``sqrt`` of x < 0 are NaN, not −inf or errors;
* ``div_or(a, b, default)`` is ``default`` where ``b == 0`` and ``a / b`` elsewhere;
* ``maximum`` / ``minimum`` propagate NaN (numpy's, not ``fmax``);
* ``rsi`` is Wilder's ``100 − 100 / (1 + gain / loss)``: 50 when nothing moved, 100 when
  nothing fell — the convention of ``strategies.indicators.rsi_from_averages``.

The scalar forms never raise on finite or NaN input (Python's ``math`` would), and the
array forms never warn (pytest turns warnings into errors); :func:`quiet` silences the
IEEE overflow/invalid flags numpy would otherwise report for ``inf − inf`` and the like.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from quantum_trader.data.bars import FloatArray

NAN = math.nan
# What the graph hands an array operation: a column, or a constant broadcast against one.
Column = FloatArray | float


def quiet() -> np.errstate:
    """numpy without divide/overflow/invalid warnings; the results are still IEEE (inf, NaN)."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore")


def _column(x: Column) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _log_v(x: Column) -> FloatArray:
    a = _column(x)
    out: FloatArray = np.log(a)  # NaN for x < 0 (flags silenced by quiet()), −inf at 0
    out[a <= 0.0] = NAN
    return out


def _ufunc_s(fn: np.ufunc) -> Callable[[float], float]:
    """A transcendental function of one float through numpy's own loop, as the column form
    computes it: numpy's SIMD kernels (per CPU) may differ from the C library's ``math``
    in the last bit, and the two forms must give the same bits."""

    def apply(x: float) -> float:
        return float(fn(np.float64(x)))

    return apply


_np_log, _np_log1p = _ufunc_s(np.log), _ufunc_s(np.log1p)


def _log_s(x: float) -> float:
    return _np_log(x) if x > 0.0 else NAN


def _log1p_v(x: Column) -> FloatArray:
    a = _column(x)
    out: FloatArray = np.log1p(a)
    out[a <= -1.0] = NAN
    return out


def _log1p_s(x: float) -> float:
    return _np_log1p(x) if x > -1.0 else NAN


def _sqrt_v(x: Column) -> FloatArray:
    out: FloatArray = np.sqrt(_column(x))  # NaN below 0
    return out


def _sqrt_s(x: float) -> float:
    return math.sqrt(x) if x >= 0.0 else NAN


def _trig_s(fn: np.ufunc) -> Callable[[float], float]:
    exact = _ufunc_s(fn)

    def apply(x: float) -> float:
        return exact(x) if math.isfinite(x) else NAN

    return apply


def _div_or_v(a: Column, b: Column, default: float) -> FloatArray:
    num, den = _column(a), _column(b)
    out: FloatArray = num / den
    zero = den == 0.0
    if zero.any():
        out[np.broadcast_to(zero, out.shape)] = default
    return out


def _div_or_s(a: float, b: float, default: float) -> float:
    return default if b == 0.0 else a / b


def _maximum_s(a: float, b: float) -> float:
    if a >= b:
        return a
    return b if b >= a else NAN  # neither comparison holds: one of them is NaN


def _minimum_s(a: float, b: float) -> float:
    if a <= b:
        return a
    return b if b <= a else NAN


def _coalesce_v(a: Column, b: Column) -> FloatArray:
    first, second = np.broadcast_arrays(_column(a), _column(b))
    return np.where(np.isnan(first), second, first)


def _coalesce_s(a: float, b: float) -> float:
    return b if a != a else a  # a != a only for NaN


def _rsi_v(gain: Column, loss: Column) -> FloatArray:
    g, lo = np.broadcast_arrays(_column(gain), _column(loss))
    ratio = 100.0 - 100.0 / (1.0 + g / lo)
    no_loss = lo == 0.0
    return np.where(no_loss & (g == 0.0), 50.0, np.where(no_loss, 100.0, ratio))


def _rsi_s(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 50.0 if gain == 0.0 else 100.0
    denominator = 1.0 + gain / loss
    # Only a negative "gain" (never an average of max(change, 0)) reaches 0 here; match
    # numpy's 100 / +0.0 = inf rather than raise.
    return 100.0 - 100.0 / denominator if denominator != 0.0 else -math.inf


@dataclass(frozen=True, slots=True)
class Elementwise:
    """One operation in its two forms; ``arity`` inputs, then the node's parameters."""

    arity: int
    vector: Callable[..., FloatArray]
    scalar: Callable[..., float]


ELEMENTWISE: dict[str, Elementwise] = {
    "add": Elementwise(2, lambda a, b: _column(a + b), lambda a, b: a + b),
    "sub": Elementwise(2, lambda a, b: _column(a - b), lambda a, b: a - b),
    "mul": Elementwise(2, lambda a, b: _column(a * b), lambda a, b: a * b),
    "neg": Elementwise(1, lambda a: _column(-a), lambda a: -a),
    "abs": Elementwise(1, lambda a: np.abs(_column(a)), abs),
    "log": Elementwise(1, _log_v, _log_s),
    "log1p": Elementwise(1, _log1p_v, _log1p_s),
    "sqrt": Elementwise(1, _sqrt_v, _sqrt_s),
    "sin": Elementwise(1, lambda a: np.sin(_column(a)), _trig_s(np.sin)),
    "cos": Elementwise(1, lambda a: np.cos(_column(a)), _trig_s(np.cos)),
    # Floor modulo of whole-millisecond times: exact in float64 below 2**53 in both forms.
    "mod": Elementwise(1, lambda a, period: np.mod(_column(a), period), lambda a, p: a % p),
    "div_or": Elementwise(2, _div_or_v, _div_or_s),
    "maximum": Elementwise(2, lambda a, b: np.maximum(_column(a), b), _maximum_s),
    "minimum": Elementwise(2, lambda a, b: np.minimum(_column(a), b), _minimum_s),
    "coalesce": Elementwise(2, _coalesce_v, _coalesce_s),
    "rsi": Elementwise(2, _rsi_v, _rsi_s),
}
