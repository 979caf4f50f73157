"""One trial: the suggested parameters backtested on every search fold, scored.

Each fold is a backtest through the one engine (``backtest.engine.run_engine``) with
the study's trading settings and the trial's overrides, built into an engine config by
the composition root's function (``make_config``). After each fold the trial reports
its score, and the pruner may stop it (below the median of earlier trials at that
fold); a fold the objective refuses (too few trades, an undefined ratio) or parameters
the strategy or the settings refuse end the trial as refused, with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import optuna

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import run_engine
from quantum_trader.backtest.metrics import DAY_MS, periodic_returns
from quantum_trader.backtest.trades import BacktestResult
from quantum_trader.config import ConfigError, Settings
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.funding import FundingSeries
from quantum_trader.data.marks import NO_MARKS, MarkBars
from quantum_trader.research.hyperopt.folds import Split, Window
from quantum_trader.research.hyperopt.objective import FoldScore, Refused, score_fold
from quantum_trader.research.hyperopt.space import Dimension, check_defaults, suggest
from quantum_trader.research.hyperopt.spec import StudySpec

BARS_ATTR = "bars_backtested"
SettingsFor = Callable[[Mapping[str, object]], Settings]  # overrides -> the trial's settings
MakeConfig = Callable[[Settings], EngineConfig]


@dataclass(frozen=True, slots=True, eq=False)
class Market:
    series: list[BarSeries]
    funding: dict[str, FundingSeries]
    split: Split
    marks: MarkBars = NO_MARKS


@dataclass(frozen=True, slots=True, eq=False)
class TrialContext:
    spec: StudySpec
    market: Market
    dimensions: tuple[Dimension, ...]
    settings_for: SettingsFor
    make_config: MakeConfig

    def config(self, overrides: Mapping[str, object]) -> EngineConfig:
        try:
            settings = self.settings_for(overrides)
        except ConfigError as exc:
            raise Refused(f"settings refused: {exc}") from None
        return self.make_config(settings)

    def backtest(
        self, window: Window, params: Mapping[str, object], config: EngineConfig
    ) -> BacktestResult:
        series = self.market.split.series_for(window, self.market.series)
        return run_engine(
            series,
            self.spec.strategy,
            config,
            dict(params),
            funding=self.market.funding,
            marks=self.market.marks,
        )

    def score(self, result: BacktestResult) -> FoldScore:
        spec = self.spec
        return score_fold(result, spec.objective, self.market.split.interval_ms, spec.min_trades)


def daily_returns(result: BacktestResult) -> list[float]:
    returns = periodic_returns(
        result.equity_time, result.equity, DAY_MS, result.starting_balance
    ).tolist()
    return [round(r, 10) for r in returns]


def evaluate(trial: optuna.Trial, ctx: TrialContext) -> tuple[float, list[FoldScore]]:
    """The trial's mean fold score and its folds; raises :class:`Refused` or
    ``optuna.TrialPruned`` (their messages say why)."""
    params, overrides = suggest(trial, ctx.dimensions)
    try:
        check_defaults(ctx.spec.strategy, params)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    config = ctx.config(overrides)
    folds: list[FoldScore] = []
    returns: list[float] = []
    bars = 0
    try:
        for k, window in enumerate(ctx.market.split.folds):
            result = ctx.backtest(window, params, config)
            bars += result.bars
            try:
                fold = ctx.score(result)
            except Refused as exc:
                raise Refused(f"fold {k + 1}: {exc}") from None
            folds.append(fold)
            returns += daily_returns(result)
            trial.report(fold.score, k)
            if k + 1 < len(ctx.market.split.folds) and trial.should_prune():
                raise optuna.TrialPruned(
                    f"fold {k + 1}: score {fold.score:.4g} below the median of earlier trials there"
                )
    finally:  # the work a trial cost, however it ended: what throughput is measured in
        trial.set_user_attr(BARS_ATTR, bars)
    trial.set_user_attr("folds", [f.as_json() for f in folds])
    trial.set_user_attr("daily_returns", returns)
    return sum(f.score for f in folds) / len(folds), folds


def balance_fee(spec: StudySpec) -> dict[str, Any]:
    """The account options a study fixes for every backtest (engine_config keywords)."""
    out: dict[str, Any] = {}
    if spec.balance is not None:
        out["balance"] = Decimal(spec.balance)
    if spec.fee is not None:
        out["taker_fee"] = Decimal(spec.fee)
    return out
