"""Parity, widened: 4 symbols, 24 market hours, 3 seeds, the default strategies traded
together — the running system (paper, stepped time, every service on real Redis, the
simulated exchange over its HTTP front through ccxt) and the backtester make the same
fills and the same trade list, with partial harvests, trailing stops, kill-score exits,
cooldowns, risk-mode transitions and funding all occurring.

The three seeds run as three processes at once (each paper run is one process with its
own embedded redis-server), so the proof costs about two runs of wall time on two cores.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.backtest.engine import build_replay
from quantum_trader.bootstrap import engine_config
from quantum_trader.config import Settings, load_settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.marks import synthetic_mark_bars
from quantum_trader.ops.paper_run import (
    START_MS,
    PaperRun,
    PaperRunConfig,
)
from tests.integration.backtest.test_paper_backtest_parity import facts

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")
STRATEGIES = ("trend_ema", "breakout", "mean_reversion")
HOURS = 24.0
SEEDS = (3, 5, 8)
COOLDOWN_MS = 15 * 60_000  # long enough that a fresh signal meets it

HISTORY = Settings().strategies.history_bars  # bars before either side trades


@dataclass(frozen=True)
class Sides:
    """What one seed gave on each side, and what occurred in it."""

    paper_fills: list[tuple[object, ...]]
    backtest_fills: list[tuple[object, ...]]
    paper_open: list[tuple[str, str, Decimal]]  # positions the paper run ends with
    backtest_ended: list[tuple[str, str, Decimal]]  # what the backtest closed at its end
    paper_trades: list[tuple[object, ...]]
    backtest_trades: list[tuple[object, ...]]
    paper_funding: Decimal
    backtest_funding: Decimal
    exit_labels: set[str]
    skipped: dict[str, int]


def _labels(trades: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return sorted(
        (
            t["symbol"],
            t["entry_time"],
            t["exit_time"],
            t["qty"],
            t["exit_reason"],
            tuple(e["reason"] for e in t["exits"]),  # type: ignore[attr-defined]
        )
        for t in trades
    )


def both_sides(seed: int) -> Sides:
    """One seed through paper and through the backtester (run in a worker process)."""
    os.environ.pop("QUANTUM_REDIS_URL", None)
    tmp = Path(tempfile.mkdtemp(prefix=f"parity-{seed}-"))
    settings = load_settings(
        data_dir=tmp / "var",
        # the signal engine starts from the history the backtest's strategies see
        strategies={"names": list(STRATEGIES), "warmup_bars": HISTORY},
        apply={"cooldown_ms": COOLDOWN_MS},
    )
    run = PaperRun(settings, PaperRunConfig(symbols=SYMBOLS, hours=HOURS, seed=seed, venue="http"))
    summary = asyncio.run(run.run())
    assert run.sim is not None
    bars = HISTORY + int(HOURS * 60) + 1
    market = generate_market(list(SYMBOLS), bars, MarketConfig(seed=seed, start_ms=START_MS))
    config = engine_config(settings, seed=seed, workers=1)  # history bars included
    series = [market.bars[s] for s in SYMBOLS]
    # the venue walked the synthetic market's mark beside it
    replay = build_replay(series, STRATEGIES, config, marks=synthetic_mark_bars(market, series))
    result = replay.run(",".join(STRATEGIES))
    # The backtest closes what is open at the end of its data (reason "end"); the running
    # system keeps it open: compared apart, as the positions the paper run ends with.
    ended = [t.as_json() for t in result.trades if t.exit_reason == "end"]
    end_fills = {(t["symbol"], e["time"]) for t in ended for e in t["exits"]}  # type: ignore[attr-defined]
    backtest_trades = [t.as_json() for t in result.trades if t.exit_reason != "end"]
    return Sides(
        paper_fills=sorted(facts(list(run.sim.core.history().fills))),
        backtest_fills=sorted(
            f for f in facts(list(replay.core.history().fills)) if (f[0], f[1]) not in end_fills
        ),
        paper_open=sorted(
            (p.symbol, p.side.value, p.qty) for p in run.sim.core.account().positions
        ),
        backtest_ended=sorted(
            (str(t["symbol"]), str(t["side"]), Decimal(str(t["qty"]))) for t in ended
        ),
        paper_trades=_labels(summary.trades),
        backtest_trades=_labels(backtest_trades),
        paper_funding=run.sim.core.ledger().funding,
        backtest_funding=replay.core.ledger().funding,
        exit_labels={str(e["reason"]) for t in summary.trades for e in t["exits"]},  # type: ignore[attr-defined]
        skipped=dict(result.skipped),
    )


@pytest.mark.long
@pytest.mark.timeout(1500)  # a hang guard: about 5 minutes on two cores
def test_four_symbols_a_day_three_seeds_same_fills_and_trades() -> None:
    context = multiprocessing.get_context("spawn")  # no fork of a process with a loop
    with ProcessPoolExecutor(max_workers=len(SEEDS), mp_context=context) as pool:
        results = dict(zip(SEEDS, pool.map(both_sides, SEEDS), strict=True))

    for seed, sides in results.items():
        assert sides.paper_fills == sides.backtest_fills, f"seed {seed}: fills differ"
        assert sides.paper_trades == sides.backtest_trades, f"seed {seed}: trades differ"
        assert sides.paper_open == sides.backtest_ended, f"seed {seed}: open at the end"
        assert sides.paper_funding == sides.backtest_funding, f"seed {seed}: funding"
        assert len(sides.paper_trades) >= 20, f"seed {seed}: too few trades to prove much"

    assert any(s.paper_funding != 0 for s in results.values()), "no funding was paid"
    labels = set().union(*(s.exit_labels for s in results.values()))
    assert any(label.startswith("harvest_tranche:") for label in labels), labels
    assert {"trailing_stop", "kill_score", "stop"} <= labels, labels
    skipped: dict[str, int] = {}
    for sides in results.values():
        for reason, count in sides.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    assert skipped.get("cooldown", 0) > 0, skipped  # a signal met the cooldown
    assert skipped.get("risk_reduce_only", 0) > 0, skipped  # the risk mode changed
