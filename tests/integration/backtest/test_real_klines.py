"""The real XRPUSDT 5 m Binance dump through ``quantum backtest`` (skipped if absent)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from quantum_trader.backtest.cli import backtest_command
from quantum_trader.data import load_klines
from tests.conftest import shared_data

app = typer.Typer()
app.command("backtest")(backtest_command)


@app.command("version")
def _version() -> None:
    pass


def test_xrpusdt_5m_dump_backtests_on_both_fill_models(tmp_path: Path) -> None:
    data = shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")
    for strategy in ("trend_ema", "ref_ema_cross"):
        out = tmp_path / f"{strategy}.json"
        res = CliRunner().invoke(
            app, ["backtest", "--strategy", strategy, "--data", str(data), "--json", str(out)]
        )
        assert res.exit_code == 0, res.output
        doc = json.loads(out.read_text())
        summary = doc["summary"]
        assert summary["symbols"] == ["XRPUSDT"] and summary["interval"] == "5m"
        assert summary["bars"] == len(load_klines(data, allow_gaps=True))
        for trade in doc["trades"]:
            assert trade["symbol"] == "XRPUSDT"
            assert summary["start_time"] <= trade["entry_time"] <= trade["exit_time"]
