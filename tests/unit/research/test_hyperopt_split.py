"""The study's split, search space and scoring: no trial reads a holdout bar, spaces
name what they change, and the deflated Sharpe matches its published example."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import optuna
import pytest

from quantum_trader.config import Settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.model.evidence import expected_max_sharpe, sharpe_confidence
from quantum_trader.research.hyperopt.folds import split_market
from quantum_trader.research.hyperopt.space import SpaceError, overridden, parse_space, suggest

HISTORY = 420
MARKET = generate_market(["BTCUSDT", "ETHUSDT"], 8 * 1440, MarketConfig(seed=2)).bars
SERIES = list(MARKET.values())
SETTINGS = Settings().model_dump(mode="json")


@pytest.mark.parametrize(("folds", "holdout"), [(1, 0.0), (3, 0.25), (4, 0.3), (2, 0.5)])
def test_no_bar_at_or_after_the_holdout_is_in_any_trial(folds: int, holdout: float) -> None:
    split = split_market(SERIES, HISTORY, folds, holdout, min_fold_bars=500)
    interval = split.interval_ms
    assert len(split.folds) == folds
    for a, b in zip(split.folds, split.folds[1:], strict=False):
        assert a.end_ms == b.start_ms  # time order, no gap, no overlap
    limit = split.holdout.start_ms if split.holdout else math.inf
    for window in split.folds:
        for series in split.series_for(window, SERIES):
            times = series.open_time
            assert times[-1] < limit and times[-1] < window.end_ms
            # the backtest warms up on exactly the history bars, then trades the fold
            assert int((times < window.start_ms).sum()) == HISTORY
            assert times[0] == window.start_ms - HISTORY * interval
    if split.holdout is not None:
        tradable = (split.holdout.end_ms - split.folds[0].start_ms) // interval
        assert split.holdout.bars(interval) == pytest.approx(tradable * holdout, abs=folds + 1)
        assert split.holdout.end_ms == int(SERIES[0].open_time[-1]) + interval


def test_folds_too_short_are_refused_naming_the_options() -> None:
    with pytest.raises(ValueError, match=r"--folds: .* use fewer folds, a smaller --holdout"):
        split_market(SERIES, HISTORY, 20, 0.25, min_fold_bars=1440)
    with pytest.raises(ValueError, match="--holdout"):
        split_market(SERIES, HISTORY, 2, 1.0, min_fold_bars=10)


def test_the_strategy_declares_a_default_space_and_specs_name_parameters_or_settings() -> None:
    declared = parse_space([], "trend_ema", SETTINGS)
    assert {d.name for d in declared} >= {"fast", "slow", "stop_atr"}
    dims = parse_space(
        ["stop_atr=1:3", "fast=5:20:int", "exits.kill.threshold=0.4:0.8"], "trend_ema", SETTINGS
    )
    trial = optuna.trial.FixedTrial({"stop_atr": 2.0, "fast": 7, "exits.kill.threshold": 0.5})
    params, settings = suggest(trial, dims)
    assert params == {"stop_atr": 2.0, "fast": 7}
    assert settings == {"exits.kill.threshold": 0.5}
    merged = overridden(SETTINGS, settings)
    assert merged["exits"]["kill"]["threshold"] == 0.5
    assert merged["exits"]["kill"]["weight_age"] == SETTINGS["exits"]["kill"]["weight_age"]
    assert Settings(**merged).exits.kill.threshold == Decimal("0.5")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope=1:2", "trend_ema has no such parameter; known: fast"),
        ("fast=1", "write low:high"),
        ("fast=5:1", "low < high"),
        ("fast=1:5:cubic", "the kind is one of float, int, log"),
        ("stop_atr=0:2:log", "log range needs low > 0"),
        ("exits.nothing=1:2", "not a numeric setting"),
        ("sizing.market_order=0:1", "not a numeric setting"),
        ("strategies.names=1:2", "not a numeric setting"),
    ],
)
def test_bad_spaces_name_the_option_and_the_fix(spec: str, message: str) -> None:
    with pytest.raises(SpaceError, match="--space") as caught:
        parse_space([spec], "trend_ema", SETTINGS)
    assert message in str(caught.value)


def test_the_deflated_sharpe_reproduces_its_published_worked_example() -> None:
    """Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", §5: 100 trials whose
    annualised Sharpe ratios vary by 1/2, the best at 2.5 over 1,250 daily returns with
    skewness −3 and kurtosis 10: SR₀ ≈ 0.1132 a day and DSR ≈ 0.9004."""
    benchmark = expected_max_sharpe(100, 0.5 / 250)
    assert benchmark == pytest.approx(0.1132, abs=5e-5)
    dsr = sharpe_confidence(2.5 / math.sqrt(250), 1250, -3.0, 10.0, benchmark)
    assert dsr == pytest.approx(0.9004, abs=5e-4)
    assert np.isnan(sharpe_confidence(0.1, 1, 0.0, 3.0))
