"""``quantum backtest`` through typer's CliRunner: output files and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from quantum_trader.cli.backtest import backtest_command

app = typer.Typer()
app.command("backtest")(backtest_command)


@app.command("version")
def _version() -> None:  # a second command keeps "backtest" a subcommand, as in the root app
    pass


runner = CliRunner()
TRADE_KEYS = {
    "symbol", "strategy", "side", "entry_time", "exit_time", "entry_price", "exit_price",
    "qty", "pnl", "fees", "funding", "exit_reason", "r_multiple", "exits",
}  # fmt: skip
EXIT_KEYS = {"time", "price", "qty", "reason", "pnl", "fees"}
MONEY_KEYS = {"starting_balance", "ending_equity", "realized_pnl", "fees", "funding", "net_pnl"}


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["backtest", *args])


def test_reference_run_writes_json_and_html(tmp_path: Path) -> None:
    out, html = tmp_path / "r.json", tmp_path / "r.html"
    res = run("--strategy", "ref_ema_cross", "--synthetic", "--days", "3", "--symbols", "BTCUSDT",
              "--json", str(out), "--report", str(html))  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert set(doc) == {"summary", "trades"}
    assert doc["summary"]["trades"] == len(doc["trades"]) > 0
    assert doc["summary"]["rules"] == "strategy"  # its own: bench/REFERENCE_STRATEGY.md
    for t in doc["trades"]:
        assert set(t) == TRADE_KEYS and t["strategy"] == "ref_ema_cross"
        assert isinstance(t["entry_time"], int) and isinstance(t["exit_time"], int)
        assert t["entry_time"] <= t["exit_time"]
        assert isinstance(t["entry_price"], float) and isinstance(t["pnl"], float)
        assert len(t["exits"]) == 1 and set(t["exits"][0]) == EXIT_KEYS  # no partials
        assert t["exits"][0]["price"] == t["exit_price"] and t["exits"][0]["qty"] == t["qty"]
    summary = doc["summary"]
    assert set(summary) >= MONEY_KEYS and summary["funding_source"] == "none"
    net = summary["realized_pnl"] - summary["fees"] + summary["funding"]
    assert summary["net_pnl"] == pytest.approx(net)
    assert summary["ending_equity"] == pytest.approx(summary["starting_balance"] + net)
    assert "plotly" in html.read_text()[:5_000_000]


def test_engine_run_on_synthetic_bars(tmp_path: Path) -> None:
    out = tmp_path / "e.json"
    res = run("--strategy", "trend_ema", "--synthetic", "--days", "2", "--symbols",
              "BTCUSDT,ETHUSDT", "--json", str(out), "--ladder", "1:25,2:50",
              "--kill-threshold", "0.7")  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    summary = doc["summary"]
    assert summary["rules"] == "system" and summary["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert summary["trades"] == len(doc["trades"])
    assert summary["funding_source"] == "flat 0.0001/8h"
    net = summary["realized_pnl"] - summary["fees"] + summary["funding"]
    assert summary["net_pnl"] == pytest.approx(net)
    assert summary["ending_equity"] == pytest.approx(summary["starting_balance"] + net)
    assert sum(t["pnl"] for t in doc["trades"]) == pytest.approx(net)
    for t in doc["trades"]:
        assert t["exits"] and t["exit_reason"] == t["exits"][-1]["reason"]
        assert sum(e["qty"] for e in t["exits"]) == pytest.approx(t["qty"])
        assert sum(e["pnl"] for e in t["exits"]) + t["funding"] == pytest.approx(t["pnl"])
    res = run("--strategy", "trend_ema", "--synthetic", "--days", "2", "--symbols", "BTCUSDT")
    for words in ("ending equity", "net PnL (realized − fees + funding)", "+ received, − paid"):
        assert words in res.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--strategy", "nope", "--synthetic"], "--strategy"),
        (["--strategy", "trend_ema,trend_ema", "--synthetic"], "--strategy"),
        (["--strategy", "trend_ema,breakout", "--synthetic", "--param", "fast=5"], "--param"),
        (["--strategy", "trend_ema"], "--data"),
        (["--strategy", "trend_ema", "--data", "/no/such/dir"], "--data"),
        (["--strategy", "trend_ema", "--synthetic", "--symbols", "FOOUSDT"], "--symbols"),
        (["--strategy", "trend_ema", "--synthetic", "--ladder", "1:33"], "--ladder"),
        (["--strategy", "trend_ema", "--synthetic", "--start", "2024-13-01"], "--start"),
        (["--strategy", "trend_ema", "--synthetic", "--fee", "abc"], "--fee"),
        (["--strategy", "trend_ema", "--synthetic", "--leverage", "500"], "--leverage"),
        (["--strategy", "trend_ema", "--synthetic", "--kill-threshold", "2"], "--kill-threshold"),
        (["--strategy", "ref_ema_cross", "--synthetic", "--param", "stop_pct=2"], "--param"),
        (["--strategy", "trend_ema", "--synthetic", "--report", "x.pdf"], "--report"),
        (["--strategy", "trend_ema", "--synthetic", "--repair"], "--repair"),
    ],
)
def test_bad_input_is_one_line_naming_the_option(args: list[str], option: str) -> None:
    res = run(*args, "--days", "1")
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("error: ") and option in lines[0]
    assert "Traceback" not in res.output


def test_without_strategy_the_configured_strategies_trade_with_the_configured_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set ``quantum run`` trades, in its order, with the settings' decision
    parameters; the summary says which settings were in force."""
    monkeypatch.setenv("QUANTUM_STRATEGIES__NAMES", "breakout,trend_ema")
    monkeypatch.setenv("QUANTUM_TRADING_SYMBOLS", "ETHUSDT,SOLUSDT")
    out = tmp_path / "configured.json"
    res = run("--synthetic", "--days", "2", "--json", str(out))
    assert res.exit_code == 0, res.output
    summary = json.loads(out.read_text())["summary"]
    assert summary["strategy"] == "breakout,trend_ema"
    assert summary["symbols"] == ["ETHUSDT", "SOLUSDT"]
    assert summary["settings"]["strategies"]["names"] == ["breakout", "trend_ema"]
    assert summary["trades"] > 0
    assert "max_positions" not in summary["skipped_entries"]
    # a decision setting from the environment reaches the backtest's entry gate
    monkeypatch.setenv("QUANTUM_GATE__MAX_OPEN_POSITIONS", "1")
    strict = tmp_path / "strict.json"
    assert run("--synthetic", "--days", "2", "--json", str(strict)).exit_code == 0
    doc = json.loads(strict.read_text())["summary"]
    assert doc["skipped_entries"]["max_positions"] > 0 and doc["trades"] < summary["trades"]
    assert doc["settings"]["gate"]["max_open_positions"] == 1


def test_breakdowns_in_the_table_and_the_json_add_up_to_the_run(tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    res = run("--strategy", "trend_ema,breakout", "--synthetic", "--days", "2", "--symbols",
              "BTCUSDT,ETHUSDT", "--json", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Breakdowns (positions)" in res.output
    doc = json.loads(out.read_text())
    summary, trades = doc["summary"], doc["trades"]
    groups = summary["breakdowns"]
    assert list(groups) == ["symbol", "month", "exit_reason", "strategy", "side"]
    assert set(groups["strategy"]) == {t["strategy"] for t in trades} == {"trend_ema", "breakout"}
    assert set(groups["side"]) <= {"LONG", "SHORT"}
    for rows in groups.values():
        assert sum(r["trades"] for r in rows.values()) == summary["trades"] == len(trades)
        net = sum(r["net_pnl"] for r in rows.values())
        assert net == pytest.approx(summary["net_pnl"]) and net == pytest.approx(
            sum(t["pnl"] for t in trades)
        )
    btc = [t for t in trades if t["symbol"] == "BTCUSDT"]
    assert groups["symbol"]["BTCUSDT"]["trades"] == len(btc)
    assert groups["symbol"]["BTCUSDT"]["win_rate"] == pytest.approx(
        sum(t["pnl"] > 0 for t in btc) / len(btc)
    )
