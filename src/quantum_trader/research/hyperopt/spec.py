"""A study's definition, stored with it, so any worker can join from storage alone.

``quantum hyperopt`` writes the spec into the study (an Optuna user attribute); ``quantum
hyperopt worker --storage URL --study NAME`` reads it back: the strategy, the data path
and the fingerprint of its bars (a worker on another machine must hold the same bars at
that path, or it refuses), the split, the objective, the search space and the trading
settings every trial starts from. Re-running ``quantum hyperopt`` with the same study
name and the same options resumes it; other options are refused.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalRedisBackend

from quantum_trader.data.bars import BarSeries

SPEC_ATTR = "quantum_spec"
# the settings sections a trial's backtest takes from the study (the rest is local)
TRADING_SECTIONS = ("strategies", "policy", "sizing", "gate", "apply", "risk", "exits")


@dataclass(frozen=True)
class StudySpec:
    strategy: str
    data: str
    fingerprint: str
    symbols: list[str]
    timeframe: str | None
    objective: str
    folds: int
    holdout: float
    trials: int
    seed: int
    min_trades: int
    space: list[str]
    settings: dict[str, Any] = field(default_factory=dict)  # TRADING_SECTIONS
    balance: str | None = None
    fee: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def identity(self) -> str:
        """What names the study by default: everything but the number of trials."""
        return json.dumps({k: v for k, v in asdict(self).items() if k != "trials"}, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> StudySpec:
        return StudySpec(**json.loads(text))


def fingerprint(series: Sequence[BarSeries]) -> str:
    """The bars' identity: symbols, interval, every open time and OHLCV value."""
    digest = hashlib.sha256()
    for s in sorted(series, key=lambda x: x.symbol):
        digest.update(f"{s.symbol}|{s.interval}|{len(s)}".encode())
        for column in (s.open_time, s.open, s.high, s.low, s.close, s.volume):
            digest.update(column.tobytes())
    return digest.hexdigest()[:16]


def storage_for(url: str, prefix: str) -> JournalStorage:
    """Optuna's journal storage on the Redis at ``url``, under ``prefix`` (Optuna calls its
    Redis backend experimental; the warning says nothing a user can act on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return JournalStorage(JournalRedisBackend(url, prefix=prefix))


def open_study(
    storage: JournalStorage, name: str, spec: StudySpec | None, sampler_seed: int | None
) -> tuple[optuna.Study, StudySpec]:
    """The study ``name``: created with ``spec`` when new; resumed when ``spec`` equals
    the stored one (or is None: a joining worker); ValueError naming ``--study`` when it
    differs or (joining) when there is no such study."""
    with warnings.catch_warnings():  # constant_liar is "experimental" in Optuna's terms
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant liar: a running trial counts as a poor one, so parallel workers spread out
        sampler = optuna.samplers.TPESampler(seed=sampler_seed, constant_liar=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if name not in names:
        if spec is None:
            raise ValueError(f"--study: no study {name!r} in this storage (known: "
                             f"{', '.join(sorted(names)) or 'none'})")  # fmt: skip
        study = optuna.create_study(
            study_name=name, storage=storage, sampler=sampler, pruner=pruner, direction="maximize"
        )
        study.set_user_attr(SPEC_ATTR, spec.to_json())
        return study, spec
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    stored = study.user_attrs.get(SPEC_ATTR)
    if not isinstance(stored, str):
        raise ValueError(f"--study: {name!r} was not made by quantum hyperopt; pick another name")
    existing = StudySpec.from_json(stored)
    if spec is None:
        return study, existing
    changed = [k for k, v in asdict(spec).items() if k != "trials" and asdict(existing).get(k) != v]
    if changed:
        raise ValueError(
            f"--study: {name!r} exists with other {', '.join(changed)}; use the same options "
            "to resume it (--trials may change), or another --study name"
        )
    if spec.trials != existing.trials:  # more (or fewer) trials for the same study
        study.set_user_attr(SPEC_ATTR, spec.to_json())
    return study, spec
