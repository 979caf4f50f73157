"""Skipping quiet bars changes no fill.

The replay visits a holding symbol's bar only when a rule can fire on it; with
``skip_quiet_bars=False`` it visits every bar of every open position, as a plain
bar-by-bar replay does. On varied synthetic markets — several symbols in one account,
gaps in the data, funding, the harvest ladder, break-even and trailing stops, kill-score
and time stops, fixed stops and targets, cross-margin liquidations — both give the same
fills (time, side, quantity, price, client order id), the same skipped entries and the
same equity curve.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np
import pytest

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import build_replay
from quantum_trader.backtest.trades import BacktestResult
from quantum_trader.data import BarSeries, MarketConfig, generate_market
from quantum_trader.data.marks import NO_MARKS, MarkBars, synthetic_mark_bars
from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.decide.exit_brain import ExitConfig
from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.decide.sizing import SizingConfig
from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies import Bar, Signal, Strategy, StrategyState, register

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EveryState(StrategyState):
    pass


@register("alternating_wide_stop_test")
class AlternatingWideStop(Strategy[EveryState]):
    """LONG / SHORT in turn every 37 bars with a 5 % stop: sized large, they liquidate."""

    def __init__(self) -> None:
        self.warmup = 0

    def initial_state(self, symbol: str) -> EveryState:
        return EveryState(symbol=symbol)

    def advance(self, state: EveryState, bar: Bar) -> tuple[EveryState, Signal | None]:
        i = state.bars_seen
        if i % 37 != 5:
            return state, None
        side = PositionSide.LONG if (i // 37) % 2 else PositionSide.SHORT
        return state, self.signal(bar, side, confidence=1.0, stop_distance=bar.close * 0.05,
                                  features={})  # fmt: skip


def market(bars: int, seed: int, symbols: list[str] = SYMBOLS) -> list[BarSeries]:
    return list(generate_market(symbols, bars, MarketConfig(seed=seed)).bars.values())


def with_gaps(series: BarSeries, seed: int) -> BarSeries:
    rng = np.random.default_rng(seed)
    keep = np.ones(len(series), bool)
    for _ in range(15):
        at = int(rng.integers(100, len(series) - 200))
        keep[at : at + int(rng.integers(1, 90))] = False
    cols = [c[keep] for c in series.columns()]
    return BarSeries(series.symbol, series.interval, *cols)


RECKLESS = EngineConfig(
    leverage=50,
    sizing=SizingConfig(
        risk_pct=Decimal("0.9"),
        max_position_fraction=Decimal(45),
        max_notional_per_trade=Decimal(10**9),
        max_stop_fraction=Decimal("0.5"),
    ),
    risk=RiskConfig(
        max_gross_exposure_ratio=Decimal(1000),
        max_margin_utilisation=Decimal(1),
        daily_loss_limit_pct=Decimal(1),
        max_drawdown_pct=Decimal(1),
        consecutive_loss_limit=1000,
    ),
    gate=GateLimits(max_gross_exposure=Decimal(10**12)),
    apply=ApplyConfig(cooldown_ms=0),
)

CASES = {
    "trend_ema, 3 symbols, gaps": (
        lambda: [with_gaps(s, k) if k == 1 else s for k, s in enumerate(market(12_000, 3))],
        "trend_ema",
        EngineConfig(),
        {"harvest_tranche:1", "trailing_stop", "kill_score", "break_even", "stop"},
    ),
    "breakout, 2 symbols": (
        lambda: market(12_000, 3, SYMBOLS[:2]),
        "breakout",
        EngineConfig(),
        {"harvest_tranche:2", "trailing_stop", "kill_score"},
    ),
    "ref_ema_cross entries, system exits, short holding": (
        lambda: market(20_000, 7, SYMBOLS[:1]),
        "ref_ema_cross",
        EngineConfig(strategy_rules=False, exits=ExitConfig(max_holding_ms=90 * 60_000)),
        {"time_stop", "kill_score", "harvest_tranche:1"},
    ),
    "cross-margin liquidations": (
        lambda: market(12_000, 4),
        "alternating_wide_stop_test",
        RECKLESS,
        {"liquidation"},
    ),
    "ref_ema_cross rules, tight stops": (
        lambda: market(20_000, 7, SYMBOLS[:1]),
        "ref_ema_cross",
        EngineConfig(),
        {"stop", "take_profit", "signal"},
    ),
}


def replay(
    series: list[BarSeries],
    strategy: str,
    config: EngineConfig,
    skip: bool,
    marks: MarkBars = NO_MARKS,
) -> tuple:  # type: ignore[type-arg]
    params = {"stop_pct": 0.002, "target_pct": 0.003} if strategy == "ref_ema_cross" else None
    config = replace(config, skip_quiet_bars=skip, workers=1)
    run = build_replay(series, strategy, config, params, marks=marks)
    result: BacktestResult = run.run(strategy)
    fills = [
        (f.symbol, f.ts, f.side, f.qty, f.price, f.reduce_only, f.client_order_id)
        for f in run.core.history().fills
    ]
    return fills, result


@pytest.mark.parametrize("case", list(CASES))
def test_skipping_quiet_bars_changes_no_fill(case: str) -> None:
    make, strategy, config, reasons = CASES[case]
    series = make()
    skipped_fills, skipped = replay(series, strategy, config, skip=True)
    walked_fills, walked = replay(series, strategy, config, skip=False)
    assert skipped_fills == walked_fills
    assert skipped.skipped == walked.skipped
    assert skipped.funding == walked.funding and skipped.fees == walked.fees
    np.testing.assert_allclose(skipped.equity, walked.equity, rtol=1e-12)
    exits = Counter(e.reason for t in skipped.trades for e in t.exits)
    assert reasons <= set(exits), exits  # the rules the case is about really fired


MARKED = {
    "trend_ema, 3 symbols, own mark": (
        "trend_ema", EngineConfig(), 12_000, 3, SYMBOLS, {"stop", "trailing_stop"},
    ),
    "cross-margin liquidations on the mark": (
        "alternating_wide_stop_test", RECKLESS, 12_000, 4, SYMBOLS, {"liquidation"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MARKED))
def test_skipping_quiet_bars_changes_no_fill_when_the_mark_has_its_own_bars(case: str) -> None:
    """The mark's own bars (which trigger the stops and liquidate) widen what a quiet bar
    must not reach: skipping still changes no fill, and the mark really changed them."""
    strategy, config, bars, seed, symbols, reasons = MARKED[case]
    generated = generate_market(symbols, bars, MarketConfig(seed=seed))
    series = list(generated.bars.values())
    marks = synthetic_mark_bars(generated, series)
    skipped_fills, skipped = replay(series, strategy, config, skip=True, marks=marks)
    walked_fills, walked = replay(series, strategy, config, skip=False, marks=marks)
    assert skipped_fills == walked_fills
    assert skipped.skipped == walked.skipped and skipped.funding == walked.funding
    np.testing.assert_allclose(skipped.equity, walked.equity, rtol=1e-12)
    assert skipped.mark_source == "synthetic"
    assert reasons <= {e.reason for t in skipped.trades for e in t.exits}
    last_price_fills, _ = replay(series, strategy, config, skip=True)
    assert last_price_fills != skipped_fills
