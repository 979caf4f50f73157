"""``ref_ema_cross`` through the one engine reproduces bench/REFERENCE_STRATEGY.md exactly.

Its rules are configuration (``RefEmaCross.engine_profile``): full-equity entries at the
next open, a stop and a target at fixed fractions of the fill held as exchange orders on
the matching core's ``LEVELS`` bar model (stop first, filled at the level), a signal exit
at the next open, continuous quantity, no slippage, funding or risk limits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import build_replay, run_engine
from quantum_trader.cli.backtest import backtest_command
from quantum_trader.data import BarSeries, MarketConfig, generate_market
from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies import (
    FLAT,
    Bar,
    Signal,
    Strategy,
    StrategyState,
    get_strategy,
    register,
)
from quantum_trader.strategies.ref_ema_cross import REFERENCE_RULES

FEE = 0.0004
CASH = 100_000.0
T0 = 1_704_067_200_000
REFERENCE = EngineConfig(balance=Decimal(100_000), taker_fee=Decimal("0.0004"), workers=1)
APP = typer.Typer()
APP.command("backtest")(backtest_command)
APP.command("version")(lambda: None)  # a second command keeps "backtest" a subcommand

# open, high, low, close per bar (see test_hand_made_trade_list for what each bar does)
OHLC = [
    (100, 100.5, 99.5, 100),
    (100, 100.5, 99.5, 100),
    (100, 101, 99, 100),
    (100, 100.5, 97.5, 99),
    (99, 102.5, 98.5, 101),
    (101, 101.5, 100.5, 101),
    (100, 101, 99, 99.5),
    (95, 96, 94, 95.5),
    (100, 104, 97, 100),
    (100, 101, 99.5, 100.5),
    (101, 101.5, 100, 100.5),
    (100, 100.8, 99.6, 100.5),
]
UP = {1, 3, 5, 7, 8, 10, 11}
DOWN = {9}


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossState(StrategyState):
    pass


@register("scripted_reference_test")
class ScriptedCrosses(Strategy[CrossState]):
    """The reference's rules with crosses given by hand: LONG at ``UP``, FLAT at ``DOWN``."""

    engine_profile = REFERENCE_RULES

    def __init__(self) -> None:
        self.warmup = 0

    def initial_state(self, symbol: str) -> CrossState:
        return CrossState(symbol=symbol)

    def advance(self, state: CrossState, bar: Bar) -> tuple[CrossState, Signal | None]:
        i = state.bars_seen
        if i not in UP and i not in DOWN:
            return state, None
        side = PositionSide.LONG if i in UP else FLAT
        return state, self.signal(
            bar, side, confidence=1.0, stop_distance=bar.close * 0.02,
            stop_pct=0.02, target_pct=0.03, features={},
        )  # fmt: skip


def series_of(o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray) -> BarSeries:
    t = T0 + 60_000 * np.arange(c.size, dtype=np.int64)
    # A symbol the packaged universe lacks: listed with filters derived from these bars
    # (BTCUSDT's price filter would refuse a price of 100).
    return BarSeries("REFUSDT", "1m", t, o, h, low, c, np.ones(c.size))


def hand_made() -> BarSeries:
    a = np.array(OHLC, dtype=np.float64)
    return series_of(a[:, 0], a[:, 1], a[:, 2], a[:, 3])


def trips(result_trades: tuple[object, ...]) -> list[tuple[object, ...]]:
    return [
        (t.entry_index, t.exit_index, t.entry_price, t.exit_price, t.exit_reason)  # type: ignore[attr-defined]
        for t in result_trades
    ]


def test_hand_made_trade_list() -> None:
    result = run_engine([hand_made()], "scripted_reference_test", REFERENCE)
    expected = [
        (2, 3, 100.0, 98.0, "stop"),  # cross up at 1 -> next open; SL exactly at 98
        (4, 4, 99.0, 101.97, "take_profit"),  # re-entry after the SL bar's cross; TP on entry bar
        (6, 7, 100.0, 98.0, "stop"),  # bar 7 gaps to 95: filled at the level, not the open
        (8, 8, 100.0, 98.0, "stop"),  # SL and TP both in range: stop first, entry bar
        (9, 10, 100.0, 101.0, "signal"),  # cross down at 9 -> open of 10
        (11, 11, 100.0, 100.5, "end"),  # entered on the last bar, closed at its close
    ]
    assert trips(result.trades) == expected
    assert result.skipped == {}


def test_equity_compounds_each_round_trip_with_fees() -> None:
    replay = build_replay([hand_made()], "scripted_reference_test", REFERENCE)
    result = replay.run("scripted_reference_test")
    cash = CASH
    for trade in result.trades:
        qty = cash / (trade.entry_price * (1 + FEE))  # the document's full-equity sizing
        assert trade.qty == pytest.approx(qty, rel=1e-12)
        assert trade.fees == pytest.approx(qty * (trade.entry_price + trade.exit_price) * FEE)
        cash = qty * trade.exit_price * (1 - FEE)
    assert result.final_equity == pytest.approx(cash, rel=1e-12)
    entry, stop = replay.core.history().fills[:2]
    assert entry.price == Decimal("100.0") and stop.price == Decimal("98.000")  # 0.98 × entry
    assert entry.qty == Decimal(100_000) / (Decimal("100.0") * Decimal("1.0004"))  # no lot step


def test_signal_on_last_bar_is_ignored_and_no_cross_no_trade() -> None:
    a = np.array(OHLC[:2], dtype=np.float64)  # UP at bar 1, the last bar
    result = run_engine(
        [series_of(a[:, 0], a[:, 1], a[:, 2], a[:, 3])], "scripted_reference_test", REFERENCE
    )
    assert result.trades == ()


def per_bar_loop(series: BarSeries, stop: float, target: float) -> list[tuple[object, ...]]:
    """The document's rules, bar by bar, with the strategy's own on_bar for signals."""
    strategy = get_strategy("ref_ema_cross", stop_pct=stop, target_pct=target)
    state = strategy.initial_state(series.symbol)
    n = len(series)
    out: list[tuple[object, ...]] = []
    pending, long = "", False
    entry_bar, entry, sl, tp = 0, 0.0, 0.0, 0.0
    for t in range(n):
        o, h, low, c = (float(x[t]) for x in (series.open, series.high, series.low, series.close))
        if pending == "buy":
            long, entry_bar, entry = True, t, o
            sl, tp = entry * (1 - stop), entry * (1 + target)
        elif pending == "sell":
            long = False
            out.append((entry_bar, t, entry, o, "signal"))
        pending = ""
        if long and low <= sl:
            long = False
            out.append((entry_bar, t, entry, sl, "stop"))
        elif long and h >= tp:
            long = False
            out.append((entry_bar, t, entry, tp, "take_profit"))
        bar = Bar(series.symbol, "1m", int(series.open_time[t]), o, h, low, c, 1.0)
        state, signal = strategy.on_bar(state, bar)
        if signal is not None and t < n - 1:
            if not long and not signal.is_exit:
                pending = "buy"
            elif long and signal.is_exit:
                pending = "sell"
    if long:
        out.append((entry_bar, n - 1, entry, float(series.close[-1]), "end"))
    return out


def same(ours: list[tuple[object, ...]], reference: list[tuple[object, ...]]) -> None:
    assert [(a, b, r) for a, b, _, _, r in ours] == [(a, b, r) for a, b, _, _, r in reference]
    for (_, _, e1, x1, _), (_, _, e2, x2, _) in zip(ours, reference, strict=True):
        assert e1 == e2  # the entry is the open as written in the data
        assert x1 == pytest.approx(x2, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(30, 400),
    stops=st.sampled_from([(0.02, 0.03), (0.002, 0.003)]),
    gap=st.floats(0.0, 0.01),
)
def test_engine_equals_a_per_bar_loop_of_the_document(
    seed: int, n: int, stops: tuple[float, float], gap: float
) -> None:
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n))), 2)
    opens = np.round(np.concatenate(([100.0], close[:-1])) * (1 + rng.normal(0, gap, n)), 2)
    high = np.round(np.maximum(opens, close) * (1 + np.abs(rng.normal(0, 0.002, n))), 2)
    low = np.round(np.minimum(opens, close) * (1 - np.abs(rng.normal(0, 0.002, n))), 2)
    high, low = (
        np.maximum(high, np.maximum(opens, close)),
        np.minimum(low, np.minimum(opens, close)),
    )
    series = series_of(opens, high, low, close)
    params = {"stop_pct": stops[0], "target_pct": stops[1]}
    result = run_engine([series], "ref_ema_cross", REFERENCE, params)
    same(trips(result.trades), per_bar_loop(series, *stops))


def test_several_symbols_each_trade_their_own_share() -> None:
    series = hand_made()
    other = BarSeries("FERUSDT", "1m", series.open_time, series.open, series.high,
                      series.low, series.close, series.volume)  # fmt: skip
    alone = run_engine([series], "scripted_reference_test", REFERENCE)
    both = run_engine([series, other], "scripted_reference_test", REFERENCE)
    assert both.starting_balance == alone.starting_balance
    assert len(both.trades) == 2 * len(alone.trades)
    assert sum(t.pnl for t in both.trades) == pytest.approx(sum(t.pnl for t in alone.trades))


def test_system_rules_trade_the_same_signals_with_the_exit_brain() -> None:
    rng = np.random.default_rng(5)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0, 0.003, 3000))), 2)
    opens = np.concatenate(([100.0], close[:-1]))
    series = series_of(
        opens, np.maximum(opens, close) + 0.05, np.minimum(opens, close) - 0.05, close
    )
    system = EngineConfig(strategy_rules=False, workers=1)
    result = run_engine([series], "ref_ema_cross", system)
    assert result.trades and {t.exit_reason for t in result.trades} - {"signal", "take_profit"}
    assert "signal" not in {t.exit_reason for t in result.trades}  # exits are the exit brain's


@pytest.mark.parametrize("stops", [(0.02, 0.03), (0.002, 0.003)])
def test_quantum_backtest_synthetic_reproduces_the_document(
    tmp_path: Path, stops: tuple[float, float]
) -> None:
    out = tmp_path / "ref.json"
    args = ["backtest", "--strategy", "ref_ema_cross", "--synthetic", "--days", "2",
            "--symbols", "BTCUSDT", "--seed", "3", "--json", str(out),
            "--param", f"stop_pct={stops[0]}", "--param", f"target_pct={stops[1]}"]  # fmt: skip
    res = CliRunner().invoke(APP, args)
    assert res.exit_code == 0, res.output
    series = generate_market(["BTCUSDT"], 2 * 1440, MarketConfig(seed=3)).bars["BTCUSDT"]
    index = {int(t): i for i, t in enumerate(series.open_time.tolist())}
    doc = json.loads(out.read_text())
    got = [
        (index[t["entry_time"]], index[t["exit_time"]], t["entry_price"], t["exit_price"],
         t["exit_reason"])
        for t in doc["trades"]
    ]  # fmt: skip
    same(got, per_bar_loop(series, *stops))
    assert doc["summary"]["starting_balance"] == CASH and doc["summary"]["rules"] == "strategy"
