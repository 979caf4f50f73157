"""The real XRPUSDT 5 m Binance dump through ``quantum backtest`` (skipped if absent)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from quantum_trader.cli.backtest import backtest_command
from quantum_trader.data import load_klines
from tests.conftest import shared_data

app = typer.Typer()
app.command("backtest")(backtest_command)


@app.command("version")
def _version() -> None:
    pass


def test_xrpusdt_5m_dump_backtests_under_both_rules(tmp_path: Path) -> None:
    data = shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")
    runs = (("trend_ema", ()), ("ref_ema_cross", ()), ("ref_ema_cross", ("--no-strategy-rules",)))
    for strategy, extra in runs:
        out = tmp_path / f"{strategy}{len(extra)}.json"
        args = ["backtest", "--strategy", strategy, "--data", str(data), "--json", str(out)]
        res = CliRunner().invoke(app, [*args, *extra])
        assert res.exit_code == 0, res.output
        doc = json.loads(out.read_text())
        summary = doc["summary"]
        assert summary["symbols"] == ["XRPUSDT"] and summary["interval"] == "5m"
        assert summary["bars"] == len(load_klines(data, allow_gaps=True))
        for trade in doc["trades"]:
            assert trade["symbol"] == "XRPUSDT"
            assert summary["start_time"] <= trade["entry_time"] <= trade["exit_time"]


def test_reference_trade_list_on_the_real_dump_for_wide_and_tight_stops(tmp_path: Path) -> None:
    from tests.unit.backtest.test_reference_rules import per_bar_loop

    data = shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")
    series = load_klines(data, allow_gaps=True)
    index = {int(t): i for i, t in enumerate(series.open_time.tolist())}
    reasons: set[str] = set()
    for stop, target in ((0.02, 0.03), (0.002, 0.003)):
        out = tmp_path / f"ref-{stop}.json"
        res = CliRunner().invoke(app, [
            "backtest", "--strategy", "ref_ema_cross", "--data", str(data), "--json", str(out),
            "--param", f"stop_pct={stop}", "--param", f"target_pct={target}",
        ])  # fmt: skip
        assert res.exit_code == 0, res.output
        trades = json.loads(out.read_text())["trades"]
        got = [
            (index[t["entry_time"]], index[t["exit_time"]], t["entry_price"], t["exit_price"],
             t["exit_reason"])
            for t in trades
        ]  # fmt: skip
        want = per_bar_loop(series, stop, target)
        assert [(a, b, r) for a, b, _, _, r in got] == [(a, b, r) for a, b, _, _, r in want]
        for (_, _, e1, x1, _), (_, _, e2, x2, _) in zip(got, want, strict=True):
            assert e1 == e2 and abs(x1 - x2) <= 1e-12 * x2
        reasons |= {str(r) for *_, r in got}
    assert reasons >= {"signal", "stop", "take_profit"}  # every exit path was exercised
