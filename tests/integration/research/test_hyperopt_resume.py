"""A worker interrupted mid-trial (Ctrl-C) fails the trial in hand, queues its parameters
again and gives its slot back; the next run of the study evaluates exactly them and
ends at --trials, with no trial counted twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from quantum_trader.backtest.runner import BacktestRequest, load_bars
from quantum_trader.bootstrap import engine_config
from quantum_trader.config import Settings, load_settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.writers import dump_name, write_klines_csv
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.research.hyperopt import trials as trial_module
from quantum_trader.research.hyperopt.coordination import Coordination
from quantum_trader.research.hyperopt.folds import split_market
from quantum_trader.research.hyperopt.report import counted
from quantum_trader.research.hyperopt.space import overridden, parse_space
from quantum_trader.research.hyperopt.spec import StudySpec, fingerprint, open_study, storage_for
from quantum_trader.research.hyperopt.trials import Market, TrialContext
from quantum_trader.research.hyperopt.worker import REASON_ATTR, RETRY_ATTR, run_worker

TRIALS = 5
SETTINGS = Settings()


@pytest.fixture
def context(tmp_path: Path) -> Iterator[TrialContext]:
    market = generate_market(["BTCUSDT"], 6 * 1440, MarketConfig(seed=6))
    for series in market.bars.values():
        write_klines_csv(series, tmp_path / dump_name(series))
    loaded = load_bars(BacktestRequest(strategy="trend_ema", data=tmp_path))
    sections = {k: v for k, v in SETTINGS.model_dump(mode="json").items() if k in ("exits",)}
    dims = parse_space(["stop_atr=1:3"], "trend_ema", SETTINGS.model_dump(mode="json"))
    spec = StudySpec(
        strategy="trend_ema", data=str(tmp_path), fingerprint=fingerprint(loaded.series),
        symbols=["BTCUSDT"], timeframe=None, objective="profit", folds=2, holdout=0.25,
        trials=TRIALS, seed=0, min_trades=1, space=[d.spec() for d in dims], settings=sections,
    )  # fmt: skip
    split = split_market(loaded.series, SETTINGS.strategies.history_bars, 2, 0.25, 500)

    def settings_for(overrides: Any) -> Settings:
        return load_settings(**overridden(sections, overrides))

    yield TrialContext(
        spec,
        Market(loaded.series, {}, split),
        dims,
        settings_for,
        lambda s: engine_config(s, workers=1),
    )


def test_an_interrupted_trial_is_queued_again_and_the_next_run_completes_the_study(
    context: TrialContext, own_redis: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = storage_for(own_redis.url, "t:hyperopt:")
    study, _ = open_study(storage, "resume", context.spec, 3)
    coord = Coordination(own_redis.url, "t:hyperopt:resume:")
    real, calls = trial_module.run_engine, []

    def interrupted_at_the_fifth_fold(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 5:  # trial 3, its first fold: Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(trial_module, "run_engine", interrupted_at_the_fifth_fold)
    with pytest.raises(KeyboardInterrupt):
        run_worker(study, context, coord, me="first")
    trials = study.get_trials()
    assert [t.state for t in trials] == [
        TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING,
    ]  # fmt: skip
    assert trials[2].user_attrs[REASON_ATTR] == "interrupted; queued again"
    queued = trials[3].system_attrs["fixed_params"]  # Optuna's record of an enqueued trial
    assert queued == trials[2].params and trials[3].user_attrs[RETRY_ATTR] == 2
    assert coord.slots_taken() == 2

    monkeypatch.setattr(trial_module, "run_engine", real)
    resumed, _ = open_study(storage, "resume", context.spec, 3)
    stats = run_worker(resumed, context, coord, me="second")
    trials = resumed.get_trials()
    assert stats.evaluated == TRIALS - 2 and len(counted(trials)) == TRIALS
    assert trials[3].state is TrialState.COMPLETE and trials[3].params == trials[2].params
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert coord.slots_taken() == TRIALS
    coord.close()
    optuna.delete_study(study_name="resume", storage=storage)
