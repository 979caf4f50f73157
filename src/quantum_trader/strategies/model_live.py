"""The ``model`` strategy in the live signal engine: the universe one bar time at a time.

:class:`LiveModel` is :meth:`ModelStrategy.universe_signals` for a bar that has just
closed: the symbols that have a bar at that time advance their features together
(:class:`~quantum_trader.features.universe.UniverseFeatureState`, equal to the whole-array
computation the backtest and training use), the bar's cross-section is taken over those
symbols, both heads score them in one batched predict, and :func:`entry_sides` picks each
symbol's side. A symbol is entered where its side differs from its own previous bar's
(the backtest's onset rule), through the same :func:`entry_signal`; with ``filter`` the
rule strategy's entries are judged by the same expected return (:func:`judged_signal`).

``swap`` changes the model in service between bars (a promotion): the features, the
onset memory and the rule strategy's state go on, so the next bar is scored by the new
model without a restart. A bar's funding rate (the last settled at or before its close)
comes beside it, NaN where unknown, as the backtest's features take it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from quantum_trader.domain.enums import PositionSide
from quantum_trader.features.catalog import cross_section_names
from quantum_trader.features.cross_section import cross_section_matrix
from quantum_trader.features.universe import UniverseFeatureState
from quantum_trader.model.dataset import atr_column, model_spec
from quantum_trader.model.scorer import entry_sides, expected_returns
from quantum_trader.strategies.base import FLAT, AnyStrategy, Bar, Signal
from quantum_trader.strategies.model import ModelStrategy, entry_signal, judged_signal

TREND_SPAN, ATR_SPAN = 200, 50  # the EMAs of the backtest's ``ModelStrategy._signals``
OHLCV = tuple[float, float, float, float, float]
Funding = Mapping[str, float]  # symbol → the funding rate known at its bar's close


class LiveModel:
    """One universe's model signals, bar time by bar time (module docstring).

    ``base`` is the rule strategy a ``filter`` model judges (its state is folded from
    the first bar, model or not); ``strategy`` the model, which may come later (``swap``):
    until then the bars only advance the features."""

    def __init__(
        self,
        symbols: Sequence[str],
        interval: str,
        strategy: ModelStrategy | None = None,
        base: AnyStrategy | None = None,
    ) -> None:
        self.symbols = tuple(symbols)
        self.interval = interval
        spec = model_spec(interval)
        self.spec = spec
        self.features = UniverseFeatureState(self.symbols, interval, spec)
        self.columns = (*self.features.names, *cross_section_names(spec))
        self.atr_index = self.columns.index(atr_column(spec))
        n = len(self.symbols)
        self.previous = np.zeros(n, np.int8)  # each symbol's side at its last scored bar
        self.trend = np.full(n, np.nan)
        self.atr_mean = np.full(n, np.nan)
        self.seeded = {"trend": np.zeros(n, np.bool_), "atr": np.zeros(n, np.bool_)}
        self.last_time: dict[str, int] = {}
        self.base = base if base is not None else strategy.base if strategy else None
        self.base_states = (
            {s: self.base.initial_state(s) for s in self.symbols} if self.base else {}
        )
        self.strategy: ModelStrategy | None = None
        self.select = np.empty(0, np.int64)
        self._base_signals: dict[str, Signal] = {}
        # the last bar time scored: symbols, their model inputs, p_long − p_short, closes
        self.scored: tuple[list[str], np.ndarray, np.ndarray, np.ndarray] | None = None
        if strategy is not None:
            self.swap(strategy)

    @property
    def model_id(self) -> str:
        return self.strategy.model_id if self.strategy is not None else ""

    def swap(self, strategy: ModelStrategy) -> None:
        """Serve ``strategy``'s model from the next bar on (refused, saying why, if it was
        trained on other bars or judges another rule strategy)."""
        card = strategy.card
        if card is not None and card.interval != self.interval:
            raise ValueError(
                f"model: {card.model_id} was trained on {card.interval} bars, the signal "
                f"engine runs {self.interval}: set strategies.interval = {card.interval}"
            )
        missing = [name for name in strategy.scorer.names if name not in self.columns]
        if missing:
            raise ValueError(f"model: {strategy.model_id} needs features {missing[:3]} …")
        base = strategy.base.name if strategy.base else ""
        if base != (self.base.name if self.base else ""):
            raise ValueError(f"model: this engine's filter is not {base or 'empty'}")
        self.strategy = strategy
        self.select = np.array([self.columns.index(n) for n in strategy.scorer.names], np.int64)

    def fold(
        self, open_time: int, bars: Mapping[str, OHLCV], funding: Funding | None = None
    ) -> None:
        """Advance the features without scoring (a bar after its time was scored, or no
        model yet): each symbol's side at its last scored bar stays."""
        self._advance(open_time, bars, funding or {})

    def step(
        self,
        open_time: int,
        bars: Mapping[str, OHLCV],
        emit: bool = True,
        funding: Funding | None = None,
    ) -> list[Signal]:
        """The closed bars at ``open_time`` (symbol → open, high, low, close, volume) and
        their funding rates (symbol → the rate known at the bar's close; NaN or absent:
        unknown): the entries they signal, in symbol order (none when ``emit`` is False:
        warm-up)."""
        advanced = self._advance(open_time, bars, funding or {})
        strategy = self.strategy
        if advanced is None or strategy is None:
            return []
        symbols, rows, batch, close = advanced
        atr_rel = batch[:, self.atr_index]
        times = np.full(len(rows), open_time, np.int64)
        selected = batch[:, self.select]
        p_long, p_short = strategy.scorer.probabilities(selected, times)
        self.scored = (symbols, selected, p_long - p_short, close)  # for the drift watch
        if self.base is not None:
            return self._judged(symbols, (p_long, p_short), atr_rel) if emit else []
        side, ev = entry_sides(p_long, p_short, atr_rel, strategy.barrier, strategy.cost)
        onset = (side != 0) & (side != self.previous[rows])
        self.previous[rows] = side
        if not emit:
            return []
        out = []
        for k in np.flatnonzero(onset).tolist():
            r, long = rows[k], side[k] > 0
            levels = (
                float(close[k]),
                float(atr_rel[k]),
                float(self.trend[r]),
                float(self.atr_mean[r]),
            )
            p = float(p_long[k] if long else p_short[k])
            signal = entry_signal(
                symbols[k], open_time, long, p, float(ev[k]), levels, strategy.barrier
            )
            out.append(signal)
        return out

    def _advance(
        self, open_time: int, bars: Mapping[str, OHLCV], funding: Funding
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray] | None:
        """Features, levels and the rule strategy's state through ``bars``; the symbols,
        their rows, their feature batch (own and cross-section) and closes."""
        fresh = {s: b for s, b in bars.items() if self.last_time.get(s, -1) < open_time}
        if not fresh:
            return None
        symbols = sorted(fresh, key=self.features.index.__getitem__)
        rows = np.array([self.features.index[s] for s in symbols], np.int64)
        ohlcvf = np.array([(*fresh[s], funding.get(s, np.nan)) for s in symbols], np.float64)
        own = self.features.update_rows(open_time, rows, ohlcvf)[rows]
        for s in symbols:
            self.last_time[s] = open_time
        batch = np.hstack([own, cross_section_matrix(own, self.features.names, self.spec)])
        close = ohlcvf[:, 3]
        self._levels(rows, close, batch[:, self.atr_index] * close)
        self._base_signals = {}
        if self.base is not None:
            for s in symbols:
                o, h, low, c, v = fresh[s]
                bar = Bar(s, self.interval, open_time, o, h, low, c, v)
                self.base_states[s], signal = self.base.on_bar(self.base_states[s], bar)
                if signal is not None and signal.side is not FLAT:
                    self._base_signals[s] = signal
        return symbols, rows, batch, close

    def _levels(self, rows: np.ndarray, close: np.ndarray, atr: np.ndarray) -> None:
        """The EMAs of the close and of the ATR, seeded as the backtest seeds them (the
        first close, the first finite ATR) and run with ``vector.ema``'s expression, so
        they are bit for bit the same."""
        for name, values, target, span in (
            ("trend", close, self.trend, TREND_SPAN),
            ("atr", atr, self.atr_mean, ATR_SPAN),
        ):
            seeded = self.seeded[name]
            was = seeded[rows]
            previous = target[rows]
            with np.errstate(invalid="ignore"):
                stepped = previous + 2.0 / (span + 1) * (values - previous)
            target[rows] = np.where(was, stepped, values)
            seeded[rows] = was | np.isfinite(values)

    def _judged(
        self, symbols: list[str], probabilities: tuple[np.ndarray, np.ndarray], atr_rel: np.ndarray
    ) -> list[Signal]:
        """Meta-labelling: the rule strategy's entries at this bar that the model expects
        to pay after costs on their side, as the model's."""
        assert self.strategy is not None
        p_long, p_short = probabilities
        ev_long, ev_short = expected_returns(
            p_long, p_short, atr_rel, self.strategy.barrier, self.strategy.cost
        )
        out = []
        for k, symbol in enumerate(symbols):
            signal = self._base_signals.get(symbol)
            if signal is None:
                continue
            long = signal.side is PositionSide.LONG
            ev = float(ev_long[k] if long else ev_short[k])
            if ev > 0:
                out.append(judged_signal(signal, float(p_long[k] if long else p_short[k]), ev))
        return out
