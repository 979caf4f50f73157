"""One compiled feature graph, two evaluations: whole columns, or one bar at a time.

``compile_plan`` orders the graph's nodes (inputs first, each distinct key once) and gives
every node a slot. :func:`evaluate_columns` then walks the slots once over whole arrays;
:class:`PlanTracker` walks them once per tick, holding one float per slot plus each
kernel's fixed-size state. Both walk the same nodes in the same order with the two forms
of the same operations, so they cannot disagree on what a feature *is*.

Clocks tick separately. Per base bar the caller first ticks each higher timeframe once
for every higher bar that bar completed (0, 1 or 2 of them), then ticks the base clock;
``as_of`` nodes read whatever their higher-timeframe input last held (NaN before the
first completed higher bar) — the column form indexes the higher columns the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from quantum_trader.data.bars import FloatArray, IntArray
from quantum_trader.features.graph import ANY_CLOCK, BASE, BASE_FIELDS, HTF_FIELDS, Node, Param
from quantum_trader.features.kernels import KERNELS
from quantum_trader.features.ops import ELEMENTWISE, quiet

NAN = math.nan


@dataclass(frozen=True, slots=True)
class Plan:
    names: tuple[str, ...]
    nodes: tuple[Node, ...]  # inputs before the nodes that read them
    inputs: tuple[tuple[int, ...], ...]  # slots of each node's inputs
    outputs: tuple[int, ...]  # slot of each named feature
    higher: tuple[str, ...]  # higher-timeframe clocks, in order of first use


def compile_plan(features: Sequence[tuple[str, Node]]) -> Plan:
    names = tuple(name for name, _ in features)
    if len(set(names)) != len(names):
        raise ValueError(f"feature names must be unique: {sorted(names)}")
    slots: dict[str, int] = {}
    order: list[Node] = []
    for _, root in features:
        # Iterative post-order walk: a node gets its slot once all its inputs have one.
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node.key in slots:
                continue
            if expanded:
                slots[node.key] = len(order)
                order.append(node)
            else:
                stack.append((node, True))
                stack.extend((i, False) for i in reversed(node.inputs) if i.key not in slots)
    for node in order:
        if node.clock == ANY_CLOCK and node.op != "const":
            raise ValueError(f"{node.op} of constants only: fold it into a constant")
    higher = tuple(dict.fromkeys(n.clock for n in order if n.clock not in (BASE, ANY_CLOCK)))
    return Plan(
        names,
        tuple(order),
        tuple(tuple(slots[i.key] for i in n.inputs) for n in order),
        tuple(slots[root.key] for _, root in features),
        higher,
    )


@dataclass(frozen=True, slots=True)
class HigherColumns:
    """A higher timeframe's completed bars and, per base bar, the last one it completed."""

    columns: Mapping[str, FloatArray]  # HTF_FIELDS, one value per higher bar
    as_of: IntArray  # per base bar: index into the columns, −1 before the first


def evaluate_columns(
    plan: Plan, base: Mapping[str, FloatArray], higher: Mapping[str, HigherColumns]
) -> FloatArray:
    """Every feature over a whole series: an (n bars × n features) array."""
    n = len(base["close"])
    values: list[FloatArray | float] = []
    with quiet():
        for node, ins in zip(plan.nodes, plan.inputs, strict=True):
            args = [values[j] for j in ins]
            values.append(_column_value(node, args, base, higher))
    out = np.full((n, len(plan.outputs)), NAN)
    for k, slot in enumerate(plan.outputs):
        out[:, k] = values[slot]
    return out


def _column_value(
    node: Node,
    args: list[FloatArray | float],
    base: Mapping[str, FloatArray],
    higher: Mapping[str, HigherColumns],
) -> FloatArray | float:
    if node.op == "const":
        return float(node.params[0])
    if node.op == "source":
        columns = base if node.clock == BASE else higher[node.clock].columns
        return columns[str(node.params[0])]
    if node.op == "as_of":
        index = higher[node.inputs[0].clock].as_of
        column = np.asarray(args[0], dtype=np.float64)
        if column.size == 0:
            return np.full(index.size, NAN)
        return np.where(index >= 0, column[np.maximum(index, 0)], NAN)
    if node.op in KERNELS:
        return KERNELS[node.op].vector(np.asarray(args[0], np.float64), int(node.params[0]))
    return ELEMENTWISE[node.op].vector(*args, *node.params)


Step = tuple[Callable[..., float], int, int, int]  # (function, input a, input b or −1, out)


class PlanTracker:
    """The plan's state after the ticks so far: one float per node, O(nodes) per tick."""

    __slots__ = ("_outputs", "_sources", "_steps", "_values")

    def __init__(self, plan: Plan) -> None:
        self._values = [NAN] * len(plan.nodes)
        self._outputs = plan.outputs
        self._steps: dict[str, list[Step]] = {c: [] for c in (BASE, *plan.higher)}
        self._sources: dict[str, list[tuple[int, int]]] = {c: [] for c in self._steps}
        for slot, (node, ins) in enumerate(zip(plan.nodes, plan.inputs, strict=True)):
            if node.op == "const":
                self._values[slot] = float(node.params[0])
            elif node.op == "source":
                fields = BASE_FIELDS if node.clock == BASE else HTF_FIELDS
                self._sources[node.clock].append((fields.index(str(node.params[0])), slot))
            else:
                fn = _scalar_step(node)
                second = ins[1] if len(ins) > 1 else -1
                self._steps[node.clock].append((fn, ins[0], second, slot))

    def tick(self, clock: str, row: Sequence[float]) -> None:
        """One bar of ``clock``: ``row`` holds BASE_FIELDS (base) or HTF_FIELDS (higher)."""
        values = self._values
        for field_index, slot in self._sources[clock]:
            values[slot] = row[field_index]
        for fn, a, b, out in self._steps[clock]:
            values[out] = fn(values[a]) if b < 0 else fn(values[a], values[b])

    def outputs(self) -> FloatArray:
        values = self._values
        return np.array([values[s] for s in self._outputs], dtype=np.float64)


def _identity(x: float) -> float:
    return x


def _scalar_step(node: Node) -> Callable[..., float]:
    if node.op == "as_of":
        return _identity  # the higher-timeframe slot holds its last completed value
    if node.op in KERNELS:
        return KERNELS[node.op].tracker(int(node.params[0])).step
    return _bind(ELEMENTWISE[node.op].scalar, node.params)


def _bind(fn: Callable[..., float], params: tuple[Param, ...]) -> Callable[..., float]:
    if not params:
        return fn
    return lambda *inputs: fn(*inputs, *params)
