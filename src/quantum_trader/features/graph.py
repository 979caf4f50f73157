"""The feature graph: every feature is written once, as an expression over bar columns.

A :class:`Node` is an operation, its parameters and its input nodes. Formulas read like
the arithmetic they are (``log(close / lag(close, 5))``); nothing is computed when they
are built. :mod:`quantum_trader.features.plan` then evaluates the same graph two ways —
column by column over a whole series, or one bar at a time — which is what makes the two
evaluations agree: there is no second copy of any formula to drift.

Every node lives on a *clock*: ``BASE`` (one tick per base bar) or a higher timeframe such
as ``"1h"`` (one tick per completed 1 h bar). Operations combine nodes of one clock only;
:func:`as_of` carries a higher-timeframe node onto the base clock as "its value at the last
completed higher bar".

A node's ``key`` is a hash of its operation, parameters, clock and its inputs' keys: equal
sub-expressions share a key (and are computed once), and the keys of the outputs are what
``FEATURE_VERSION`` is made of.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from quantum_trader.features.kernels import KERNELS
from quantum_trader.features.ops import ELEMENTWISE

BASE = "base"
ANY_CLOCK = "*"  # constants
# Columns a base-clock source may read. open_time/end_time are epoch ms as floats (exact
# below 2**53); end_time = open_time + interval, the instant the bar closed. funding is
# the last funding rate known at the bar's close (NaN when absent).
BASE_FIELDS = (
    "open_time", "end_time", "interval", "open", "high", "low", "close", "volume", "funding",
)  # fmt: skip
# Columns of a completed higher-timeframe bar.
HTF_FIELDS = ("open_time", "open", "high", "low", "close")

Param = int | float | str


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    op: str
    params: tuple[Param, ...]
    inputs: tuple[Node, ...]
    clock: str
    key: str = field(init=False)

    def __post_init__(self) -> None:
        text = repr((self.op, self.params, self.clock, tuple(i.key for i in self.inputs)))
        object.__setattr__(self, "key", hashlib.sha256(text.encode()).hexdigest()[:20])

    def __add__(self, other: Node | float) -> Node:
        return _apply("add", (self, other))

    def __radd__(self, other: float) -> Node:
        return _apply("add", (other, self))

    def __sub__(self, other: Node | float) -> Node:
        return _apply("sub", (self, other))

    def __rsub__(self, other: float) -> Node:
        return _apply("sub", (other, self))

    def __mul__(self, other: Node | float) -> Node:
        return _apply("mul", (self, other))

    def __rmul__(self, other: float) -> Node:
        return _apply("mul", (other, self))

    def __truediv__(self, other: Node | float) -> Node:
        """``a / b`` is NaN where ``b == 0`` (see :func:`div_or` for another default)."""
        return div_or(self, other, float("nan"))

    def __neg__(self) -> Node:
        return _apply("neg", (self,))


def const(value: float) -> Node:
    return Node("const", (float(value),), (), ANY_CLOCK)


def source(name: str, clock: str = BASE) -> Node:
    fields = BASE_FIELDS if clock == BASE else HTF_FIELDS
    if name not in fields:
        raise ValueError(f"{clock} bars have no column {name!r}; they have {', '.join(fields)}")
    return Node("source", (name,), (), clock)


def _node(x: Node | float) -> Node:
    return x if isinstance(x, Node) else const(x)


def _clock_of(nodes: tuple[Node, ...]) -> str:
    clocks = {n.clock for n in nodes} - {ANY_CLOCK}
    if len(clocks) > 1:
        raise ValueError(
            f"cannot combine nodes on clocks {sorted(clocks)}: bring a higher timeframe "
            "onto the base clock with as_of() first"
        )
    return clocks.pop() if clocks else ANY_CLOCK


def _apply(op: str, operands: tuple[Node | float, ...], params: tuple[Param, ...] = ()) -> Node:
    inputs = tuple(_node(x) for x in operands)
    if ELEMENTWISE[op].arity != len(inputs):
        raise ValueError(f"{op} takes {ELEMENTWISE[op].arity} inputs, got {len(inputs)}")
    return Node(op, params, inputs, _clock_of(inputs))


def _kernel(op: str, x: Node, param: int) -> Node:
    if op not in KERNELS:
        raise ValueError(f"unknown kernel {op!r}")
    if isinstance(param, bool) or not isinstance(param, int) or param < 1:
        raise ValueError(f"{op}: the window/span must be a positive integer, got {param!r}")
    if x.clock == ANY_CLOCK:
        raise ValueError(f"{op} of a constant is a constant; use the constant")
    return Node(op, (param,), (x,), x.clock)


# Elementwise operations (see ops.py for their exact edge cases).
def log(x: Node) -> Node:
    return _apply("log", (x,))


def log1p(x: Node) -> Node:
    return _apply("log1p", (x,))


def sqrt(x: Node) -> Node:
    return _apply("sqrt", (x,))


def abs_(x: Node) -> Node:
    return _apply("abs", (x,))


def sin(x: Node) -> Node:
    return _apply("sin", (x,))


def cos(x: Node) -> Node:
    return _apply("cos", (x,))


def mod(x: Node, period: float) -> Node:
    """Floor modulo by a positive constant (for times of day, week and funding period)."""
    if not period > 0:
        raise ValueError(f"mod: the period must be positive, got {period!r}")
    return _apply("mod", (x,), (float(period),))


def div_or(a: Node | float, b: Node | float, default: float) -> Node:
    """``a / b``, or ``default`` where ``b == 0``."""
    return _apply("div_or", (a, b), (float(default),))


def maximum(a: Node | float, b: Node | float) -> Node:
    return _apply("maximum", (a, b))


def minimum(a: Node | float, b: Node | float) -> Node:
    return _apply("minimum", (a, b))


def coalesce(a: Node, b: Node) -> Node:
    """``a``, or ``b`` where ``a`` is NaN."""
    return _apply("coalesce", (a, b))


def rsi_of(gain: Node, loss: Node) -> Node:
    return _apply("rsi", (gain, loss))


# Stateful kernels (see kernels.py).
def lag(x: Node, k: int) -> Node:
    return _kernel("lag", x, k)


def ema(x: Node, span: int) -> Node:
    return _kernel("ema", x, span)


def wilder(x: Node, period: int) -> Node:
    return _kernel("wilder", x, period)


def ewm_std(x: Node, span: int) -> Node:
    return _kernel("ewm_std", x, span)


def window_sum(x: Node, w: int) -> Node:
    return _kernel("window_sum", x, w)


def window_max(x: Node, w: int) -> Node:
    return _kernel("window_max", x, w)


def window_min(x: Node, w: int) -> Node:
    return _kernel("window_min", x, w)


def as_of(x: Node) -> Node:
    """A higher-timeframe node's value at the last higher bar completed by this base bar."""
    if x.clock in (BASE, ANY_CLOCK):
        raise ValueError("as_of() takes a higher-timeframe node")
    return Node("as_of", (), (x,), BASE)
