"""A run of any length finishes: request weight holds per market minute, a rate limit is
waited out, and a run that must stop still writes its summary and says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantum_trader.config import load_settings
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.interface import RetryableError
from quantum_trader.ops.paper_run import PaperRun, PaperRunConfig
from quantum_trader.services.market_feed import MarketFeed
from tests.integration.ops.run_process import start

pytestmark = pytest.mark.integration
SIX = "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,XRPUSDT,DOGEUSDT"


async def test_a_rate_limited_gap_fill_is_waited_out_and_the_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = CcxtBinanceExchange.barrier
    calls = {"n": 0}

    async def limited(self: CcxtBinanceExchange) -> None:
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RetryableError("-1003: Too much request weight used", retry_after_s=30)
        await real(self)

    monkeypatch.setattr(CcxtBinanceExchange, "barrier", limited)
    run = PaperRun(
        load_settings(data_dir=tmp_path / "var"),
        PaperRunConfig(symbols=("BTCUSDT", "ETHUSDT"), hours=0.5, seed=7),
    )
    summary = await run.run()
    assert run.rate_limited > 0
    assert summary.stopped_early is None and summary.market_minutes_run == 31
    assert summary.violations == 0


async def test_an_error_mid_run_stops_it_and_still_writes_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = MarketFeed.step

    async def breaks(self: MarketFeed, i: int, settle: object = None) -> int:
        if self.steps == 20:
            raise ConnectionResetError("venue went away")
        return await real(self, i, settle)  # type: ignore[arg-type]

    monkeypatch.setattr(MarketFeed, "step", breaks)
    run = PaperRun(
        load_settings(data_dir=tmp_path / "var"),
        PaperRunConfig(symbols=("BTCUSDT",), hours=1.0, seed=7),
    )
    summary = await run.run()
    assert summary.stopped_early == "error: ConnectionResetError: venue went away"
    assert 0 < summary.market_minutes_run < 61


async def test_a_run_builds_its_bus_and_heartbeats_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path / "var",
        stream_maxlen=5_000,
        heartbeat_interval_ms=500,
        heartbeat_ttl_ms=2_500,
        read_batch=17,
    )
    run = PaperRun(settings, PaperRunConfig(symbols=("BTCUSDT",), hours=0.05, seed=7))
    await run.run()
    assert run.parts is not None and run.supervisor is not None
    assert run.parts.bus.maxlen == 5_000
    runtimes = [r.runtime for r in run.supervisor.records.values() if r.runtime is not None]
    assert len(runtimes) == 9
    assert {(r.heartbeat_interval_s, r.heartbeat_ttl_ms) for r in runtimes} == {(0.5, 2_500)}
    assert {c.config.batch for r in runtimes for c in r.consumers} == {17}


@pytest.mark.long
@pytest.mark.timeout(1500)
def test_a_48_market_hour_run_on_six_symbols_finishes_with_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    proc = start(
        ["run", "--symbols", SIX, "--duration", "48", "--seed", "1", "--json", str(out)],
        {"QUANTUM_DATA_DIR": str(tmp_path / "var")},
        tmp_path,
    )
    _, stderr = proc.communicate(timeout=1200)
    assert proc.returncode == 0, stderr[-2000:]
    summary = json.loads(out.read_text())
    assert summary["stopped_early"] is None and summary["market_minutes_run"] == 48 * 60 + 1
    assert 0 < summary["request_weight_peak"] <= 2400
    assert all(not v for k, v in summary["invariants"].items() if k != "max_unprotected_seconds")


async def test_a_run_replays_kline_files_and_lists_its_trades_like_a_backtest(
    tmp_path: Path,
) -> None:
    from tests.conftest import shared_data

    data = shared_data("klines/XRPUSDT-5m-2021-11-15_2021-11-21.csv")
    settings = load_settings(data_dir=tmp_path / "var", strategies={"interval": "5m"})
    run = PaperRun(settings, PaperRunConfig(symbols=(), data=data, data_hours=48, seed=7))
    summary = await run.run()
    assert summary.symbols == ["XRPUSDT"] and summary.market_hours == 48
    assert summary.violations == 0 and summary.entries >= 1
    closed = sum(summary.exits_by_reason.values())
    assert len(summary.trades) == closed >= 1
    for trade in summary.trades:
        assert trade["symbol"] == "XRPUSDT" and trade["exits"]
        assert sum(e["qty"] for e in trade["exits"]) == pytest.approx(trade["qty"])
        assert trade["exit_reason"] == trade["exits"][-1]["reason"]
    assert {t["exit_reason"] for t in summary.trades} <= set(summary.exits_by_reason)
