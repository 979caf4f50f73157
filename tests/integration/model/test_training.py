"""``quantum model train`` end to end: features and labels, purged walk-forward, the
out-of-sample backtest through the one engine, the registry, and promotion on evidence.

A market with nothing to learn must not produce a promoted model; a market with a planted,
learnable edge must — and its out-of-sample backtest, fees and funding included, must be
profitable. The promoted model is then what ``quantum backtest --strategy model`` trades.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from quantum_trader import cli
from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.signals import StrategySpec, series_signals
from quantum_trader.bootstrap import check_serving, trading_config
from quantum_trader.clock import SimClock
from quantum_trader.config import load_settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.writers import dump_name, write_klines_csv
from quantum_trader.model.card import trained_with_funding
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.registry import Registry
from quantum_trader.model.scorer import load_scorer
from quantum_trader.model.train import TrainConfig
from quantum_trader.research.training import TrainingRequest, train_model
from quantum_trader.strategies import FLAT
from quantum_trader.strategies.model import ModelStrategy
from tests.unit.model.test_registry import HEADS, make_card

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
OOS_KEYS = {"ic", "rank_ic", "icir", "hit_rate", "brier", "folds", "net_return", "sharpe", "trades"}
runner = CliRunner()
OTHER_RUN = make_card(feature_names=("other_run",))
OTHER_HEADS = HEADS


def market_request(drift: float, seed: int, days: int = 12) -> TrainingRequest:
    market = generate_market(SYMBOLS, days * 1440, MarketConfig(seed=seed, planted_drift=drift))
    return TrainingRequest(
        list(market.bars.values()),
        BarrierConfig(horizon_bars=30),
        TrainConfig(num_threads=1, folds=4),  # one core: no OpenMP waits beside other work
        EngineConfig(),
    )


def test_a_model_trained_on_a_market_with_nothing_to_learn_is_not_promoted(
    tmp_path: Path,
) -> None:
    registry = Registry(tmp_path / "models")
    outcome = train_model(market_request(0.0, 5), registry, SimClock(0))
    assert not outcome.promoted
    assert outcome.reason.startswith("not promoted: ")
    assert registry.promoted() is None
    stored = registry.card(outcome.card.model_id)  # kept, not promoted, with the reason why
    assert stored.evidence["promotable"] is False
    assert stored.evidence["reason"] == outcome.reason
    oos = stored.evidence["oos"]
    assert oos["ic_p_value"] >= 0.05 or oos["deflated_sharpe"] < 0.95 or oos["net_return"] <= 0


def test_the_two_backtests_side_by_side_give_the_evidence_they_give_one_after_the_other(
    tmp_path: Path,
) -> None:
    """On a large market the out-of-sample backtest runs in a worker process while the
    final model trains: forced here on a small one, the card's evidence is the same."""
    request = market_request(0.2, 3, days=10)
    here = train_model(request, Registry(tmp_path / "here"), SimClock(0))
    side_by_side = replace(request, parallel_from_bars=0)
    there = train_model(side_by_side, Registry(tmp_path / "there"), SimClock(0))
    assert there.card.evidence["oos"]["trades"] > 0
    assert there.card.evidence == here.card.evidence
    assert there.card.model_id == here.card.model_id  # the same heads, bit for bit


def test_a_planted_learnable_edge_is_found_promoted_and_profitable_out_of_sample(
    tmp_path: Path,
) -> None:
    registry = Registry(tmp_path / "models")
    request = market_request(0.2, 1)
    outcome = train_model(request, registry, SimClock(0))
    assert outcome.promoted, outcome.reason
    assert registry.promoted() == outcome.card.model_id
    ev = outcome.card.evidence
    oos, in_sample = ev["oos"], ev["in_sample"]
    assert set(oos) >= OOS_KEYS and set(in_sample) >= OOS_KEYS
    assert oos["ic"] > 0.1 and oos["ic_p_value"] < 0.05
    assert oos["net_return"] > 0 and oos["trades"] >= 10  # fees and funding included
    assert oos["deflated_sharpe"] >= 0.95
    assert oos["folds"] == 4 and len(ev["folds"]) == 4
    # The out-of-sample span starts after the first training block: the backtest of the
    # fold models enters nothing before it (they have no opinion there).
    assert ev["oos_from_ms"] > int(request.series[0].open_time[0])
    assert oos["first_entry_ms"] >= ev["oos_from_ms"]
    # Meta-labelling: the promoted model judges another strategy's entries.
    _, scorer = load_scorer(registry, outcome.card.model_id)
    judge = ModelStrategy(scorer=scorer, barrier=request.barrier, filter="trend_ema")
    kept = base_count = 0
    for s, (sides, at) in zip(request.series, judge.universe_signals(request.series), strict=True):
        base = {
            i: g
            for i, g in series_signals(StrategySpec("trend_ema"), s).items()
            if g.side is not FLAT
        }
        base_count += len(base)
        kept += len(sides)
        for i in sides:
            assert at(i).side is base[i].side and at(i).stop_distance == base[i].stop_distance
            assert at(i).strategy == "model" and at(i).features["expected_return"] > 0
    assert 0 < kept < base_count
    # Trained again with 4 more days, the new model is judged against the one in service on
    # the test rows after that model's training window: out of sample for both.
    later = train_model(market_request(0.2, 1, days=16), registry, SimClock(1))
    assert "rows after its training window" in later.reason, later.reason
    assert later.card.evidence["oos"]["trials"] == 1  # other data: a first trial
    expected = later.card.model_id if later.promoted else outcome.card.model_id
    assert registry.promoted() == expected


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("QUANTUM_REDIS_URL", "TRADING_SYMBOLS", "QUANTUM_TRADING_SYMBOLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("QUANTUM_MODEL__TRAIN__NUM_THREADS", "1")
    cli._mount_optional()
    return tmp_path / "var"


def quantum(*args: str) -> Result:
    return runner.invoke(cli.app, list(args))


def train_json(*args: str) -> dict[str, Any]:
    result = quantum("model", "train", *args, "--json", "-")
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_train_then_backtest_the_promoted_model_from_the_command_line(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synth = quantum(
        "data", "synth", "--symbols", ",".join(SYMBOLS), "--days", "10", "--seed", "1",
        "--planted-drift", "0.2", "--out", str(tmp_path / "bars"), "--json",
    )  # fmt: skip
    assert synth.exit_code == 0, synth.output
    monkeypatch.setenv("QUANTUM_MODEL__BARRIER__HORIZON_BARS", "30")
    # the files carry funding rates: learned too, by default
    trained = train_json("--data", str(tmp_path / "bars"))
    assert {"model_id", "promoted", "reason", "oos", "in_sample"} <= set(trained)
    assert set(trained["oos"]) >= OOS_KEYS and set(trained["in_sample"]) >= OOS_KEYS
    assert trained["promoted"] is True, trained["reason"]
    assert trained["barrier"]["horizon_bars"] == 30  # the setting reached the labels
    listed = quantum("model", "list", "--json")
    assert json.loads(listed.stdout)[0]["model_id"] == trained["model_id"]
    report = tmp_path / "bt.json"
    backtest = quantum(
        "backtest", "--strategy", "model", "--data", str(tmp_path / "bars"), "--json", str(report)
    )
    assert backtest.exit_code == 0, backtest.output
    summary = json.loads(report.read_text())["summary"]
    assert summary["strategy"] == "model" and summary["trades"] > 0
    assert summary["model_id"] == trained["model_id"]  # the run says which model traded
    assert trained["model_id"] in backtest.stdout
    assert "overlap" in backtest.stderr and "in sample" in backtest.stderr  # said, not hidden
    coarser = quantum(
        "backtest", "--strategy", "model", "--data", str(tmp_path / "bars"), "--timeframe", "5m"
    )
    assert coarser.exit_code == 2 and "was trained on 1m bars" in coarser.stderr
    # Retraining the promoted setup on the same window gives no better model: it stays.
    again = quantum("model", "retrain", "--data", str(tmp_path / "bars"), "--json", "-")
    retrained = json.loads(again.stdout)
    models = Registry(data_dir / "models")
    assert models.head_texts(retrained["model_id"]) == models.head_texts(trained["model_id"])
    assert "recorded out-of-sample IC" in retrained["reason"]  # no rows after its window
    assert retrained["symbols"] == SYMBOLS and retrained["barrier"]["horizon_bars"] == 30
    assert trained_with_funding(models.card(retrained["model_id"]))  # the same choice
    assert trained_with_funding(models.card(trained["model_id"]))
    serving = load_settings(data_dir=data_dir, strategies={"names": ["model"]})
    check_serving(trading_config(serving).signal)  # quantum run serves it (live rates)
    assert not retrained["promoted"] and "does not beat the promoted model" in retrained["reason"]
    listed = json.loads(quantum("model", "list", "--json").stdout)
    assert [r["model_id"] for r in listed if r["promoted"]] == [trained["model_id"]]
    # Drift: the training bars themselves match the training distribution; a market three
    # times as volatile does not, and the volatility features say so.
    same = json.loads(quantum("model", "drift", "--data", str(tmp_path / "bars"), "--json").stdout)
    assert same["model_id"] == trained["model_id"] and not same["drift"] and same["max_psi"] == 0
    wild = tmp_path / "wild"
    wild.mkdir()
    config = MarketConfig(seed=4, annual_vol=1.35, start_ms=1_706_745_600_000)
    for s in generate_market(SYMBOLS, 4 * 1440, config).bars.values():
        write_klines_csv(s, wild / dump_name(s))
    drifted = json.loads(quantum("model", "drift", "--data", str(wild), "--json").stdout)
    assert drifted["drift"] and "PSI" in drifted["reason"]
    assert {"rvol_60", "parkinson_60", "atr_rel_14"} & set(drifted["drifted_features"])


def test_every_model_setting_reaches_the_training_run(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {
        "QUANTUM_MODEL__BARRIER__TAKE_PROFIT_ATR": "2.5",
        "QUANTUM_MODEL__BARRIER__STOP_ATR": "1.5",
        "QUANTUM_MODEL__BARRIER__HORIZON_BARS": "20",
        "QUANTUM_MODEL__TRAIN__FOLDS": "3",
        "QUANTUM_MODEL__TRAIN__EMBARGO_BARS": "10",
        "QUANTUM_MODEL__TRAIN__VALIDATION_FRACTION": "0.25",
        "QUANTUM_MODEL__TRAIN__FIRST_TRAIN_FRACTION": "0.5",
        "QUANTUM_MODEL__TRAIN__SAMPLE_EVERY": "3",
        "QUANTUM_MODEL__TRAIN__ROUNDS": "50",
        "QUANTUM_MODEL__TRAIN__EARLY_STOPPING_ROUNDS": "10",
        "QUANTUM_MODEL__TRAIN__LEARNING_RATE": "0.1",
        "QUANTUM_MODEL__TRAIN__NUM_LEAVES": "7",
        "QUANTUM_MODEL__TRAIN__MIN_DATA_IN_LEAF": "300",
        "QUANTUM_MODEL__TRAIN__FEATURE_FRACTION": "0.7",
        "QUANTUM_MODEL__TRAIN__BAGGING_FRACTION": "0.9",
        "QUANTUM_MODEL__TRAIN__LAMBDA_L2": "5.0",
        "QUANTUM_MODEL__TRAIN__NUM_THREADS": "1",
        "QUANTUM_MODEL__TRAIN__SEED": "4",
        "QUANTUM_MODEL__PROMOTION__MIN_TRADES": "1000000",
        "QUANTUM_MODEL__PROMOTION__IC_P_VALUE": "0.01",
        "QUANTUM_MODEL__PROMOTION__DEFLATED_SHARPE": "0.99",
        "QUANTUM_MODEL__DRIFT__BINS": "5",
        "QUANTUM_MODEL__DRIFT__PSI_LIMIT": "0.0001",
        "QUANTUM_MODEL__DRIFT__DECAY_P_VALUE": "0.9",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    trained = train_json("--synthetic", "--symbols", ",".join(SYMBOLS), "--days", "8")
    shown = json.loads(quantum("model", "show", trained["model_id"], "--json").stdout)
    params, barrier = shown["params"], shown["barrier"]
    assert barrier == {"take_profit_atr": 2.5, "stop_atr": 1.5, "horizon_bars": 20.0}
    for name, value in settings.items():
        section, _, key = name.removeprefix("QUANTUM_MODEL__").lower().partition("__")
        if section == "train":
            assert str(params[key]) == value, key
    assert trained["oos"]["folds"] == 3
    assert "1000000" in trained["reason"]  # min_trades
    assert "needs < 0.01" in trained["reason"] or trained["oos"]["ic_p_value"] < 0.01
    assert "below 0.99" in trained["reason"] or trained["oos"]["deflated_sharpe"] >= 0.99
    bins = shown["evidence"]["drift_reference"]["ret_1"]["share"]
    assert len(bins) <= 5  # drift.bins (quantile edges of ties merge)
    checked = quantum(
        "model", "drift", trained["model_id"], "--synthetic", "--symbols", ",".join(SYMBOLS),
        "--days", "3", "--seed", "9", "--json",
    )  # fmt: skip
    drift = json.loads(checked.stdout)
    assert drift["drift"] and "above PSI 0.0001" in drift["reason"]  # drift.psi_limit
    assert drift["decay"] == (drift["hit_p_value"] < 0.9)  # drift.decay_p_value


def test_bad_training_input_is_one_line(data_dir: Path, tmp_path: Path) -> None:
    missing = quantum("model", "train", "--data", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "--data" in missing.stderr
    short = quantum(
        "model", "train", "--synthetic", "--symbols", "BTCUSDT", "--days", "2", "--interval", "1h"
    )
    assert short.exit_code == 2 and "Traceback" not in short.output
    assert len([line for line in short.stderr.splitlines() if line.strip()]) == 1, short.stderr
    no_model = quantum("backtest", "--strategy", "model", "--synthetic", "--days", "2")
    assert no_model.exit_code == 2 and "no model is promoted" in no_model.stderr


class RacedRegistry(Registry):
    """A registry in which another training run promotes its model just before this run
    saves its own: this run was judged against what was served when it started."""

    def save(self, card: Any, head_texts: Any) -> Any:
        if card.feature_names != OTHER_RUN.feature_names:  # this run's card, not the other's
            other = super().save(OTHER_RUN, OTHER_HEADS)
            super().promote(other.model_id, at_ms=1, reason="the other run")
        return super().save(card, head_texts)


def test_a_model_is_not_promoted_over_one_another_run_promoted_while_it_trained(
    tmp_path: Path,
) -> None:
    registry = RacedRegistry(tmp_path / "models")
    outcome = train_model(market_request(0.2, 1), registry, SimClock(0))
    served = registry.promoted()
    assert served is not None and served != outcome.card.model_id
    assert not outcome.promoted
    assert f"{served} was promoted while {outcome.card.model_id} trained" in outcome.reason
    assert registry.card(outcome.card.model_id).evidence["promotable"] is True  # kept
