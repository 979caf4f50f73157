"""Parity: the same bars through the running system (paper, stepped time: every service,
real Redis, the simulated exchange over its HTTP front through ccxt) and through the
backtester give the same fills — so the same trade list."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.backtest.engine import build_replay
from quantum_trader.bootstrap import engine_config
from quantum_trader.config import Settings, load_settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.marks import synthetic_mark_bars
from quantum_trader.domain.orders import Fill
from quantum_trader.ops.paper_run import (
    START_MS,
    PaperRun,
    PaperRunConfig,
    journal_path,
)
from quantum_trader.services.journal import Journal

HISTORY = Settings().strategies.history_bars  # bars before either side trades


def facts(fills: list[Fill]) -> list[tuple[str, int, str, Decimal, Decimal, bool]]:
    return [(f.symbol, f.ts, f.side.value, f.qty, f.price, f.reduce_only) for f in fills]


@pytest.mark.parametrize(
    ("symbols", "strategies", "seed"),
    [
        (("ETHUSDT",), ("trend_ema",), 7),
        (("ETHUSDT",), ("breakout",), 7),
        # the configured default set, traded together on 4 symbols: test_parity_widened.py
    ],
)
async def test_paper_and_backtest_make_the_same_trades(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    symbols: tuple[str, ...],
    strategies: tuple[str, ...],
    seed: int,
) -> None:
    monkeypatch.delenv("QUANTUM_REDIS_URL", raising=False)
    hours = 4.0
    settings = load_settings(data_dir=tmp_path / "var", strategies={"names": list(strategies)})
    run = PaperRun(settings, PaperRunConfig(symbols=symbols, hours=hours, seed=seed, venue="http"))
    summary = await run.run()
    assert run.sim is not None and summary.entries >= 1
    paper = facts(list(run.sim.core.history().fills))

    bars = HISTORY + int(hours * 60) + 1
    market = generate_market(list(symbols), bars, MarketConfig(seed=seed, start_ms=START_MS))
    # the backtest's decisions come from the same settings, through the composition root
    config = engine_config(settings, seed=seed, workers=1)  # history bars included
    series = [market.bars[s] for s in symbols]
    # the venue walked the synthetic market's mark beside it
    replay = build_replay(series, strategies, config, marks=synthetic_mark_bars(market, series))
    result = replay.run(",".join(strategies))
    backtest = facts(list(replay.core.history().fills))

    assert sorted(paper) == sorted(backtest)
    assert len(result.trades) >= 1

    # … and the same trade list, every exit labelled alike (stops moved by the exit
    # brain included: the apply layer records the label the backtester uses)
    def labels(trades: list[dict[str, object]]) -> list[tuple[object, ...]]:
        return sorted(
            (t["symbol"], t["entry_time"], t["exit_reason"], tuple(e["reason"] for e in t["exits"]))  # type: ignore[union-attr]
            for t in trades
        )

    assert labels(summary.trades) == labels([t.as_json() for t in result.trades])

    # The paper summary's money is the venue's, in the words every summary uses.
    money = run.sim.core.ledger()
    assert Decimal(summary.starting_balance) == Decimal(10_000)
    assert Decimal(summary.ending_equity) == run.sim.core.account().margin_balance
    net = money.realized_pnl - money.commission + money.funding
    assert Decimal(summary.net_pnl) == net
    # Journal: a closed position's exit price is the average of its exit fills, so it
    # agrees with its realized PnL (the last fill's price does not, after a harvest).
    journal = Journal(f"sqlite:///{journal_path(run.settings)}")
    rows, mark = journal.closed(), journal.last_account()
    journal.close()
    assert mark is not None and mark.net_pnl == net
    for row in rows:
        sign = 1 if row.side == "LONG" else -1
        moved = (Decimal(row.exit_price) - Decimal(row.entry_price)) * Decimal(row.qty) * sign
        assert abs(moved - Decimal(row.realized_pnl)) < Decimal("1e-8"), row
