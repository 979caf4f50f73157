"""The signal model served by the running system: a paper run (stepped time, every
service on a real Redis, the simulated exchange over its HTTP front through ccxt) with
``strategies.names = ["model"]`` trades exactly what ``quantum backtest --strategy model``
trades on the same bars, and its summary names the model that traded. A promotion while
the signal engine runs is served from the next bar, with an event saying so."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.backtest.engine import build_replay
from quantum_trader.bootstrap import engine_config, strategy_params
from quantum_trader.config import load_settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.writers import dump_name, write_klines_csv
from quantum_trader.domain.orders import Fill
from quantum_trader.model.registry import Registry
from quantum_trader.ops.paper_run import WARMUP_BARS, PaperRun, PaperRunConfig
from tests.integration.model.models import SYMBOLS, trained

HOURS = 4


def facts(fills: list[Fill]) -> list[tuple[str, int, str, Decimal, Decimal, bool]]:
    return sorted((f.symbol, f.ts, f.side.value, f.qty, f.price, f.reduce_only) for f in fills)


def paper_market(tmp_path: Path) -> tuple[Path, list[BarSeries]]:
    """Other bars than the model saw: a later stretch of another seed's planted market."""
    config = MarketConfig(seed=11, planted_drift=0.2, start_ms=1_706_745_600_000)
    market = generate_market(SYMBOLS, WARMUP_BARS + HOURS * 60 + 1, config)
    data = tmp_path / "bars"
    data.mkdir()
    for s in market.bars.values():
        write_klines_csv(s, data / dump_name(s))
    return data, list(market.bars.values())


async def test_a_paper_run_serving_the_model_trades_what_its_backtest_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    settings = load_settings(data_dir=tmp_path / "var", strategies={"names": ["model"]})
    model_id = trained(Registry(settings.data_dir / "models"), seed=1)
    data, series = paper_market(tmp_path)
    run = PaperRun(settings, PaperRunConfig(symbols=(), data=data, data_hours=HOURS, seed=7))
    summary = await run.run()
    assert run.sim is not None
    assert summary.models == [model_id]
    assert summary.violations == 0 and summary.entries >= 2
    paper = facts(list(run.sim.core.history().fills))

    start = int(series[0].open_time[0])
    config = engine_config(
        settings, seed=7, trade_from_ms=start + (WARMUP_BARS + 1) * 60_000, workers=1
    )
    params = strategy_params(settings, "model")
    replay = build_replay(series, "model", config, params)
    result = replay.run("model")
    assert facts(list(replay.core.history().fills)) == paper
    assert len(result.trades) >= 1
    assert sorted((t["symbol"], t["entry_time"]) for t in summary.trades) == sorted(
        (t.symbol, t.entry_time) for t in result.trades if t.exit_reason != "end"
    )
