"""A stepped multi-process run over a universe of its own (a packaged contract and a
derived one of the scale universe) trades both and reports the CPU seconds of every
service process, the redis-server and the orchestrator, read just before they stop."""

from __future__ import annotations

from pathlib import Path

from quantum_trader.config import load_settings
from quantum_trader.exchange.sim.scale_universe import scale_universe
from quantum_trader.ops.service_main import SERVICES
from quantum_trader.ops.stepped.faults import RunConfig
from quantum_trader.ops.stepped.run import QUIET_BARS, SteppedRun

SYMBOLS = ("BTCUSDT", "SYN023USDT")


async def test_a_short_two_symbol_run_reports_positive_cpu_per_process(tmp_path: Path) -> None:
    universe = scale_universe(23)
    config = RunConfig(
        symbols=SYMBOLS,
        hours=0.1,
        data_dir=tmp_path / "run",
        specs=universe.specs,
        instruments=universe.instruments,
    )
    run = SteppedRun(config, settings=load_settings(data_dir=tmp_path / "var"), run_id="cpu")
    report = await run.run()
    data = report.to_json()
    assert report.violations_total == 0, data["violations_by_invariant"]
    assert data["config"]["symbols"] == list(SYMBOLS)  # the venue listed the derived one
    processes = {*SERVICES, "redis-server", "orchestrator"}
    assert set(data["cpu_seconds"]) == processes == set(data["cpu_seconds_bars"])
    for name in processes:
        total, bars = data["cpu_seconds"][name], data["cpu_seconds_bars"][name]
        assert total > 0, (name, data["cpu_seconds"])
        assert 0 <= bars <= total, (name, bars, total)
    assert data["cpu_seconds_bars"]["orchestrator"] > 0  # the feed and the exchange moved
    assert data["cpu_bars"] == 6 + QUIET_BARS  # counted from the end of the first bar
