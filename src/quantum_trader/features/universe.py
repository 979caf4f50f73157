"""Features of a whole universe, one closed bar at a time, every symbol in one pass.

:class:`UniverseFeatureState` is :class:`~quantum_trader.features.compute.FeatureState`
for many symbols at once: the same compiled plan, walked once per bar with one numpy
vector per slot (one value per symbol) instead of one float, so a 400-symbol universe
costs one walk, not 400. A bar may come for only some of the symbols (a symbol without a
bar at that time, or not listed yet): only those advance, the others keep their state
exactly, as each symbol's own ``FeatureState`` would. The rows it returns equal
``FeatureState``'s (a test holds them to 1e-9 on every feature, with gaps; the kernels
run the same float operations, the elementwise ones through numpy's ufuncs).

Higher timeframes follow ``HigherBarBuilder``'s rule for every symbol at once (the
buckets are the same for all of them); a base bar completes at most two higher bars, so
each higher clock ticks in at most two rounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from quantum_trader.data.bars import DataError, FloatArray, interval_ms, interval_offset_ms
from quantum_trader.features.catalog import DEFAULT_SPEC, plan_for
from quantum_trader.features.graph import BASE, BASE_FIELDS, HTF_FIELDS, Node
from quantum_trader.features.higher import check_higher
from quantum_trader.features.kernels import KERNELS
from quantum_trader.features.ops import ELEMENTWISE, quiet
from quantum_trader.features.plan import Plan
from quantum_trader.features.spec import FeatureSpec
from quantum_trader.features.universe_kernels import Mask, VectorKernel, vector_kernel

NAN = math.nan
Bars = Mapping[str, tuple[float, float, float, float, float, float]]  # o h l c v funding


Step = tuple[int, int, "VectorKernel | None", Node, tuple[int, ...]]


class _VectorPlan:
    """The plan's state for every symbol: one vector per slot."""

    def __init__(self, plan: Plan, n: int) -> None:
        self.plan, self.n = plan, n
        self.values: list[FloatArray] = [np.full(n, NAN) for _ in plan.nodes]
        # per clock, in plan order: (slot, source field or -1, kernel or None, node, inputs)
        self.steps: dict[
            str, list[tuple[int, int, VectorKernel | None, Node, tuple[int, ...]]]
        ] = {}
        for slot, (node, ins) in enumerate(zip(plan.nodes, plan.inputs, strict=True)):
            if node.op == "const":
                self.values[slot] = np.full(n, float(node.params[0]))
                continue
            fields = BASE_FIELDS if node.clock == BASE else HTF_FIELDS
            field = fields.index(str(node.params[0])) if node.op == "source" else -1
            kernel = vector_kernel(node, n) if node.op in KERNELS else None
            self.steps.setdefault(node.clock, []).append((slot, field, kernel, node, ins))

    def tick(self, clock: str, rows: FloatArray, mask: Mask) -> None:
        """One bar of ``clock`` for the symbols in ``mask``; ``rows``: symbols × fields."""
        values = self.values
        every = bool(mask.all())
        advancing = None if every else np.flatnonzero(mask)
        with quiet():
            for slot, field, kernel, node, ins in self.steps.get(clock, ()):
                if field >= 0:
                    new = rows[:, field]
                elif node.op == "as_of":
                    new = values[ins[0]]
                elif kernel is not None:
                    new = kernel.step(values[ins[0]], advancing)
                else:
                    new = ELEMENTWISE[node.op].vector(*(values[i] for i in ins), *node.params)
                values[slot] = new if every else np.where(mask, new, values[slot])

    def outputs(self) -> FloatArray:
        return np.stack([self.values[s] for s in self.plan.outputs], axis=1)


class _HigherBuilders:
    """One higher timeframe's bars for every symbol: ``HigherBarBuilder``'s rule, vectorised
    (the buckets are the same for every symbol; only which symbols have a bar differs)."""

    def __init__(self, interval: str, base_interval: str, n: int) -> None:
        check_higher(interval, base_interval)
        self.ms, self.offset = interval_ms(interval), interval_offset_ms(interval)
        self.base_ms = interval_ms(base_interval)
        self.bucket = np.full(n, -1, np.int64)  # −1: no bucket open
        self.end = np.zeros(n, np.int64)
        self.bar = np.full((n, len(HTF_FIELDS)), NAN)
        self.partial = np.zeros(n, np.bool_)
        self.started = np.zeros(n, np.bool_)

    def push(self, open_time: int, mask: Mask, base: FloatArray) -> list[tuple[FloatArray, Mask]]:
        """The higher bars the symbols' base bars complete: up to two rounds, oldest first."""
        rounds: list[tuple[FloatArray, Mask]] = []
        bucket = (open_time - self.offset) // self.ms
        stale = mask & (self.bucket >= 0) & (self.bucket != bucket)
        if stale.any():  # their bucket's last base bar was missing: this later bar ends it
            rounds.append(self._finish(stale))
        opening = mask & (self.bucket < 0)
        if opening.any():
            start = bucket * self.ms + self.offset
            self.partial[opening] = ~self.started[opening] & (open_time > start)
            self.started[opening] = True
            self.bucket[opening], self.end[opening] = bucket, start + self.ms
            self.bar[opening, 0] = float(start)
            self.bar[opening, 1:] = base[opening][:, [3, 4, 5, 6]]  # open high low close
        extending = mask & ~opening
        if extending.any():
            bar = self.bar
            bar[extending, 2] = np.maximum(bar[extending, 2], base[extending, 4])
            bar[extending, 3] = np.minimum(bar[extending, 3], base[extending, 5])
            bar[extending, 4] = base[extending, 6]
        complete = mask & (open_time + self.base_ms >= self.end)
        if complete.any():
            rounds.append(self._finish(complete))
        return [r for r in rounds if r[1].any()]

    def _finish(self, which: Mask) -> tuple[FloatArray, Mask]:
        emitted = which & ~self.partial
        rows = self.bar.copy()
        self.bucket[which], self.partial[which] = -1, False
        return rows, emitted


class UniverseFeatureState:
    """Every feature of every symbol of a universe, advanced one bar time at a time."""

    def __init__(
        self, symbols: Sequence[str], interval: str, spec: FeatureSpec = DEFAULT_SPEC
    ) -> None:
        if len(set(symbols)) != len(symbols) or not symbols:
            raise DataError("a universe needs distinct symbols, at least one")
        self.symbols = tuple(symbols)
        self.index = {s: k for k, s in enumerate(self.symbols)}
        self.interval, self._interval_ms = interval, interval_ms(interval)
        plan = plan_for(spec)
        self.names = plan.names
        n = len(symbols)
        self._plan = _VectorPlan(plan, n)
        self._higher = [(tf, _HigherBuilders(tf, interval, n)) for tf in plan.higher]
        self._last = np.full(n, -(2**62), np.int64)

    def update(self, open_time: int, bars: Bars) -> dict[str, FloatArray]:
        """The closed bars at ``open_time`` (symbol → open, high, low, close, volume, funding
        rate or NaN); each symbol's feature row, as its ``FeatureState`` would return it."""
        try:
            rows = np.array([self.index[s] for s in bars], np.int64)
        except KeyError as exc:
            raise DataError(f"{exc.args[0]} is not in this universe") from None
        values = self.update_rows(open_time, rows, np.array(list(bars.values()), np.float64))
        return {s: values[k] for s, k in zip(bars, rows.tolist(), strict=True)}

    def update_rows(
        self, open_time: int, rows: npt.NDArray[np.int64], ohlcvf: FloatArray
    ) -> FloatArray:
        """:meth:`update` from arrays: ``rows`` the symbols' positions in ``symbols``,
        ``ohlcvf`` their (open, high, low, close, volume, funding) bars; returns the
        feature matrix of every symbol (rows not updated hold their last values)."""
        n = len(self.symbols)
        if len(np.unique(rows)) != len(rows):
            raise DataError(f"a symbol has two bars at {open_time}")
        early = open_time - self._last[rows] < self._interval_ms
        if early.any():
            symbol = self.symbols[int(rows[np.argmax(early)])]
            raise DataError(
                f"{symbol}: bar at {open_time} is less than one {self.interval} interval "
                "after the previous bar; feed bars oldest first, once each"
            )
        if len(rows) and not np.isfinite(ohlcvf[:, :5]).all():
            bad = int(np.argmax(~np.isfinite(ohlcvf[:, :5]).all(axis=1)))
            raise DataError(
                f"{self.symbols[int(rows[bad])]}: bar at {open_time} has a NaN or infinite value"
            )
        mask = np.zeros(n, np.bool_)
        mask[rows] = True
        t = float(open_time)
        base = np.full((n, len(BASE_FIELDS)), NAN)
        base[rows, 0], base[rows, 1], base[rows, 2] = t, t + self._interval_ms, self._interval_ms
        base[rows, 3:] = ohlcvf
        self._last[rows] = open_time
        for tf, builders in self._higher:
            for higher_rows, ticking in builders.push(open_time, mask, base):
                self._plan.tick(tf, higher_rows, ticking)
        self._plan.tick(BASE, base, mask)
        return self._plan.outputs()
