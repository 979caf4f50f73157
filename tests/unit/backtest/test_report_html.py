"""The HTML report: the metrics table, the breakdowns, the monthly heat map, the price
chart of the chosen symbol and window with each position's stops; small, with plotly.js
written once beside it. And what the trades record for it: their strategy and stops."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.backtest import run_engine, summarize
from quantum_trader.backtest.breakdowns import breakdowns
from quantum_trader.backtest.plots import (
    DAY_MS,
    ReportView,
    busiest_week,
    monthly_returns,
    png_report,
    report_view,
    stop_steps,
)
from quantum_trader.backtest.report_html import html_report
from quantum_trader.backtest.trades import BacktestResult
from quantum_trader.data import BarSeries, MarketConfig, generate_market
from tests.unit.backtest.test_breakdowns import JAN, trade
from tests.unit.backtest.test_metrics import result

NAMES = ("trend_ema", "breakout")


@pytest.fixture(scope="module")
def run() -> tuple[BacktestResult, dict[str, BarSeries]]:
    market = generate_market(["BTCUSDT", "ETHUSDT"], 2 * 1440, MarketConfig(seed=5))
    series = list(market.bars.values())
    return run_engine(series, NAMES), {s.symbol: s for s in series}


def test_trades_record_their_strategy_and_stops(
    run: tuple[BacktestResult, dict[str, BarSeries]],
) -> None:
    result, _ = run
    assert {t.strategy for t in result.trades} == set(NAMES)
    for t in result.trades:
        (first, initial), *moves = t.stops
        assert first == t.entry_time
        assert t.risk == pytest.approx(t.qty * abs(t.entry_price - initial), rel=1e-9)
        pairs = zip(t.stops, t.stops[1:], strict=False)
        assert all(a[0] <= b[0] and a[1] != b[1] for a, b in pairs)  # moves only
        assert all(t.entry_time <= when <= t.exit_time for when, _ in moves)
        assert t.as_json()["strategy"] == t.strategy
    assert any(len(t.stops) > 1 for t in result.trades)  # break-even and trailing moves


def test_the_report_holds_the_metrics_table_the_breakdowns_and_the_heat_map(
    run: tuple[BacktestResult, dict[str, BarSeries]], tmp_path: Path
) -> None:
    result, series = run
    summary = summarize(result, 60_000) | {"breakdowns": breakdowns(result.trades)}
    view = report_view(result, series)
    counts = {s: sum(t.symbol == s for t in result.trades) for s in series}
    assert counts[view.symbol] == max(counts.values())
    assert view.end - view.start <= 7 * DAY_MS
    page = html_report(tmp_path / "r.html", result, series, "a title", summary, view)
    text = page.read_text()
    assert "<table class='metrics'>" in text and "net PnL (realized − fees + funding)" in text
    assert text.count("<table class='breakdown'>") == 5
    assert '"type":"heatmap"' in text and "monthly returns" in text
    assert '"type":"candlestick"' in text and '"name":"stop"' in text
    bundle = next(tmp_path.glob("plotly-*.min.js"))
    assert f"<script src='{bundle.name}'>" in text
    assert page.stat().st_size < 1_000_000 < bundle.stat().st_size
    written = bundle.stat().st_mtime_ns
    html_report(tmp_path / "again.html", result, series, "again", summary, view)
    assert bundle.stat().st_mtime_ns == written  # once per directory and version
    png = png_report(tmp_path / "r.png", result, series, view, "a title")
    assert png is not None and png.stat().st_size > 10_000


def test_monthly_returns_chain_month_ends() -> None:
    feb = JAN + 31 * DAY_MS
    times = np.array([JAN, JAN + DAY_MS, feb, feb + DAY_MS], np.int64)
    curve = BacktestResult(
        "x", ("BTCUSDT",), "1d", 100.0, (), times, np.array([105.0, 110.0, 104.5, 99.0]), 4,
        0.0, 0.0,
    )  # fmt: skip
    years, grid = monthly_returns(curve)
    assert years == [2024]
    assert grid[0, 0] == pytest.approx(0.10) and grid[0, 1] == pytest.approx(-0.10)
    assert np.isnan(grid[0, 2:]).all()
    assert monthly_returns(result([], []))[0] == []


def test_the_busiest_week_starts_at_a_utc_midnight_with_the_most_entries() -> None:
    bars = BarSeries("BTCUSDT", "1h", JAN + 3_600_000 * np.arange(24 * 30, dtype=np.int64),
                     *([np.ones(24 * 30)] * 5))  # fmt: skip
    hour = 3_600_000
    entries = [JAN + DAY_MS + 5 * hour, *(JAN + 10 * DAY_MS + k * hour for k in range(3)),
               JAN + 15 * DAY_MS]  # fmt: skip
    trades = [trade("BTCUSDT", "LONG", 1.0, "stop", t + hour) for t in entries]
    assert busiest_week(trades, bars) == (JAN + 10 * DAY_MS, JAN + 17 * DAY_MS)  # 4 entries
    assert busiest_week([], bars) == (JAN + 23 * DAY_MS, JAN + 30 * DAY_MS)  # the last week


def test_stop_steps_end_at_the_final_exit() -> None:
    moved = trade("BTCUSDT", "LONG", 1.0, "trailing_stop", JAN + 10)
    moved = replace(moved, stops=((JAN, 95.0), (JAN + 5, 99.0)))
    assert stop_steps(moved) == [(JAN, 95.0), (JAN + 5, 99.0), (JAN + 10, 99.0)]
    short = replace(trade("BTCUSDT", "SHORT", 1.0, "stop", JAN + 10, risk=4.0), stops=())
    assert stop_steps(short) == [(short.entry_time, 104.0), (JAN + 10, 104.0)]  # from R
    assert ReportView("BTCUSDT", 0, 1).symbol == "BTCUSDT"
