"""Fitting a model: two LightGBM heads with early stopping, calibrated out of sample.

A *fit* takes a training set and a validation set that follows it in time (purged, so no
training label looks into the validation window). Each head (``long``, ``short``) is a
binary LightGBM model of "this side's take-profit barrier is reached first", trained
with early stopping on the validation set; its isotonic calibration is then fitted on
the validation set's predictions, which the booster never trained on.

Training rows are thinned to one bar in ``sample_every`` (the same bars for every
symbol): neighbouring bars share almost all of their label's path, so keeping each of
them adds little but time. Validation and test rows are never thinned.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from quantum_trader.data.bars import DataError, interval_ms
from quantum_trader.model.calibration import Isotonic
from quantum_trader.model.dataset import Dataset
from quantum_trader.model.scorer import HEADS, ModelScorer, booster_from_text


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Walk-forward layout and LightGBM parameters of a training run."""

    folds: int = 4
    embargo_bars: int | None = None  # None: the label horizon
    validation_fraction: float = 0.2
    first_train_fraction: float = 0.4
    sample_every: int = 5
    rounds: int = 400
    early_stopping_rounds: int = 40
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 400
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 10.0
    num_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "folds": (2 <= self.folds <= 50, "in 2..50"),
            "validation_fraction": (0 < self.validation_fraction < 1, "in (0, 1)"),
            "first_train_fraction": (0 < self.first_train_fraction < 1, "in (0, 1)"),
            "sample_every": (self.sample_every >= 1, ">= 1"),
            "rounds": (self.rounds >= 1, ">= 1"),
            "early_stopping_rounds": (self.early_stopping_rounds >= 1, ">= 1"),
            "num_leaves": (self.num_leaves >= 2, ">= 2"),
            "min_data_in_leaf": (self.min_data_in_leaf >= 1, ">= 1"),
            "num_threads": (self.num_threads >= 1, ">= 1"),
            "learning_rate": (0 < self.learning_rate <= 1, "in (0, 1]"),
            "feature_fraction": (0 < self.feature_fraction <= 1, "in (0, 1]"),
            "bagging_fraction": (0 < self.bagging_fraction <= 1, "in (0, 1]"),
            "lambda_l2": (self.lambda_l2 >= 0, ">= 0"),
        }
        for name, (ok, allowed) in checks.items():
            if not ok:
                raise ValueError(f"{name} must be {allowed}, got {getattr(self, name)!r}")
        if self.embargo_bars is not None and self.embargo_bars < 0:
            raise ValueError(f"embargo_bars must be >= 0, got {self.embargo_bars}")

    def lightgbm_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, eq=False)
class Fit:
    """A fitted model: its scorer, its boosters' text and its calibrations."""

    scorer: ModelScorer
    head_texts: dict[str, str]
    calibration: dict[str, dict[str, list[float]]]
    best_rounds: dict[str, int]


def thinned(data: Dataset, rows: npt.NDArray[np.int64], every: int) -> npt.NDArray[np.int64]:
    """``rows`` at the bars of one bar in ``every`` (the same bars for every symbol)."""
    if every <= 1:
        return rows
    bar = data.time[rows] // interval_ms(data.interval)
    kept: npt.NDArray[np.int64] = rows[bar % every == 0]
    return kept


def targets(data: Dataset, head: str) -> npt.NDArray[np.int8]:
    return data.long_won if head == "long" else data.short_won


def fit_heads(
    data: Dataset,
    train: npt.NDArray[np.int64],
    validation: npt.NDArray[np.int64],
    config: TrainConfig,
    on_round: Callable[[], None] | None = None,
) -> Fit:
    """Both heads fitted on ``train`` rows, stopped early and calibrated on ``validation``."""
    import lightgbm

    train = thinned(data, train, config.sample_every)
    texts: dict[str, str] = {}
    curves: dict[str, Isotonic] = {}
    best: dict[str, int] = {}
    x_valid = data.features[validation]
    callbacks: list[Callable[..., None]] = [
        lightgbm.early_stopping(config.early_stopping_rounds, verbose=False)
    ]
    if on_round is not None:
        callbacks.append(lambda _env: on_round())
    labels = {head: (targets(data, head)[train], targets(data, head)[validation]) for head in HEADS}
    for head, (y_train, y_valid) in labels.items():
        for name, y in (("training", y_train), ("validation", y_valid)):
            if len(y) < 2 or y.min() == y.max():
                raise DataError(
                    f"the {name} rows of the {head} head have {len(y)} rows and only one "
                    "outcome; give more data, fewer folds or a shorter horizon"
                )
    # Both heads learn from the same rows: their features are binned once (the bins do
    # not depend on the label), and each head sets its own labels — the same trees as
    # two datasets would give, in less time.
    names = list(data.names)
    first_train, first_valid = labels[HEADS[0]]
    train_set = lightgbm.Dataset(data.features[train], first_train, feature_name=names)
    valid_set = lightgbm.Dataset(x_valid, first_valid, feature_name=names, reference=train_set)
    for head, (y_train, y_valid) in labels.items():
        train_set.set_label(y_train)
        valid_set.set_label(y_valid)
        booster = lightgbm.train(
            config.lightgbm_params(),
            train_set,
            num_boost_round=config.rounds,
            valid_sets=[valid_set],
            callbacks=callbacks,
        )
        best[head] = int(booster.best_iteration or booster.current_iteration())
        texts[head] = booster.model_to_string(num_iteration=best[head])
        raw = np.asarray(
            booster_from_text(texts[head]).predict(x_valid, num_threads=config.num_threads)
        )
        curves[head] = Isotonic.fit(raw, y_valid.astype(np.float64))
    scorer = ModelScorer(
        data.names,
        {head: booster_from_text(texts[head]) for head in HEADS},
        curves,
        config.num_threads,
    )
    calibration = {head: curves[head].to_dict() for head in HEADS}
    return Fit(scorer, texts, calibration, best)
