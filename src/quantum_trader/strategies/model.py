"""The ``model`` strategy: a trained signal model, scoring the whole universe at once.

At every bar's close the model scores every symbol: its features (its own and its
cross-section against the universe at that bar, :func:`quantum_trader.model.dataset.
feature_frames`) go through one batched predict per head, which gives the calibrated
chance that a LONG (a SHORT) entered at the next open reaches its take-profit barrier
before its stop. A symbol is entered on the side whose expected return after costs is
positive (:func:`quantum_trader.model.scorer.entry_sides`) — no confidence threshold —
at the bar where that edge begins (a bar whose side differs from the bar before: like a
rule strategy's cross, one intent per setup, not one per bar while it lasts), with the
stop at the model's stop barrier (``stop_atr`` × ATR, the stop it was trained to survive)
and the calibrated probability as the intent's confidence.

Parameters: ``model`` (an id or a unique prefix in the registry; empty: the promoted
model), ``models_dir`` (the registry; the backtest command passes
``QUANTUM_DATA_DIR/models``), ``cost`` (the round trip's fees and slippage as a fraction
of the price: twice the taker fee plus two basis points; the backtest command and
training pass it from the configured fee), ``filter`` (meta-labelling: trade another
strategy's entry signals, only those the model expects to pay after costs on their side,
with the model's probability as confidence), and ``scorer`` / ``barrier`` (a fitted model
in hand, as training passes its fold models).

The strategy scores a universe, not one symbol: the backtester asks it for every
series' signals at once (``universe_signals``), and the live signal engine steps the
same universe one bar time at a time (``model_live.LiveModel``, held equal to this by a
test), with the same :func:`entry_signal` and :func:`judged_signal`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import quantum_trader.strategies.params as params
import quantum_trader.strategies.vector as vector
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.funding import FundingSeries
from quantum_trader.domain.enums import PositionSide
from quantum_trader.model.card import ModelCard
from quantum_trader.model.dataset import atr_column, feature_frames
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.registry import ModelError, Registry
from quantum_trader.model.scorer import (
    Scorer,
    entry_sides,
    expected_returns,
    load_scorer,
    round_trip_cost,
)
from quantum_trader.strategies.base import (
    FLAT,
    AnyStrategy,
    Bar,
    Signal,
    SignalSide,
    Strategy,
    StrategyState,
    fold_signals,
    get_strategy,
    register,
)
from quantum_trader.strategies.features import REGIME_BAND_ATR

DEFAULT_COST = round_trip_cost(0.0005)  # callers pass the one from their taker fee
UniverseOutput = list[tuple[dict[int, SignalSide], Callable[[int], Signal]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelState(StrategyState):
    pass


@register("model")
class ModelStrategy(Strategy[ModelState]):
    """The promoted (or a pinned) signal model: enters where its calibrated edge beats
    the round trip's cost (``quantum model train``)."""

    universe = True  # scores every symbol at once (see the module docstring)

    def __init__(
        self,
        *,
        model: str = "",
        models_dir: str = "",
        cost: float = DEFAULT_COST,
        filter: str = "",
        scorer: Scorer | None = None,
        barrier: BarrierConfig | None = None,
    ) -> None:
        self.cost = params.non_negative_float("cost", cost)
        self.model_id = model
        self.base: AnyStrategy | None = None
        self.card: ModelCard | None = None  # the registered model, when loaded from one
        if filter:
            if filter == self.name:
                raise ValueError("filter: name a rule strategy whose signals the model judges")
            self.base = get_strategy(filter)
        if scorer is not None:
            if barrier is None:
                raise ValueError("barrier: give the barriers the scorer was trained with")
            self.scorer, self.barrier = scorer, barrier
            return
        if not models_dir:
            raise ValueError("models_dir: the model registry is needed to load a model")
        registry = Registry(Path(models_dir))
        try:
            wanted = model or registry.promoted()
            if not wanted:
                raise ModelError(
                    "no model is promoted; train one (quantum model train) or name one "
                    "with --param model=ID"
                )
            card, self.scorer = load_scorer(registry, wanted)
        except ModelError as exc:
            raise ValueError(f"model: {exc}") from None
        self.card = card
        self.model_id = card.model_id
        self.barrier = BarrierConfig(
            float(card.barrier["take_profit_atr"]),
            float(card.barrier["stop_atr"]),
            int(card.barrier["horizon_bars"]),
        )

    def initial_state(self, symbol: str) -> ModelState:
        return ModelState(symbol=symbol)

    def advance(self, state: ModelState, bar: Bar) -> tuple[ModelState, Signal | None]:
        raise ValueError(
            "the model strategy scores the whole universe at once: step it with "
            "model_live.LiveModel, not one symbol at a time"
        )

    def universe_signals(
        self, series: Sequence[BarSeries], funding: Mapping[str, FundingSeries] | None = None
    ) -> UniverseOutput:
        """Every series' entry signals: (side by bar, the signal at a bar on demand)."""
        if self.card is not None and any(s.interval != self.card.interval for s in series):
            given = sorted({s.interval for s in series})
            raise ValueError(
                f"model: {self.card.model_id} was trained on {self.card.interval} bars, these "
                f"are {', '.join(given)}: pass --timeframe {self.card.interval}"
            )
        frames = feature_frames(series, funding)
        names = self.scorer.names
        stacked = np.concatenate([frames[s.symbol].select(names).values for s in series])
        times = np.concatenate([s.open_time for s in series])
        p_long, p_short = self.scorer.probabilities(stacked, times)  # one batched predict
        out: UniverseOutput = []
        start = 0
        for s in series:
            rows = slice(start, start + len(s))
            start += len(s)
            atr_rel = frames[s.symbol].column(atr_column())
            if self.base is not None:
                out.append(self._judged(s, p_long[rows], p_short[rows], atr_rel))
                continue
            side, ev = entry_sides(p_long[rows], p_short[rows], atr_rel, self.barrier, self.cost)
            out.append(self._signals(s, side, ev, p_long[rows], p_short[rows], atr_rel))
        return out

    def _judged(
        self, s: BarSeries, p_long: np.ndarray, p_short: np.ndarray, atr_rel: np.ndarray
    ) -> tuple[dict[int, SignalSide], Callable[[int], Signal]]:
        """Meta-labelling: the base strategy's entry signals that the model expects to
        pay after costs on their own side, stamped as the model's with its probability."""
        assert self.base is not None
        columns = [c.tolist() for c in (s.open_time, s.open, s.high, s.low, s.close, s.volume)]
        ev_long, ev_short = expected_returns(p_long, p_short, atr_rel, self.barrier, self.cost)
        kept: dict[int, Signal] = {}
        for i, signal in fold_signals(self.base, s.symbol, s.interval, columns).items():
            long = signal.side is PositionSide.LONG
            if signal.side is FLAT or not (ev_long[i] if long else ev_short[i]) > 0:
                continue  # no entry, or one the model does not expect to pay
            kept[i] = judged_signal(
                signal, p_long[i] if long else p_short[i], ev_long[i] if long else ev_short[i]
            )
        return {i: k.side for i, k in kept.items()}, kept.__getitem__

    def _signals(
        self,
        s: BarSeries,
        side: np.ndarray,
        ev: np.ndarray,
        p_long: np.ndarray,
        p_short: np.ndarray,
        atr_rel: np.ndarray,
    ) -> tuple[dict[int, SignalSide], Callable[[int], Signal]]:
        before = np.concatenate(([0], side[:-1]))
        entries = np.flatnonzero((side != 0) & (side != before))  # where a side's edge begins
        sides: dict[int, SignalSide] = {
            int(i): PositionSide.LONG if side[i] > 0 else PositionSide.SHORT for i in entries
        }
        atr = atr_rel * s.close
        atr_mean = np.full(len(s), np.nan)
        ready = np.flatnonzero(np.isfinite(atr))
        if len(ready):
            atr_mean[ready[0] :] = vector.ema(atr[ready[0] :], 50)
        trend = vector.ema(s.close, 200)

        def at(i: int) -> Signal:
            return entry_signal(
                s.symbol, int(s.open_time[i]), side[i] > 0,
                p_long[i] if side[i] > 0 else p_short[i], ev[i],
                (float(s.close[i]), float(atr_rel[i]), float(trend[i]), float(atr_mean[i])),
                self.barrier, self.name,
            )  # fmt: skip

        return sides, at


def entry_signal(
    symbol: str,
    bar_time: int,
    long: bool,
    probability: float,
    expected_return: float,
    levels: tuple[float, float, float, float],
    barrier: BarrierConfig,
    strategy: str = ModelStrategy.name,
) -> Signal:
    """The model's entry at one bar: ``levels`` = (close, ATR / close, the close's
    200-bar EMA, the ATR's 50-bar EMA); the stop at the stop barrier, the take-profit at
    the take-profit barrier, the calibrated probability as confidence. One function for
    the backtest's vectors and the live engine's bar (``model_live``)."""
    close, atr_rel, trend, atr_mean = levels
    atr = atr_rel * close
    band = REGIME_BAND_ATR * atr
    regime = 1.0 if close > trend + band else -1.0 if close < trend - band else 0.0
    win = barrier.take_profit_atr
    return Signal(
        symbol=symbol,
        side=PositionSide.LONG if long else PositionSide.SHORT,
        confidence=float(probability),
        strategy=strategy,
        bar_time=bar_time,
        price=close,
        stop_distance=float(barrier.stop_atr * atr),
        take_profit_distance=float(win * atr),
        features={
            "regime": regime,
            "signal_strength": float(min(1.0, max(0.0, expected_return / (win * atr_rel)))),
            "volatility_ratio": float(atr / atr_mean if atr_mean > 0 else 1.0),
            "atr": float(atr),
            "expected_return": float(expected_return),
        },
    )


def judged_signal(signal: Signal, probability: float, expected_return: float) -> Signal:
    """A rule strategy's entry the model expects to pay after costs, as the model's."""
    return replace(
        signal,
        strategy=ModelStrategy.name,
        confidence=float(probability),
        features={
            **signal.features,
            "expected_return": float(expected_return),
            "base_confidence": signal.confidence,
        },
    )
