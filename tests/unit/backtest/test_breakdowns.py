"""Breakdowns of a hand-made trade list: per symbol, month, exit reason, strategy, side —
each group's rows add up to the run's totals, and a partial exit is not a trade."""

from __future__ import annotations

import math

import pytest

from quantum_trader.backtest.breakdowns import UNKNOWN, breakdowns, figures, month_of
from quantum_trader.backtest.metrics import summarize
from quantum_trader.backtest.report import breakdown_table
from quantum_trader.backtest.trades import ExitFill, Trade
from tests.unit.backtest.test_metrics import result

JAN = 1_704_067_200_000  # 2024-01-01T00:00Z
FEB = 1_706_745_600_000  # 2024-02-01T00:00Z
HOUR = 3_600_000


def trade(
    symbol: str, side: str, pnl: float, reason: str, exit_time: int, strategy: str = "trend_ema",
    risk: float = 100.0, exits: tuple[ExitFill, ...] = (),
) -> Trade:  # fmt: skip
    return Trade(symbol, side, exit_time - HOUR, exit_time, 100.0, 101.0, 1.0, pnl, 0.1, reason,
                 0, 60, 0.0, risk, exits, strategy)  # fmt: skip


HARVESTED = trade(
    "ETHUSDT", "LONG", -10.0, "stop", JAN + 5 * HOUR, "breakout",
    exits=(ExitFill(JAN + 4 * HOUR, 101.0, 0.25, "harvest_tranche:1", 30.0, 0.05, 1),
           ExitFill(JAN + 5 * HOUR, 99.0, 0.75, "stop", -40.0, 0.05, 2)),
)  # fmt: skip
TRADES = [
    trade("BTCUSDT", "LONG", 30.0, "trailing_stop", JAN + 2 * HOUR),
    trade("BTCUSDT", "SHORT", -20.0, "stop", JAN + 3 * HOUR),
    HARVESTED,  # a partial take-profit, then the stop: one trade, a loss, final exit "stop"
    trade("ETHUSDT", "SHORT", 50.0, "kill_score", FEB + HOUR, "breakout", risk=0.0),
    trade("SOLUSDT", "LONG", 5.0, "end", FEB + 2 * HOUR, ""),
]


def test_each_group_adds_up_to_the_totals() -> None:
    groups = breakdowns(TRADES)
    assert list(groups) == ["symbol", "month", "exit_reason", "strategy", "side"]
    total = figures(TRADES)
    assert total["trades"] == 5 and total["wins"] == 3
    for group, rows in groups.items():
        assert sum(r["trades"] for r in rows.values()) == 5, group  # type: ignore[misc]
        assert sum(r["wins"] for r in rows.values()) == 3, group  # type: ignore[misc]
        net = math.fsum(r["net_pnl"] for r in rows.values())  # type: ignore[misc]
        assert net == pytest.approx(55.0), group


def test_rows_hold_the_figures_of_their_positions() -> None:
    groups = breakdowns(TRADES)
    assert groups["symbol"]["BTCUSDT"] == {
        "trades": 2, "wins": 1, "win_rate": 0.5, "net_pnl": 10.0,
        "avg_r": pytest.approx((0.3 - 0.2) / 2), "profit_factor": pytest.approx(1.5),
    }  # fmt: skip
    eth = groups["symbol"]["ETHUSDT"]
    assert eth["trades"] == 2 and eth["net_pnl"] == 40.0  # the harvested one counts once
    assert eth["avg_r"] == pytest.approx(-0.1)  # the kill-score trade has no known risk
    assert list(groups["month"]) == ["2024-01", "2024-02"]
    assert groups["month"]["2024-01"]["trades"] == 3 and groups["month"]["2024-02"]["trades"] == 2
    assert set(groups["exit_reason"]) == {"trailing_stop", "stop", "kill_score", "end"}
    assert groups["exit_reason"]["stop"]["trades"] == 2  # by the final exit, not the tranche
    assert groups["exit_reason"]["stop"]["profit_factor"] == 0.0  # losses only
    assert groups["exit_reason"]["trailing_stop"]["profit_factor"] is None  # no loss
    assert groups["strategy"]["breakout"]["trades"] == 2
    assert groups["strategy"][UNKNOWN]["trades"] == 1  # no strategy recorded
    assert groups["side"]["LONG"]["trades"] == 3 and groups["side"]["SHORT"]["trades"] == 2
    assert groups["side"]["SHORT"]["win_rate"] == pytest.approx(0.5)


def test_months_are_utc_months_of_the_final_exit() -> None:
    assert month_of(FEB - 1) == "2024-01" and month_of(FEB) == "2024-02"


def test_the_table_shows_every_group() -> None:
    summary = summarize(result([100.0, 155.0], TRADES), 60_000) | {"breakdowns": breakdowns(TRADES)}
    table = breakdown_table(summary)
    assert table.row_count == 3 + 2 + 4 + 3 + 2  # symbols, months, exits, strategies, sides
    assert breakdowns([]) == {g: {} for g in ("symbol", "month", "exit_reason", "strategy", "side")}
