"""Funding in backtests: recorded or synthetic ``…-fundingRate-…`` files beside the klines
set the exchange's rates, each position carries the funding it paid or received, and the
summary names the source."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import build_replay
from quantum_trader.cli.backtest import backtest_command
from quantum_trader.cli.data import app as data_app
from quantum_trader.data import BarSeries, FundingSeries, load_klines
from quantum_trader.data.funding import find_funding, write_funding_csv
from quantum_trader.exchange.sim import NO_SLIPPAGE
from tests.conftest import shared_data
from tests.unit.backtest.test_engine import CONFIG, hand_made

HOUR = 3_600_000
app = typer.Typer()
app.command("backtest")(backtest_command)


@app.command("version")
def _version() -> None:
    pass


def across_funding() -> tuple[int, BarSeries]:
    """The hand-made bars shifted so bar 34 opens at 08:00 UTC, while the position is open."""
    bars = hand_made()
    settle = int(bars.open_time[0]) + 8 * HOUR
    shifted = replace(bars, open_time=bars.open_time + (settle - int(bars.open_time[34])))
    return settle, shifted


def test_recorded_rates_are_settled_and_carried_by_the_position() -> None:
    settle, bars = across_funding()
    rates = FundingSeries("BTCUSDT", np.array([settle + 17], dtype=np.int64), np.array([0.001]))
    config = replace(CONFIG, funding_rate=Decimal("0.0001"))
    replay = build_replay([bars], "scripted_long_test", config, funding={"BTCUSDT": rates})
    result = replay.run("scripted_long_test")
    (payment,) = replay.core.history().funding
    assert payment.funding_time == settle and payment.rate == Decimal("0.001")  # the file's
    assert payment.amount < 0  # a long pays a positive rate
    (trade,) = result.trades
    assert trade.funding == pytest.approx(float(payment.amount)) == pytest.approx(result.funding)
    assert trade.pnl == pytest.approx(sum(e.pnl for e in trade.exits) + trade.funding)
    assert result.final_equity == pytest.approx(10_000.0 + trade.pnl)
    assert result.net_pnl == pytest.approx(trade.pnl)
    assert result.funding_source == "files: 1 symbols"


def test_without_files_the_flat_rate_is_charged_and_named() -> None:
    _, bars = across_funding()
    config = replace(CONFIG, funding_rate=Decimal("0.0001"))
    replay = build_replay([bars], "scripted_long_test", config)
    result = replay.run("scripted_long_test")
    (payment,) = replay.core.history().funding
    assert payment.rate == Decimal("0.0001")
    assert result.trades[0].funding == pytest.approx(float(payment.amount))
    assert result.funding_source == "flat 0.0001/8h"
    off = build_replay([bars], "scripted_long_test", CONFIG).run("scripted_long_test")
    assert off.funding == 0.0 and off.funding_source == "none"


def test_funding_files_are_found_beside_a_kline_file_and_joined(tmp_path: Path) -> None:
    first = FundingSeries(
        "ETHUSDT", np.array([0, 8 * HOUR], dtype=np.int64), np.array([1e-4, 2e-4])
    )
    second = FundingSeries(
        "ETHUSDT", np.array([8 * HOUR, 16 * HOUR], dtype=np.int64), np.array([2e-4, -3e-4])
    )
    write_funding_csv(first, tmp_path / "ETHUSDT-fundingRate-2024-01.csv")
    write_funding_csv(second, tmp_path / "plain.csv")
    with zipfile.ZipFile(tmp_path / "ETHUSDT-fundingRate-2024-02.zip", "w") as archive:
        archive.write(tmp_path / "plain.csv", "ETHUSDT-fundingRate-2024-02.csv")
    write_funding_csv(replace(first, symbol="SOLUSDT"), tmp_path / "SOLUSDT-fundingRate-x.csv")
    (tmp_path / "ETHUSDT-1m-2024-01.csv").write_text("")
    found = find_funding(tmp_path / "ETHUSDT-1m-2024-01.csv", ["ETHUSDT"])
    assert list(found) == ["ETHUSDT"]
    assert found["ETHUSDT"].funding_time.tolist() == [0, 8 * HOUR, 16 * HOUR]
    assert found["ETHUSDT"].rate.tolist() == [1e-4, 2e-4, -3e-4]
    assert set(find_funding(tmp_path)) == {"ETHUSDT", "SOLUSDT"}


def test_real_binance_funding_file_beside_the_klines_is_used(tmp_path: Path) -> None:
    klines = shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")
    recorded = find_funding(klines)["XRPUSDT"]  # read in place from ../shared/data
    assert len(recorded) == 91
    replay = build_replay(
        [load_klines(klines, allow_gaps=True)],
        "trend_ema",
        EngineConfig(slippage=NO_SLIPPAGE, workers=1),
        funding={"XRPUSDT": recorded},
    )
    result = replay.run("trend_ema")
    paid = replay.core.history().funding
    assert result.funding_source == "files: 1 symbols"
    in_file = [p for p in paid if p.funding_time >= int(recorded.funding_time[0]) - 60_000]
    assert in_file, "no position was open at a funding time covered by the file"
    for p in in_file:
        assert float(p.rate) == pytest.approx(recorded.rate_for(p.funding_time + 60_000))
    assert sum(t.funding for t in result.trades) == pytest.approx(result.funding)
    out = tmp_path / "x.json"
    res = CliRunner().invoke(
        app, ["backtest", "--strategy", "trend_ema", "--data", str(klines), "--json", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["summary"]["funding_source"] == "files: 1 symbols"
    assert "files: 1 symbols" in res.output


def test_synthetic_dump_writes_funding_files_that_backtests_use(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    made = CliRunner().invoke(
        data_app, ["synth", "--symbols", "BTCUSDT", "--days", "2", "--out", str(out), "--json"]
    )
    assert made.exit_code == 0, made.output
    assert [p.name for p in out.glob("*-fundingRate-*")] == [
        "BTCUSDT-fundingRate-2024-01-01_2024-01-02.csv"
    ]
    doc = tmp_path / "bt.json"
    res = CliRunner().invoke(
        app, ["backtest", "--strategy", "trend_ema", "--data", str(out), "--json", str(doc)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(doc.read_text())["summary"]["funding_source"] == "files: 1 symbols"
