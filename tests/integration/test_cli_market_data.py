"""Market data through the real ``quantum`` command line: symbols the simulator does not
list, mixed intervals, --repair, files not named like dumps, outliers, ignored options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from quantum_trader import cli
from quantum_trader.data import BarSeries, load_klines
from tests.integration.test_cli_errors import one_line_error

runner = CliRunner()


@pytest.fixture(autouse=True)
def _mounted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QUANTUM_DATA_DIR", str(tmp_path / "var"))
    cli._mount_optional()


def quantum(*args: str) -> Result:
    return runner.invoke(cli.app, list(args))


def synth(out: Path, symbols: str, *extra: str) -> list[Path]:
    result = quantum("data", "synth", "--symbols", symbols, "--days", "2", "--no-funding",
                     "--out", str(out), "--json", *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    return [Path(f["path"]) for f in json.loads(result.stdout)["files"]]


def backtest(*args: str) -> Result:
    return quantum("backtest", "--strategy", "breakout", *args)


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_a_synthetic_symbol_the_simulator_does_not_list_trades_on_derived_filters() -> None:
    result = backtest("--synthetic", "--symbols", "SUIUSDT", "--days", "2")
    assert result.exit_code == 0, result.output
    assert "SUIUSDT is not in the simulated universe" in result.stderr
    assert "tick 0.0001" in result.stderr and "min notional 5 USDT" in result.stderr


def test_every_symbol_data_synth_writes_can_be_backtested(tmp_path: Path) -> None:
    synth(tmp_path, "1000PEPEUSDT,WLDUSDT,INJUSDT,BTCUSDT")
    result = backtest("--data", str(tmp_path))
    assert result.exit_code == 0, result.output
    for name in ("1000PEPEUSDT", "WLDUSDT", "INJUSDT"):
        assert f"{name} is not in the simulated universe" in result.stderr
    assert "tick 0.0000001" in result.stderr  # 1000PEPE, written plainly
    assert "BTCUSDT is not" not in result.stderr


def test_a_spot_symbol_is_refused_by_name(tmp_path: Path) -> None:
    (path,) = synth(tmp_path / "src", "XRPUSDT")
    spot = tmp_path / "spot" / path.name.replace("XRPUSDT", "XRPETH")
    spot.parent.mkdir()
    spot.write_text(path.read_text())
    one_line_error(backtest("--data", str(spot)), 2, "--data", "XRPETH", "not a USDⓈ-M symbol")
    reference = quantum("backtest", "--strategy", "ref_ema_cross", "--data", str(spot))
    one_line_error(reference, 2, "--data", "XRPETH")  # one engine: the reference trades it too


def test_mixed_intervals_name_data_and_the_fix(tmp_path: Path) -> None:
    synth(tmp_path, "BTCUSDT")
    synth(tmp_path, "ETHUSDT", "--interval", "5m")
    line = one_line_error(backtest("--data", str(tmp_path)), 2, "--data", "--timeframe 5m")
    assert "--param" not in line
    assert backtest("--data", str(tmp_path), "--timeframe", "5m").exit_code == 0


def test_empty_symbols_and_non_binance_timeframes_are_refused() -> None:
    one_line_error(backtest("--synthetic", "--symbols", ""), 2, "--symbols", "empty")
    one_line_error(backtest("--synthetic", "--symbols", ",,"), 2, "--symbols", "empty")
    one_line_error(backtest("--synthetic", "--timeframe", "7m"), 2, "--timeframe", "'7m'")


def _damaged(tmp_path: Path, name: str = "prices.csv") -> tuple[Path, Path]:
    """A dump and a copy of it, renamed, with a duplicate, a swap and a 3-bar gap."""
    (path,) = synth(tmp_path / "src", "SOLUSDT")
    rows = lines_of(path)
    rows.insert(50, rows[49])
    rows[10], rows[11] = rows[11], rows[10]
    del rows[200:203]
    damaged = tmp_path / name
    damaged.write_text("\n".join(rows) + "\n")
    return path, damaged


def test_backtest_repair_and_a_file_not_named_like_a_dump(tmp_path: Path) -> None:
    _, damaged = _damaged(tmp_path)
    one_line_error(backtest("--data", str(damaged)), 2, "--data", "--symbol and --interval")
    named = ("--data", str(damaged), "--symbol", "solusdt", "--interval", "1m")
    one_line_error(backtest(*named), 2, "--data", "row 12", "rerun with --repair")
    result = backtest(*named, "--repair")
    assert result.exit_code == 0, result.output
    assert "--repair: SOLUSDT 1m: reordered, dropped 1 exact duplicates, filled 1 gaps " in (
        result.stderr
    )
    one_line_error(backtest("--synthetic", "--repair"), 2, "--repair")
    one_line_error(backtest("--data", str(tmp_path / "src"), "--symbol", "X"), 2, "--symbol")
    one_line_error(backtest(*named[:4], "--interval", "7m"), 2, "--interval", "'7m'")


def test_data_inspect_repair_out_writes_the_repaired_file(tmp_path: Path) -> None:
    original, damaged = _damaged(tmp_path)
    out = tmp_path / "fixed.csv"
    one_line_error(quantum("data", "inspect", str(damaged), "--out", str(out)), 2, "--repair")
    args = ["data", "inspect", str(damaged), "--symbol", "SOLUSDT", "--interval", "1m"]
    result = quantum(*args, "--repair", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "--symbol SOLUSDT --interval 1m" in result.stdout  # how to read it back
    _assert_repaired(load_klines(out, symbol="SOLUSDT", interval="1m"), load_klines(original))
    again = quantum("data", "inspect", str(out), "--symbol", "SOLUSDT", "--interval", "1m",
                    "--json")  # fmt: skip
    (summary,) = json.loads(again.stdout)["series"]
    assert summary["rows"] == 2880 and summary["gaps"] == summary["duplicates"] == 0
    assert summary["unsorted"] == 0 and summary["problems"] == []
    bad = quantum(*args, "--repair", "--out", str(tmp_path / "nowhere" / "x.csv"))
    one_line_error(bad, 2, "--out", "does not exist")


def _assert_repaired(repaired: BarSeries, original: BarSeries) -> None:
    """The original bars, except the three of the gap: flat at the close before, no volume."""
    assert np.array_equal(repaired.open_time, original.open_time)
    gap = np.zeros(len(original), bool)
    gap[199:202] = True
    for got, want in zip(repaired.columns()[1:], original.columns()[1:], strict=True):
        assert np.array_equal(got[~gap], want[~gap])
    flat = original.close[198]
    for column in (repaired.open, repaired.high, repaired.low, repaired.close):
        assert (column[gap] == flat).all()
    assert (repaired.volume[gap] == 0).all()


def test_data_inspect_flags_a_price_a_thousand_times_its_neighbours(tmp_path: Path) -> None:
    (path,) = synth(tmp_path, "ETHUSDT")
    rows = lines_of(path)
    cells = rows[100].split(",")
    cells[1:5] = [f"{float(c) * 1000:.2f}" for c in cells[1:5]]
    rows[100] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n")
    result = quantum("data", "inspect", str(path), "--json")
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)["series"]
    assert summary["outliers"] == 1
    assert any("row 101: price" in p and "× the closes around it" in p for p in summary["problems"])
    table = quantum("data", "inspect", str(path))
    assert "1 price outliers" in table.stdout
    run = backtest("--data", str(path))
    assert run.exit_code == 0, run.output
    assert "warning: --data:" in run.stderr and "row 101" in run.stderr


def test_ref_ema_cross_says_which_options_it_ignores() -> None:
    result = quantum("backtest", "--strategy", "ref_ema_cross", "--synthetic", "--days", "2",
                     "--symbols", "BTCUSDT", "--ladder", "1:25",
                     "--kill-threshold", "0.5")  # fmt: skip
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert "--ladder, --kill-threshold" in warning and "--no-strategy-rules" in warning
    quiet = quantum("backtest", "--strategy", "ref_ema_cross", "--synthetic", "--days", "2",
                    "--symbols", "BTCUSDT")  # fmt: skip
    assert "warning" not in quiet.stderr
    engine = quantum("backtest", "--strategy", "ref_ema_cross", "--synthetic", "--days", "2",
                     "--symbols", "BTCUSDT", "--no-strategy-rules", "--ladder", "1:25")  # fmt: skip
    assert engine.exit_code == 0 and "warning" not in engine.stderr


def test_help_speaks_cli_not_python() -> None:
    help_text = quantum("backtest", "-h").stdout
    assert "available()" not in help_text
    assert "breakout" in help_text and "--repair" in help_text and "--symbol" in help_text
