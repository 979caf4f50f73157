"""The general engine on a hand-made series, with a scripted strategy.

Bars: flat at 60,000 (bars 0-30), a LONG signal at the close of bar 30 with a 600
stop distance (1R), a second LONG at bar 33 while long (must not pyramid), a climb
through +1R (close 60,700 at bar 35), then a fall through break-even.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np
import pytest

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.engine import build_replay, run_engine
from quantum_trader.data import BarSeries
from quantum_trader.domain.enums import OrderType, PositionSide
from quantum_trader.domain.order_ids import is_entry
from quantum_trader.exchange.sim import NO_SLIPPAGE
from quantum_trader.strategies import Bar, Signal, Strategy, StrategyState, register

T0 = 1_704_067_200_000
SCRIPT = {30: PositionSide.LONG, 33: PositionSide.LONG}


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptState(StrategyState):
    pass


@register("scripted_long_test")
class ScriptedLong(Strategy[ScriptState]):
    """LONG at the bars in ``SCRIPT``, 600 stop distance, full confidence."""

    def __init__(self) -> None:
        self.warmup = 0

    def initial_state(self, symbol: str) -> ScriptState:
        return ScriptState(symbol=symbol)

    def advance(self, state: ScriptState, bar: Bar) -> tuple[ScriptState, Signal | None]:
        side = SCRIPT.get(state.bars_seen)
        if side is None:
            return state, None
        features = {"regime": 1.0, "signal_strength": 1.0, "volatility_ratio": 1.0}
        return state, self.signal(bar, side, confidence=1.0, stop_distance=600.0, features=features)


def hand_made() -> BarSeries:
    closes = [60_000.0] * 31 + [60_100, 60_250, 60_400, 60_550, 60_700, 60_650]
    closes += [60_400, 60_100, 59_900, 59_800] + [59_800.0] * 20
    c = np.array(closes)
    o = np.concatenate(([60_000.0], c[:-1]))
    h = np.maximum(o, c) + 10
    low = np.minimum(o, c) - 10
    t = T0 + 60_000 * np.arange(c.size, dtype=np.int64)
    return BarSeries("BTCUSDT", "1m", t, o, h, low, c, np.full(c.size, 5.0))


CONFIG = EngineConfig(slippage=NO_SLIPPAGE, funding_rate=None, workers=1)


@pytest.fixture(scope="module")
def replay_and_result():  # type: ignore[no-untyped-def]
    replay = build_replay([hand_made()], "scripted_long_test", CONFIG)
    return replay, replay.run("scripted_long_test")


def test_protective_stop_placed_right_after_every_entry_fill(replay_and_result) -> None:  # type: ignore[no-untyped-def]
    replay, _ = replay_and_result
    orders = replay.core.all_orders()
    entries = [o for o in orders if is_entry(o.client_order_id)]  # the live id scheme
    assert len(entries) == 1
    after = orders[orders.index(entries[0]) + 1]
    assert after.type is OrderType.STOP_MARKET and after.reduce_only
    assert after.quantity == entries[0].executed_qty
    assert after.stop_price == Decimal("59400")  # close 60,000 − 600, from the signal bar
    assert after.created_at == entries[0].created_at == T0 + 31 * 60_000


def test_harvest_partial_at_one_r_then_stop_to_break_even(replay_and_result) -> None:  # type: ignore[no-untyped-def]
    _, result = replay_and_result
    (trade,) = result.trades  # one position: the partial is an exit of it, not a trade
    assert [e.reason for e in trade.exits] == ["harvest_tranche:1", "break_even"]
    assert trade.exit_reason == "break_even"
    partial, rest = trade.exits
    assert partial.qty + rest.qty == pytest.approx(trade.qty)
    assert partial.qty == pytest.approx(float(Decimal(str(trade.qty)) * Decimal("0.25")), abs=1e-3)
    assert partial.time == T0 + 36 * 60_000  # decided at bar 35's close, filled at 36's open
    assert partial.price == 60_700.0
    assert 60_000 < rest.price < 60_200  # break-even plus round-trip fees, not the 59,400 stop
    assert trade.exit_time == rest.time and trade.exit_index == rest.index
    average = (partial.price * partial.qty + rest.price * rest.qty) / trade.qty
    assert trade.exit_price == pytest.approx(average)


def test_a_position_is_one_trade_with_its_total_pnl_and_r(replay_and_result) -> None:  # type: ignore[no-untyped-def]
    replay, result = replay_and_result
    (trade,) = result.trades
    fills = replay.core.trades("BTCUSDT")
    gross = sum(float(f.realized_pnl) for f in fills)
    fees = sum(float(f.commission) for f in fills)
    assert trade.fees == pytest.approx(fees) == pytest.approx(sum(e.fees for e in trade.exits))
    assert (
        trade.pnl == pytest.approx(gross - fees) == pytest.approx(sum(e.pnl for e in trade.exits))
    )
    assert trade.risk == pytest.approx(600.0 * trade.qty)  # one R: the whole entry × stop distance
    assert trade.r_multiple == pytest.approx(trade.pnl / trade.risk)
    assert trade.pnl > 0.0  # a quarter taken at +1R, the rest out at break-even after fees
    exits = trade.as_json()["exits"]
    assert isinstance(exits, list) and [e["reason"] for e in exits] == [
        "harvest_tranche:1",
        "break_even",
    ]
    assert set(exits[0]) == {"time", "price", "qty", "reason", "pnl", "fees"}


def test_no_pyramiding_second_long_is_skipped(replay_and_result) -> None:  # type: ignore[no-untyped-def]
    _, result = replay_and_result
    assert result.skipped.get("position_exists") == 1


def test_trades_come_from_the_exchange_fills(replay_and_result) -> None:  # type: ignore[no-untyped-def]
    replay, result = replay_and_result
    fills = replay.core.trades("BTCUSDT")
    entry_fills = [f for f in fills if not f.reduce_only]
    exit_fills = [f for f in fills if f.reduce_only]
    exits = [e for t in result.trades for e in t.exit_fills]
    assert [e.price for e in exits] == [float(f.price) for f in exit_fills]
    assert sum(t.qty for t in result.trades) == pytest.approx(float(entry_fills[0].qty))
    fees = sum(float(f.commission) for f in fills)
    assert sum(t.fees for t in result.trades) == pytest.approx(fees)
    assert result.fees == pytest.approx(fees)
    assert replay.core.position_qty("BTCUSDT") == 0
    assert replay.core.open_orders("BTCUSDT") == []  # the last stop was cancelled


def test_equity_curve_ends_at_the_wallet() -> None:
    result = run_engine([hand_made()], "scripted_long_test", CONFIG)
    assert result.equity.size == len(hand_made())
    assert result.equity[0] == pytest.approx(10_000.0)
    pnl = sum(t.pnl for t in result.trades)
    assert result.final_equity == pytest.approx(10_000.0 + pnl)


def test_position_open_at_the_end_closes_with_reason_end() -> None:
    bars = hand_made().slice(0, 34)  # still long, below +1R
    result = run_engine([bars], "scripted_long_test", CONFIG)
    assert [t.exit_reason for t in result.trades] == ["end"]
    assert result.trades[0].exit_time == int(bars.open_time[-1])
    assert result.trades[0].exit_price == float(bars.close[-1])


def test_stop_hit_intrabar_has_reason_stop() -> None:
    bars = hand_made()
    low = bars.low.copy()
    low[32] = 59_000.0  # through the 59,400 stop inside bar 32
    crash = replace(bars, low=low)
    result = run_engine([crash], "scripted_long_test", CONFIG)
    first = result.trades[0]
    assert first.exit_reason == "stop"
    assert first.exit_price == 59_400.0
    assert first.exit_time == T0 + 32 * 60_000
    assert first.r_multiple is not None
    assert -1.2 < first.r_multiple < -1.0  # one R plus both fees
