"""What the lookahead check compares and finds: changes, coverage, the report.

See :mod:`quantum_trader.backtest.lookahead` for the check itself. Floats count as equal
within :data:`TOLERANCE` (absolute, or relative above 1: the features' own bar-by-bar
equality); a value that reads a later bar moves by far more.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from quantum_trader.domain.timefmt import iso_utc
from quantum_trader.strategies import Signal, SignalSide

TOLERANCE = 1e-9
DEFAULT_SAMPLES = 20  # truncations per strategy and series (the model: per universe)
MAX_CHANGES = 500  # changes kept for the report; ``changed_total`` counts them all
PER_NAME = 5  # kept per (strategy, field or feature, symbol, check): every culprit shows
TRUNCATED, BAR_BY_BAR = "truncated", "bar_by_bar"
SIGNAL_FIELDS = ("price", "confidence", "stop_distance", "take_profit_distance",
                 "stop_pct", "target_pct")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Change:
    """One value the full run has and a run that could not see the future has not.

    ``name`` is the signal field (``side``, ``confidence``, ``features.atr``, …) or the
    feature; ``full`` / ``truncated`` the two values (None: no signal at that bar);
    ``check`` which comparison found it (``truncated`` or ``bar_by_bar``)."""

    kind: str  # "signal" | "feature"
    strategy: str
    name: str
    symbol: str
    bar_index: int
    bar_time: int
    full: object
    truncated: object
    check: str

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "strategy": self.strategy,
            "name": self.name,
            "symbol": self.symbol,
            "bar_time": iso_utc(self.bar_time),
            "bar_index": self.bar_index,
            "full": self.full,
            "truncated": self.truncated,
            "check": self.check,
        }


@dataclass(slots=True)
class Coverage:
    """What was compared for one strategy on one series (``symbol`` "": the universe)."""

    strategy: str
    symbol: str
    signals: int = 0  # signal bars of the full run's column form
    truncations: int = 0  # recomputations on bars cut at a signal bar
    bar_by_bar: int = 0  # signals (model: feature rows) compared with the bar-by-bar form
    features: int = 0  # feature columns compared (model)
    note: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "symbol": self.symbol or None,
            "signals": self.signals,
            "truncations": self.truncations,
            "bar_by_bar": self.bar_by_bar,
            "features": self.features,
            "note": self.note or None,
        }


@dataclass(slots=True)
class Changes:
    """Changes found so far: each (kind, strategy, name, symbol, bar, check) counted
    once; the first :data:`PER_NAME` of each field or feature on each symbol kept."""

    kept: list[Change] = field(default_factory=list)
    total: int = 0
    _seen: set[tuple[object, ...]] = field(default_factory=set)
    _per_name: dict[tuple[str, ...], int] = field(default_factory=dict)

    def add(self, change: Change) -> None:
        name = (change.kind, change.strategy, change.name, change.symbol, change.check)
        key = (*name, change.bar_index)
        if key in self._seen:
            return
        self._seen.add(key)
        self.total += 1
        shown = self._per_name.get(name, 0)
        if shown < PER_NAME and len(self.kept) < MAX_CHANGES:
            self._per_name[name] = shown + 1
            self.kept.append(change)


@dataclass(frozen=True, slots=True, eq=False)
class LookaheadReport:
    coverage: tuple[Coverage, ...]
    changes: tuple[Change, ...]
    changed_total: int
    seconds: float

    @property
    def clean(self) -> bool:
        return self.changed_total == 0

    @property
    def checked(self) -> int:
        """Signal bars recomputed on data cut at their bar (the model: cut times)."""
        return sum(c.truncations for c in self.coverage)

    def as_json(self) -> dict[str, object]:
        return {
            "clean": self.clean,
            "checked": self.checked,
            "bar_by_bar": sum(c.bar_by_bar for c in self.coverage),
            "seconds": round(self.seconds, 3),
            "tolerance": TOLERANCE,
            "strategies": [c.as_json() for c in self.coverage],
            "changed_total": self.changed_total,
            "changed": [c.as_json() for c in self.changes],
        }


def nan_safe(value: float) -> float | str:
    """A float for JSON: ``nan`` / ``inf`` as text (JSON has no such numbers)."""
    return value if math.isfinite(value) else str(value)


def differs(a: float | None, b: float | None) -> bool:
    """Not equal within :data:`TOLERANCE` (absolute, or relative above 1); NaN equals NaN."""
    if a is None or b is None:
        return a is not b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) != math.isnan(b)
    return abs(a - b) > TOLERANCE * max(1.0, abs(a))


def sample_bars(bars: Sequence[int], samples: int, seed: int, salt: str) -> list[int]:
    """Every bar when there are at most ``samples``; else the first, the last and a sample
    of the rest drawn with ``seed`` (and ``salt``: one strategy and series)."""
    if samples <= 0 or len(bars) <= samples:
        return list(bars)
    rng = np.random.default_rng([seed, zlib.crc32(salt.encode())])
    middle = rng.choice(len(bars) - 2, size=max(0, samples - 2), replace=False) + 1
    return sorted({bars[0], bars[-1], *(bars[int(k)] for k in middle)})


def side_name(side: SignalSide | None) -> str | None:
    return None if side is None else str(side.value)


def signal_changes(
    full: Signal, other: Signal, strategy: str, index: int, check: str
) -> Iterable[Change]:
    """Every field in which two signals of one bar differ."""

    def change(name: str, a: object, b: object) -> Change:
        return Change("signal", strategy, name, full.symbol, index, full.bar_time, a, b, check)

    if full.side is not other.side:
        yield change("side", side_name(full.side), side_name(other.side))
        return
    for name in SIGNAL_FIELDS:
        a, b = getattr(full, name), getattr(other, name)
        if differs(a, b):
            yield change(name, a, b)
    for key in sorted(set(full.features) | set(other.features)):
        a, b = full.features.get(key), other.features.get(key)
        if differs(a, b):
            yield change(f"features.{key}", a, b)


def safe_signal(build: Callable[[int], Signal], i: int) -> Signal | str:
    """The signal at bar ``i``, or why the column form could not build it."""
    try:
        return build(i)
    except Exception as exc:  # a column form that cannot build its own signal: say why
        return f"error: {exc}"


def compare_signal(
    strategy: str,
    symbol: str,
    index: int,
    bar_time: int,
    full: Signal | str,
    other: Signal | str,
    check: str,
) -> Iterable[Change]:
    """The changes between two signals of one bar (or the error building one)."""
    if isinstance(full, Signal) and isinstance(other, Signal):
        yield from signal_changes(full, other, strategy, index, check)
    elif full != other:
        a, b = (s if isinstance(s, str) else side_name(s.side) for s in (full, other))
        yield Change("signal", strategy, "side", symbol, index, bar_time, a, b, check)
