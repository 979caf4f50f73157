"""``quantum hyperopt`` through the real command line, on a real Redis: a study runs,
reports in sample next to out of sample, resumes when run again, grows with --trials,
and refuses what cannot work with one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from typer.testing import CliRunner, Result

from quantum_trader import cli
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.research.hyperopt.report import counted
from quantum_trader.research.hyperopt.spec import storage_for
from tests.integration.test_cli_errors import one_line_error

runner = CliRunner()


@pytest.fixture(autouse=True)
def _mounted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    cli._mount_optional()


def quantum(*args: str) -> Result:
    return runner.invoke(cli.app, list(args))


@pytest.fixture
def bars(tmp_path: Path) -> Path:
    out = tmp_path / "bars"
    made = quantum("data", "synth", "--symbols", "BTCUSDT,ETHUSDT", "--days", "6", "--seed", "3",
                   "--out", str(out), "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    return out


def study(bars: Path, url: str, tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "report.json"
    result = quantum(
        "hyperopt", "--strategy", "trend_ema", "--data", str(bars), "--storage", url,
        "--study", "s1", "--folds", "2", "--min-trades", "2", "--json", str(out),
        "--space", "stop_atr=1:3", "--space", "fast=5:20:int",
        "--space", "exits.kill.threshold=0.4:0.8", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "in sample (search folds) vs out of sample (holdout)" in result.stdout
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_a_study_reports_in_and_out_of_sample_resumes_and_grows(
    bars: Path, own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    report = study(bars, own_redis.url, tmp_path, "--trials", "6")
    assert report["trials"] == 6 == sum(report["states"].values())
    assert report["space"] == ["stop_atr=1:3", "fast=5:20:int", "exits.kill.threshold=0.4:0.8"]
    best = report["best"]
    assert 1 <= best["params"]["stop_atr"] <= 3 and 5 <= best["params"]["fast"] <= 20
    assert 0.4 <= best["params"]["exits.kill.threshold"] <= 0.8
    assert len(best["in_sample"]["folds"]) == 2 and report["holdout"]["start_ms"] > 0
    assert report["holdout"]["start_ms"] == report["folds"][-1]["end_ms"]
    assert 0 <= best["deflated_sharpe"] <= 1
    assert isinstance(report["holds"], bool) and report["verdict"]
    assert [row["fold"] for row in report["walk_forward"]] == [2]

    again = study(bars, own_redis.url, tmp_path, "--trials", "6")  # the same: resumed
    assert again["trials"] == 6 and again["best"]["trial"] == best["trial"]
    grown = study(bars, own_redis.url, tmp_path, "--trials", "9")
    assert grown["trials"] == 9
    stored = optuna.load_study(
        study_name="s1", storage=storage_for(own_redis.url, "quantum:hyperopt:")
    )
    assert len(counted(stored.get_trials())) == 9
    assert len({t.number for t in stored.get_trials()}) == len(stored.get_trials())


def test_one_seed_gives_one_search(bars: Path, own_redis: EmbeddedRedis, tmp_path: Path) -> None:
    first = study(bars, own_redis.url, tmp_path, "--trials", "4", "--study", "a", "--seed", "5")
    second = study(bars, own_redis.url, tmp_path, "--trials", "4", "--study", "b", "--seed", "5")
    assert first["best"]["params"] == second["best"]["params"]


def test_what_cannot_work_is_refused_in_one_line(
    bars: Path, own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    base = ("hyperopt", "--strategy", "trend_ema", "--data", str(bars), "--storage", own_redis.url)
    one_line_error(quantum(*base, "--space", "nope=1:2"), 2, "--space nope", "known: fast")
    one_line_error(quantum(*base, "--objective", "luck"), 2, "--objective luck", "sharpe")
    one_line_error(quantum(*base, "--folds", "40"), 2, "--folds", "use fewer folds")
    one_line_error(
        quantum(*base[:5], "--storage", "sqlite:///x.db"), 2, "--storage", "redis:// URL"
    )
    one_line_error(quantum("hyperopt", "--data", str(bars)), 2, "--strategy and --data")
    made = quantum(*base, "--study", "kept", "--trials", "1", "--folds", "2", "--min-trades", "1")
    assert made.exit_code == 0, made.output
    changed = quantum(*base, "--study", "kept", "--trials", "1", "--folds", "3")
    one_line_error(changed, 2, "--study: 'kept' exists with other folds", "another --study")
    missing = quantum("hyperopt", "worker", "--storage", own_redis.url, "--study", "none")
    one_line_error(missing, 2, "--study: no study 'none'", "kept")


def test_strategies_list_shows_every_strategy_with_its_parameters_and_ranges() -> None:
    table = quantum("strategies", "list")
    assert table.exit_code == 0, table.output
    listed = quantum("strategies", "list", "--json")
    found = {s["name"]: s for s in json.loads(listed.stdout)}
    assert set(found) >= {"trend_ema", "breakout", "mean_reversion", "ref_ema_cross", "model"}
    trend = {p["name"]: p for p in found["trend_ema"]["parameters"]}
    assert trend["fast"] == {"name": "fast", "default": 12, "search": "5:20:int"}
    assert trend["atr_period"]["search"] is None and found["trend_ema"]["warmup_bars"] == 200
    assert found["ref_ema_cross"]["sides"] == ["LONG"] and found["model"]["warmup_bars"] is None
    for name in found:
        assert name in table.stdout
