"""The signal model served by the running system: a paper run (stepped time, every
service on a real Redis, the simulated exchange over its HTTP front through ccxt) with
``strategies.names = ["model"]`` trades exactly what ``quantum backtest --strategy model``
trades on the same bars, and its summary names the model that traded. A promotion while
the signal engine runs is served from the next bar, with an event saying so."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.backtest.engine import build_replay
from quantum_trader.bootstrap import engine_config, strategy_params
from quantum_trader.config import Settings, load_settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.funding import FundingSeries, generate_funding, write_funding_csv
from quantum_trader.data.writers import dump_name, write_klines_csv
from quantum_trader.domain.orders import Fill
from quantum_trader.exchange.interface import FundingRate
from quantum_trader.exchange.sim import MatchingCore
from quantum_trader.model.card import trained_with_funding
from quantum_trader.model.registry import Registry
from quantum_trader.ops.paper_run import PaperRun, PaperRunConfig
from tests.integration.model.models import SYMBOLS, trained

HOURS = 4
MIDNIGHT = 1_706_745_600_000  # 2024-02-01 00:00 UTC, a funding time

HISTORY = Settings().strategies.history_bars  # bars before either side trades


def facts(fills: list[Fill]) -> list[tuple[str, int, str, Decimal, Decimal, bool]]:
    return sorted((f.symbol, f.ts, f.side.value, f.qty, f.price, f.reduce_only) for f in fills)


def paper_market(
    tmp_path: Path, funding: bool = False
) -> tuple[Path, list[BarSeries], dict[str, FundingSeries]]:
    """Other bars than the model saw: a later stretch of another seed's planted market,
    with its funding-rate files beside the klines when ``funding``. It starts at 23:30, so
    its warm-up (7 hours) and its trading each cross a funding time (00:00, 08:00)."""
    config = MarketConfig(seed=12, planted_drift=0.2, start_ms=MIDNIGHT - 30 * 60_000)
    market = generate_market(SYMBOLS, HISTORY + HOURS * 60 + 1, config)
    data = tmp_path / "bars"
    data.mkdir()
    rates = {s: generate_funding(market, s) for s in SYMBOLS} if funding else {}
    for s in market.bars.values():
        write_klines_csv(s, data / dump_name(s))
    for symbol, series in rates.items():
        write_funding_csv(series, data / f"{symbol}-fundingRate-2024-02.csv")
    return data, list(market.bars.values()), rates


@pytest.mark.parametrize("case", ["plain", "funding-pinned-filter"])
async def test_a_paper_run_serving_the_model_trades_what_its_backtest_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """``funding-pinned-filter``: the model learned from funding rates and the bars have
    recorded ones — the paper run's signal engine takes them from the venue's fundingRate
    history, the backtest from the same settlements —, ``model.pinned`` serves it though
    another model is promoted, and ``model.filter`` has it judge breakout's entries
    (meta-labelling), in both; the two still trade alike."""
    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    funding = case != "plain"
    data_dir = tmp_path / "var"
    models = Registry(data_dir / "models")
    model_id = trained(models, seed=1, funding=funding)
    assert trained_with_funding(models.card(model_id)) is funding
    chosen: dict[str, str] = {}
    if case != "plain":
        promoted = trained(models, seed=2)
        assert models.promoted() == promoted != model_id
        chosen = {"pinned": model_id, "filter": "breakout"}
    settings = load_settings(data_dir=data_dir, strategies={"names": ["model"]}, model=chosen)
    data, series, rates = paper_market(tmp_path, funding)
    answered: list[FundingRate] = []  # what the venue's fundingRate history answered
    real = MatchingCore.funding_rates

    def recorded(core: MatchingCore, *args: Any, **kwargs: Any) -> list[FundingRate]:
        rows = real(core, *args, **kwargs)
        answered.extend(rows)
        return rows

    monkeypatch.setattr(MatchingCore, "funding_rates", recorded)
    run = PaperRun(settings, PaperRunConfig(symbols=(), data=data, data_hours=HOURS, seed=7))
    summary = await run.run()
    assert run.sim is not None
    assert summary.models == [model_id]
    assert summary.violations == 0 and summary.entries >= 2
    paper = facts(list(run.sim.core.history().fills))
    # The signal engine asked the venue for the settled rates (the warm-up's, then the
    # hours' as they passed) and was told both funding times, in the recorded rates when
    # there are files, else the flat one.
    assert {r.funding_time for r in answered} == {MIDNIGHT, MIDNIGHT + 8 * 3_600_000}
    flat = Decimal("0.0001")
    want = {s: Decimal(str(r.rate_for(MIDNIGHT))) for s, r in rates.items()} if funding else {}
    assert {r.symbol: r.rate for r in answered if r.funding_time == MIDNIGHT} == (
        want or dict.fromkeys(SYMBOLS, flat)
    )

    config = engine_config(settings, seed=7, workers=1)  # trades after the same history
    params = strategy_params(settings, "model")
    replay = build_replay(series, "model", config, params, funding=rates)
    result = replay.run("model")
    # the backtest closes a position still open at the data's end (reason "end"); the
    # paper run stops there with it open
    ended = {(t.symbol, t.exit_time) for t in result.trades if t.exit_reason == "end"}
    fills = [f for f in replay.core.history().fills if (f.symbol, f.ts) not in ended]
    assert facts(fills) == paper
    assert len(result.trades) >= 1
    assert sorted((t["symbol"], t["entry_time"]) for t in summary.trades) == sorted(
        (t.symbol, t.entry_time) for t in result.trades if t.exit_reason != "end"
    )
