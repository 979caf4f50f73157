"""The same kline files through ``quantum run --data`` and ``quantum backtest --data``, as a
user would compare them: the two ``--json`` summaries carry the same trade list, value
for value — with nothing aligned by hand (the history both skip is one setting)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from quantum_trader import cli

runner = CliRunner()
START_MS = 1_704_067_200_000  # data synth's default first day, 2024-01-01


@pytest.fixture(autouse=True)
def _own_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    cli._mount_optional()


def quantum(*args: str) -> Result:
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == 0, result.output
    return result


def summary(command: str, data: Path, out: Path) -> dict[str, Any]:
    quantum(command, "--data", str(data), "--json", str(out))
    found: dict[str, Any] = json.loads(out.read_text())
    found["trades"].sort(key=lambda t: (t["symbol"], t["entry_time"]))
    return found


@pytest.mark.parametrize("history", [None, 300])
def test_run_and_backtest_of_the_same_files_list_the_same_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, history: int | None
) -> None:
    data = tmp_path / "bars"
    quantum("data", "synth", "--symbols", "BTCUSDT,ETHUSDT", "--days", "0.55", "--seed", "4",
            "--out", str(data), "--json")  # fmt: skip
    if history is not None:  # one setting moves where both start trading
        monkeypatch.setenv("QUANTUM_STRATEGIES__HISTORY_BARS", str(history))
    run = summary("run", data, tmp_path / "run.json")
    backtest = summary("backtest", data, tmp_path / "backtest.json")
    tested = backtest["trades"]
    # Both walked the mark price of the markPriceKlines files and settled the funding
    # rates of the fundingRate files that `data synth` wrote beside the bars.
    for key in ("mark_source", "funding_source"):
        assert run[key] == backtest["summary"][key] == "files: 2 symbols"
    # The backtest closes what is still open when its data ends (reason "end"); the run
    # leaves it open and counts it.
    ended = [t for t in tested if t["exit_reason"] == "end"]
    ran = run["trades"]
    assert ran == [t for t in tested if t["exit_reason"] != "end"]
    assert len(ran) >= 3 and run["open_positions"] == len(ended)
    bars = 420 if history is None else history
    first_decision = START_MS + (bars + 1) * 60_000  # the close of the bar after history
    assert min(t["entry_time"] for t in tested) >= first_decision
