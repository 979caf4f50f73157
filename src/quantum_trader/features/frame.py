"""Feature values: a ``FeatureFrame`` per symbol (bars × features) and a ``FeatureRow`` per bar.

Row ``i`` is stamped with bar ``i``'s open time and holds what was knowable when that bar
closed: it is computed from bars ``0..i`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quantum_trader.data.bars import DataError, FloatArray, IntArray

NAN = float("nan")


@dataclass(frozen=True, slots=True, eq=False)
class FeatureRow:
    """One bar's features, in ``names`` order."""

    symbol: str
    open_time: int
    names: tuple[str, ...]
    values: FloatArray

    def __getitem__(self, name: str) -> float:
        return float(self.values[self.names.index(name)])

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values.tolist(), strict=True))


@dataclass(frozen=True, slots=True, eq=False)
class FeatureFrame:
    """One symbol's features at every bar: ``values[i, k]`` is feature ``names[k]`` at bar i."""

    symbol: str
    open_time: IntArray
    names: tuple[str, ...]
    values: FloatArray

    def __post_init__(self) -> None:
        object.__setattr__(self, "open_time", np.ascontiguousarray(self.open_time, np.int64))
        values = np.ascontiguousarray(self.values, np.float64)
        if values.shape != (len(self.open_time), len(self.names)):
            raise DataError(
                f"{self.symbol}: feature values have shape {values.shape}, expected "
                f"({len(self.open_time)}, {len(self.names)}) (bars, names)"
            )
        if len(set(self.names)) != len(self.names):
            raise DataError(f"{self.symbol}: feature names repeat")
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return len(self.open_time)

    def column(self, name: str) -> FloatArray:
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise KeyError(f"{self.symbol}: no feature {name!r}") from None

    def row(self, i: int) -> FeatureRow:
        return FeatureRow(self.symbol, int(self.open_time[i]), self.names, self.values[i].copy())

    def select(self, names: Sequence[str]) -> FeatureFrame:
        columns = [self.names.index(n) for n in names]
        return FeatureFrame(self.symbol, self.open_time, tuple(names), self.values[:, columns])

    def join(self, other: FeatureFrame) -> FeatureFrame:
        """This frame's columns then ``other``'s, for the same symbol and bar times."""
        if other.symbol != self.symbol or not np.array_equal(other.open_time, self.open_time):
            raise DataError(
                f"cannot join {other.symbol} features to {self.symbol}: symbol or bar times differ"
            )
        values = np.concatenate([self.values, other.values], axis=1)
        return FeatureFrame(self.symbol, self.open_time, self.names + other.names, values)

    def reindex(self, open_time: IntArray) -> FeatureFrame:
        """The rows at ``open_time`` (sorted); NaN where this symbol has no bar then."""
        open_time = np.asarray(open_time, np.int64)
        values = np.full((len(open_time), len(self.names)), NAN)
        if len(self):
            position = np.minimum(np.searchsorted(self.open_time, open_time), len(self) - 1)
            found = self.open_time[position] == open_time
            values[found] = self.values[position[found]]
        return FeatureFrame(self.symbol, open_time, self.names, values)
