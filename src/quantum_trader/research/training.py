"""``quantum model train``: dataset → purged walk-forward → out-of-sample backtest →
the model to serve → evidence → registry, promoted only if the evidence allows.

The out-of-sample backtest runs the ``model`` strategy through the one backtest engine
(the decisions paper and live trade with, fees, slippage and funding included), each test
window scored by the fold model that was trained before it, with no entry before the
first test window. The in-sample backtest runs the final model — which trained on that
span — over the same bars: the gap between the two is what overfitting looks like.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import funding_schedule, run_engine, settled_funding
from quantum_trader.backtest.metrics import YEAR_MS, periodic_returns, sharpe_ratio
from quantum_trader.backtest.trades import BacktestResult
from quantum_trader.clock import Clock
from quantum_trader.data.bars import DAY_MS, BarSeries
from quantum_trader.data.funding import FundingSeries
from quantum_trader.data.marks import NO_MARKS, MarkBars
from quantum_trader.domain.timefmt import iso_utc
from quantum_trader.model import evidence
from quantum_trader.model.card import ModelCard
from quantum_trader.model.dataset import (
    Dataset,
    build_dataset,
    frames_reused,
    model_feature_version,
)
from quantum_trader.model.drift import DriftRules, reference
from quantum_trader.model.evaluate import WalkForward, final_fit, quality, report, walk_forward
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.promotion import Decision, Incumbent, PromotionRules, decide
from quantum_trader.model.registry import ModelError, PromotionRaced, Registry
from quantum_trader.model.scorer import HEADS, Scorer, load_scorer, round_trip_cost
from quantum_trader.model.train import TrainConfig
from quantum_trader.research.parallel import PARALLEL_FROM_BARS, BacktestRunner

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True, slots=True)
class TrainingRequest:
    series: Sequence[BarSeries]
    barrier: BarrierConfig
    train: TrainConfig
    engine: EngineConfig
    funding: Mapping[str, FundingSeries] | None = None  # settled in the backtests
    # Learn from the funding rate too: the rates the exchange settles (the recorded ones,
    # else the engine's flat rate), as the backtests and the live signal engine take
    # them. False leaves the feature empty: the model ignores it.
    funding_feature: bool = True
    rules: PromotionRules = field(default_factory=PromotionRules)
    drift_bins: int = DriftRules().bins
    cost: float | None = None  # None: round_trip_cost of the engine's taker fee
    # From this many bars on, the two backtests run side by side (one in a process of its
    # own): below it, starting a process costs more than it saves. Results are the same.
    parallel_from_bars: int = PARALLEL_FROM_BARS
    marks: MarkBars = NO_MARKS  # the mark price the backtests' exchange walks

    def round_trip(self) -> float:
        return self.cost if self.cost is not None else round_trip_cost(float(self.engine.taker_fee))


def settled_rates(request: TrainingRequest) -> dict[str, FundingSeries]:
    """The funding rates the exchange of the request's backtests settles, per symbol."""
    symbols = [s.symbol for s in request.series]
    schedule, _ = funding_schedule(symbols, request.engine, request.funding)
    return settled_funding(schedule, request.series)


@dataclass(frozen=True, slots=True)
class TrainingOutcome:
    card: ModelCard
    promoted: bool
    reason: str
    seconds: float

    def as_json(self) -> dict[str, Any]:
        ev = self.card.evidence
        return {
            "model_id": self.card.model_id,
            "promoted": self.promoted,
            "reason": self.reason,
            "oos": ev["oos"],
            "in_sample": ev["in_sample"],
            "folds": ev["folds"],
            "oos_from": iso_utc(ev["oos_from_ms"]),
            "oos_to": iso_utc(ev["oos_to_ms"]),
            "symbols": list(self.card.symbols),
            "interval": self.card.interval,
            "feature_version": self.card.feature_version,
            "barrier": self.card.barrier,
            "seconds": round(self.seconds, 1),
        }


def backtest_figures(result: BacktestResult, from_ms: int) -> dict[str, Any]:
    """Return, Sharpe (daily, annualised), trades and net PnL from ``from_ms`` on, and the
    daily returns the deflated Sharpe is computed from."""
    keep = result.equity_time >= from_ms
    daily = periodic_returns(
        result.equity_time[keep], result.equity[keep], DAY_MS, result.starting_balance
    )
    traded = [t for t in result.trades if t.entry_time >= from_ms]
    entries = [t.entry_time for t in result.trades]
    return {
        "first_entry_ms": min(entries) if entries else None,
        "net_return": result.final_equity / result.starting_balance - 1.0,
        "sharpe": sharpe_ratio(daily, YEAR_MS / DAY_MS),
        "trades": len(traded),
        "net_pnl": result.net_pnl,
        "fees": result.fees,
        "funding": result.funding,
        "daily_returns": daily,
    }


def model_backtest(request: TrainingRequest, scorer: Scorer, from_ms: int) -> dict[str, Any]:
    config = replace(request.engine, trade_from_ms=max(request.engine.trade_from_ms, from_ms))
    params = {"scorer": scorer, "barrier": request.barrier, "cost": request.round_trip()}
    result = run_engine(
        request.series, "model", config, params, funding=request.funding, marks=request.marks
    )
    return backtest_figures(result, from_ms)


MIN_COMPARED_ROWS = 500  # a fold's rows after the old window worth comparing on


def incumbent(
    registry: Registry, data: Dataset, result: WalkForward, promoted: str | None
) -> Incumbent | None:
    """The ``promoted`` model against this run's fold models, out of sample for both (see
    :mod:`quantum_trader.model.promotion`); None when nothing servable is promoted."""
    try:
        if promoted is None:
            return None
        card, model = load_scorer(registry, promoted)
    except ModelError:
        return None  # the code no longer serves it: nothing in service to beat
    recorded = card.evidence.get("oos", {}).get("fold_ic_mean")
    recorded = float(recorded) if isinstance(recorded, int | float) else float("nan")
    mine_all = float(np.nanmean([f.oos["ic"] for f in result.folds]))
    fallback = Incumbent(card.model_id, recorded, mine_all, "its recorded out-of-sample IC")
    if tuple(card.feature_names) != data.names or card.interval != data.interval:
        return fallback
    theirs, mine = [], []
    for fold in result.folds:
        rows = fold.test_rows[data.time[fold.test_rows] > card.train_to_ms]
        if len(rows) < MIN_COMPARED_ROWS:
            continue
        p_long, p_short = model.probabilities(data.features[rows], data.time[rows])
        theirs.append(quality(data, rows, p_long, p_short)["ic"])
        f_long, f_short = fold.fit.scorer.probabilities(data.features[rows], data.time[rows])
        mine.append(quality(data, rows, f_long, f_short)["ic"])
    if not theirs:
        return fallback
    basis = f"on {len(theirs)} fold(s)' rows after its training window"
    return Incumbent(card.model_id, float(np.nanmean(theirs)), float(np.nanmean(mine)), basis)


def trials_on(registry: Registry, fingerprint: str) -> int:
    """Models already trained on the same data, plus this one: the deflation's trials (a
    card that cannot be read is not counted)."""
    count = 1
    for model_id in registry.ids():
        try:
            count += registry.card(model_id).data_fingerprint == fingerprint
        except ModelError:
            continue
    return count


def train_model(
    request: TrainingRequest, registry: Registry, clock: Clock, progress: Progress | None = None
) -> TrainingOutcome:
    with frames_reused():  # the dataset's features serve its in-sample backtest too
        return _train(request, registry, clock, progress)


def _train(
    request: TrainingRequest, registry: Registry, clock: Clock, progress: Progress | None
) -> TrainingOutcome:
    started = time.perf_counter()
    note = progress or (lambda _stage, _done, _total: None)
    note("features and labels", 0, 1)
    learned = settled_rates(request) if request.funding_feature else None
    data = build_dataset(request.series, request.barrier, learned)
    note("features and labels", 1, 1)
    folds = walk_forward(
        data, request.train, lambda done, total: note("walk-forward folds", done, total)
    )
    oos, in_sample = report(data, folds)
    note("backtests and final model", 0, 2)
    with BacktestRunner(request.series, request.parallel_from_bars) as runner:
        # The out-of-sample backtest (one core, in another process on a large market)
        # runs while the final model trains and its in-sample backtest runs here.
        out_of_sample = runner.submit(model_backtest, request, folds.scorer(), folds.from_ms)
        final = final_fit(data, request.train)
        note("backtests and final model", 1, 2)
        in_sample.update(model_backtest(request, final.scorer, folds.from_ms))
        oos.update(out_of_sample.result())
    note("backtests and final model", 2, 2)
    trials = trials_on(registry, data.data_fingerprint)
    daily = oos.pop("daily_returns")
    in_sample.pop("daily_returns")
    oos["trials"] = trials
    oos["deflated_sharpe"] = evidence.deflated_sharpe(daily, trials, 1.0 / max(len(daily), 1))
    served = registry.promoted()  # what this model is judged against, and may replace
    decision: Decision = decide(oos, request.rules, incumbent(registry, data, folds, served))
    card = ModelCard(
        model_id="",
        created_at_ms=clock.now_ms(),
        interval=data.interval,
        symbols=data.symbols,
        feature_names=data.names,
        feature_version=model_feature_version(data.interval),
        barrier={
            "take_profit_atr": request.barrier.take_profit_atr,
            "stop_atr": request.barrier.stop_atr,
            "horizon_bars": float(request.barrier.horizon_bars),
        },
        train_from_ms=data.from_ms,
        train_to_ms=data.to_ms,
        data_fingerprint=data.data_fingerprint,
        params={
            **request.train.as_json(),
            "best_rounds": final.best_rounds,
            "cost": request.round_trip(),
        },
        calibration=final.calibration,
        evidence=_clean(
            {
                "promotable": decision.promotable,
                "reason": decision.reason,
                "oos": oos,
                "in_sample": in_sample,
                "folds": [_fold_json(f) for f in folds.folds],
                "drift_reference": reference(data.features, data.names, request.drift_bins),
                "oos_from_ms": folds.from_ms,
                "oos_to_ms": folds.to_ms,
            }
        ),
        heads=HEADS,
    )
    saved = registry.save(card, final.head_texts)
    promoted, reason = decision.promote, decision.reason
    if promoted:
        try:
            registry.promote(saved.model_id, at_ms=clock.now_ms(), reason=reason, replacing=served)
        except PromotionRaced as raced:  # a training run beside this one promoted first
            promoted, reason = False, str(raced)
    return TrainingOutcome(saved, promoted, reason, time.perf_counter() - started)


def _fold_json(fold: Any) -> dict[str, Any]:
    return {
        "index": fold.index,
        "test_from_ms": fold.test_from_ms,
        "test_to_ms": fold.test_to_ms,
        "train_rows": fold.train_rows,
        "validation_rows": fold.validation_rows,
        "test_rows": len(fold.test_rows),
        "best_rounds": fold.fit.best_rounds,
        "oos": fold.oos,
        "in_sample": fold.in_sample,
    }


def _clean(value: Any) -> Any:
    """JSON values: NaN and infinities become null (a card is strict JSON)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
