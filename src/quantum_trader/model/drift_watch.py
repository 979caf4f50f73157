"""Drift and decay of the model in service, bar by bar (what ``quantum model drift`` checks
on a file, on the bars the live engine scores).

:class:`DriftWatch` keeps the last ``live_window_rows`` scored feature rows and compares them with
the training distribution kept in the card (``drift.feature_drift``: PSI per feature,
missing values and calendar features left out). It also follows each scored row until
its outcome is known — the symbol's close ``horizon`` of its own bars later against the
next bar's open, the dataset's ``forward_return`` — and counts, on rows one horizon apart
as the offline test does, how often the sign of ``p_long − p_short`` was right; the
binomial decay test compares that hit rate with the out-of-sample one of the card.

Every ``live_check_bars`` bar times (once ``live_min_rows`` rows are in) ``observe``
returns the verdict (``drift.verdict``) with its numbers; the caller decides what a
drifted or decayed model may still do. Statistics of features and outcomes, never money.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantum_trader.model.drift import DriftRules, decay_test, feature_drift, verdict

FloatArray = np.ndarray


@dataclass
class _Pending:
    time: int
    score: float
    entry: float = float("nan")  # the next bar's open
    bars: int = 0  # the symbol's bars since


@dataclass
class DriftWatch:
    reference: Mapping[str, Mapping[str, Sequence[float]]]
    names: tuple[str, ...]
    expected_hit_rate: float
    horizon: int
    interval_ms: int
    rules: DriftRules  # its live_* fields: window, minimum rows, bar times between checks
    hits: int = 0
    trials: int = 0
    _rows: deque[FloatArray] = field(default_factory=deque)
    _count: int = 0
    _pending: dict[str, deque[_Pending]] = field(default_factory=dict)
    _since_check: int = 0

    def observe(
        self,
        time: int,
        symbols: Sequence[str],
        features: FloatArray,
        scores: FloatArray,
        bars: Mapping[str, tuple[float, float]],
    ) -> dict[str, Any] | None:
        """One scored bar time: ``features`` (rows × ``names``) and ``scores``
        (p_long − p_short) of ``symbols``, ``bars`` their (open, close). A verdict every
        ``live_check_bars`` bar times, else None."""
        for symbol in symbols:
            self._mature(symbol, *bars[symbol])
        apart = (time // self.interval_ms) % self.horizon == 0
        for k, symbol in enumerate(symbols):
            if apart and np.isfinite(scores[k]) and scores[k] != 0:
                self._pending.setdefault(symbol, deque()).append(_Pending(time, float(scores[k])))
        self._rows.append(features)
        self._count += len(features)
        while self._rows and self._count - len(self._rows[0]) >= self.rules.live_window_rows:
            self._count -= len(self._rows.popleft())
        self._since_check += 1
        rules = self.rules
        if self._since_check < rules.live_check_bars or self._count < rules.live_min_rows:
            return None
        self._since_check = 0
        return self.check()

    def check(self) -> dict[str, Any]:
        rows = np.concatenate(list(self._rows)) if self._rows else np.empty((0, len(self.names)))
        psi, missing = feature_drift(self.reference, rows, self.names)
        p_value = decay_test(self.hits, self.trials, self.expected_hit_rate)
        return {
            **verdict(psi, p_value, self.rules, missing),
            "hit_rate": self.hits / self.trials if self.trials else None,
            "expected_hit_rate": self.expected_hit_rate,
            "hit_p_value": p_value,
            "trials": self.trials,
            "rows": self._count,
        }

    def _mature(self, symbol: str, open_: float, close: float) -> None:
        """This bar of ``symbol``: the entry of rows scored at its previous bar, one bar
        more for the others, and the outcome of those ``horizon`` bars old."""
        queue = self._pending.get(symbol)
        if not queue:
            return
        for item in queue:
            if item.bars == 0:
                item.entry = open_
            item.bars += 1
        while queue and queue[0].bars >= self.horizon:
            item = queue.popleft()
            forward = close / item.entry - 1.0
            if forward != 0 and np.isfinite(forward):
                self.trials += 1
                self.hits += int(np.sign(forward) == np.sign(item.score))
