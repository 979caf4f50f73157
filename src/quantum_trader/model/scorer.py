"""A trained model as a scorer: features in, calibrated take-profit probabilities out.

A model has two heads, ``long`` and ``short``: LightGBM boosters (text format) that
estimate the chance a LONG (a SHORT) entered at the next open reaches its take-profit
barrier before its stop, each followed by its isotonic calibration fitted out of sample.
Scoring a bar's universe is one batched predict per head.

:func:`entry_sides` is the entry rule: the side whose expected return after costs is
positive (and the larger, when both are). With calibrated ``p`` and the barriers'
distances, a LONG's expected return is ``p·k·a − (1 − p)·m·a − cost`` (``a`` = ATR /
price, ``k`` / ``m`` the take-profit / stop multiples, ``cost`` the round trip's fees
and slippage): every outcome that is not the take-profit is counted as the full stop,
so the estimate errs on the side of not trading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from quantum_trader.data.bars import FloatArray, IntArray
from quantum_trader.model.calibration import Isotonic
from quantum_trader.model.card import ModelCard
from quantum_trader.model.dataset import model_feature_version
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.registry import Registry

HEADS = ("long", "short")
SLIPPAGE_ALLOWANCE = 0.0002  # two basis points for the two market fills of a round trip


def round_trip_cost(taker_fee: float) -> float:
    """A round trip's costs as a fraction of the price: two taker fees and slippage."""
    return 2 * float(taker_fee) + SLIPPAGE_ALLOWANCE


class Scorer(Protocol):
    """Calibrated (p_long, p_short) for feature rows; NaN where it has no opinion."""

    @property
    def names(self) -> tuple[str, ...]: ...

    def probabilities(
        self, features: FloatArray, times: IntArray
    ) -> tuple[FloatArray, FloatArray]: ...


def load_scorer(registry: Registry, model_id: str) -> tuple[ModelCard, ModelScorer]:
    """A registered model ready to score, refused (ModelError, saying why) when it is
    corrupt or was trained on other feature definitions than this code computes."""
    interval = registry.card(model_id).interval
    card, texts = registry.load(model_id, model_feature_version(interval))
    return card, ModelScorer.from_texts(card.feature_names, texts, card.calibration)


def booster_from_text(text: str) -> Any:
    import lightgbm  # imported when a model is used: it is slow to import

    return lightgbm.Booster(model_str=text)


@dataclass(frozen=True, slots=True, eq=False)
class ModelScorer:
    """One model: its boosters and calibrations, scoring any rows at any time."""

    names: tuple[str, ...]
    boosters: Mapping[str, Any]
    calibration: Mapping[str, Isotonic]
    num_threads: int = 1

    @classmethod
    def from_texts(
        cls,
        names: Sequence[str],
        head_texts: Mapping[str, str],
        calibration: Mapping[str, Mapping[str, list[float]]],
        num_threads: int = 1,
    ) -> ModelScorer:
        boosters = {head: booster_from_text(head_texts[head]) for head in HEADS}
        curves = {head: Isotonic.from_dict(dict(calibration[head])) for head in HEADS}
        return cls(tuple(names), boosters, curves, num_threads)

    def raw(self, features: FloatArray) -> dict[str, FloatArray]:
        """Each head's uncalibrated probability."""
        if features.ndim != 2 or features.shape[1] != len(self.names):
            raise ValueError(
                f"the model takes {len(self.names)} features per row, got shape {features.shape}"
            )
        if not len(features):
            return {head: np.empty(0) for head in HEADS}
        return {
            head: np.asarray(
                self.boosters[head].predict(features, num_threads=self.num_threads), np.float64
            )
            for head in HEADS
        }

    def probabilities(self, features: FloatArray, times: IntArray) -> tuple[FloatArray, FloatArray]:
        raw = self.raw(features)
        return (
            self.calibration["long"].apply(raw["long"]),
            self.calibration["short"].apply(raw["short"]),
        )


@dataclass(frozen=True, slots=True, eq=False)
class WindowScorer:
    """Walk-forward scoring: each window's rows by the model trained before it, and no
    opinion (NaN) outside every window — so a backtest of it is out of sample."""

    names: tuple[str, ...]
    windows: tuple[tuple[int, int, ModelScorer], ...]  # (from_ms, to_ms inclusive, model)

    def probabilities(self, features: FloatArray, times: IntArray) -> tuple[FloatArray, FloatArray]:
        p_long, p_short = np.full(len(times), np.nan), np.full(len(times), np.nan)
        for from_ms, to_ms, model in self.windows:
            rows = np.flatnonzero((times >= from_ms) & (times <= to_ms))
            if len(rows):
                p_long[rows], p_short[rows] = model.probabilities(features[rows], times[rows])
        return p_long, p_short


def expected_returns(
    p_long: FloatArray, p_short: FloatArray, atr_rel: FloatArray, barrier: BarrierConfig,
    cost: float,
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Each side's expected return after costs (see the module docstring)."""
    win, lose = barrier.take_profit_atr * atr_rel, barrier.stop_atr * atr_rel
    return p_long * win - (1 - p_long) * lose - cost, p_short * win - (1 - p_short) * lose - cost


def entry_sides(
    p_long: FloatArray, p_short: FloatArray, atr_rel: FloatArray, barrier: BarrierConfig,
    cost: float,
) -> tuple[npt.NDArray[np.int8], FloatArray]:  # fmt: skip
    """+1 LONG / −1 SHORT / 0 none per row, and the chosen side's expected return."""
    ev_long, ev_short = expected_returns(p_long, p_short, atr_rel, barrier, cost)
    ev_long, ev_short = np.nan_to_num(ev_long, nan=-1.0), np.nan_to_num(ev_short, nan=-1.0)
    side = np.where((ev_long > 0) & (ev_long >= ev_short), 1, np.where(ev_short > 0, -1, 0)).astype(
        np.int8
    )
    return side, np.where(side > 0, ev_long, np.where(side < 0, ev_short, 0.0))
