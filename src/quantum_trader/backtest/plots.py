"""The report's figures (plotly) and its PNG (matplotlib).

* **price**: one symbol over one window — candles (bars merged so at most
  ``MAX_POINTS`` candles are drawn), an entry marker per position (hover: strategy,
  size, pnl, R), a marker per exit fill coloured by its reason, and each position's
  protective stop as a step line from its entry to its final exit (every move of it);
* **equity** and its drawdown, thinned to at most ``MAX_POINTS`` points (every n-th
  bar, and the last);
* **monthly returns** as a heat map: a row per year, a column per month (UTC); a
  month's return is its last equity over the previous month's last (the first month's
  over the starting balance);
* the positions by their final exit.

Which symbol and window (:func:`report_view`): by default the symbol with the most
positions and its busiest week — the 7 days from a UTC midnight holding the most entries.

plotly's own PNG export needs kaleido, which the project does not ship; the PNG is
drawn with matplotlib when it is installed and skipped with a note otherwise.
"""

from __future__ import annotations

import importlib
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from quantum_trader.backtest.trades import BacktestResult, FloatArray, IntArray, Trade
from quantum_trader.data.bars import BarSeries

MAX_POINTS = 2_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class ReportView:
    """The symbol and the window ``[start, end)`` (ms UTC) the price chart shows."""

    symbol: str
    start: int
    end: int


def thin(times: IntArray, values: FloatArray) -> tuple[IntArray, FloatArray]:
    """At most about ``MAX_POINTS`` points: every n-th, and the last."""
    step = max(1, math.ceil(times.size / MAX_POINTS))
    keep = np.arange(0, times.size, step)
    if times.size and keep[-1] != times.size - 1:
        keep = np.append(keep, times.size - 1)
    return times[keep], values[keep]


def drawdown_curve(equity: FloatArray) -> FloatArray:
    peaks = np.maximum.accumulate(equity) if equity.size else equity
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peaks > 0, equity / peaks - 1.0, 0.0)


def monthly_returns(result: BacktestResult) -> tuple[list[int], FloatArray]:
    """(years, returns by year × month; NaN where the run has no bar)."""
    times, equity = result.equity_time, result.equity
    if not times.size:
        return [], np.empty((0, 12))
    months = times.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    last = np.flatnonzero(np.diff(months, append=months[-1] + 1))
    closes = equity[last]
    before = np.concatenate(([result.starting_balance], closes[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(before > 0, closes / before - 1.0, np.nan)
    years = list(range(int(months[0] // 12) + 1970, int(months[-1] // 12) + 1971))
    grid = np.full((len(years), 12), np.nan)
    for month, value in zip(months[last].tolist(), returns.tolist(), strict=True):
        grid[month // 12 + 1970 - years[0], month % 12] = value
    return years, grid


def busiest_week(trades: Sequence[Trade], bars: BarSeries) -> tuple[int, int]:
    """The 7 days from a UTC midnight with the most entries (the earliest of equals), or
    the last 7 days of the bars without trades; clipped to the bars."""
    first, last = int(bars.open_time[0]), int(bars.open_time[-1]) + bars.interval_ms
    if not trades:
        return max(first, last - WEEK_MS), last
    entries = np.sort(np.array([t.entry_time for t in trades], np.int64))
    starts = np.unique(entries // DAY_MS * DAY_MS)
    counts = np.searchsorted(entries, starts + WEEK_MS) - np.searchsorted(entries, starts)
    start = int(starts[int(np.argmax(counts))])
    return max(first, start), min(last, start + WEEK_MS)


def report_view(
    result: BacktestResult,
    series: Mapping[str, BarSeries],
    symbol: str | None = None,
    window: tuple[int, int] | None = None,
) -> ReportView:
    """The chosen symbol (default: the most positions, then name order) and window
    (default: its busiest week)."""
    if symbol is None:
        counts = Counter(t.symbol for t in result.trades)
        symbol = min(series, key=lambda s: (-counts.get(s, 0), s))
    trades = [t for t in result.trades if t.symbol == symbol]
    start, end = window if window is not None else busiest_week(trades, series[symbol])
    return ReportView(symbol, start, end)


def _ms(times: IntArray | Sequence[int]) -> FloatArray:
    return np.asarray(times, np.float64)  # a date axis takes ms since the epoch


def stop_steps(trade: Trade) -> list[tuple[int, float]]:
    """The position's stop levels as (time, price) points, ending at its final exit."""
    levels = list(trade.stops)
    if not levels and trade.risk > 0 and trade.qty > 0:  # only the initial stop is known
        sign = 1.0 if trade.side == "LONG" else -1.0
        levels = [(trade.entry_time, trade.entry_price - sign * trade.risk / trade.qty)]
    return [*levels, (trade.exit_time, levels[-1][1])] if levels else []


def in_window(trades: Sequence[Trade], view: ReportView) -> list[Trade]:
    return [
        t
        for t in trades
        if t.symbol == view.symbol and t.entry_time < view.end and t.exit_time >= view.start
    ]


def candles(bars: BarSeries, view: ReportView) -> tuple[IntArray, list[FloatArray], int]:
    """The window's bars merged into at most ``MAX_POINTS`` candles: (open times,
    [open, high, low, close], bars per candle)."""
    lo, hi = np.searchsorted(bars.open_time, [view.start, view.end])
    per = max(1, math.ceil((hi - lo) / MAX_POINTS))
    starts = np.arange(lo, hi, per)
    if not starts.size:
        return starts, [np.empty(0)] * 4, per
    ends = np.minimum(starts + per, hi) - 1
    high = np.maximum.reduceat(bars.high[lo:hi], starts - lo)
    low = np.minimum.reduceat(bars.low[lo:hi], starts - lo)
    return bars.open_time[starts], [bars.open[starts], high, low, bars.close[ends]], per


def price_figure(bars: BarSeries, trades: Sequence[Trade], view: ReportView) -> go.Figure:
    times, (o, h, low, c), per = candles(bars, view)
    fig = go.Figure()
    merged = f", {per} bars a candle" if per > 1 else ""
    fig.add_trace(
        go.Candlestick(
            x=_ms(times),
            open=o,
            high=h,
            low=low,
            close=c,
            name=f"{bars.symbol} {bars.interval}{merged}",
        )
    )
    shown = in_window(trades, view)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for trade in shown:
        for t, level in stop_steps(trade):
            xs.append(float(t))
            ys.append(level)
        xs.append(None)
        ys.append(None)
    if xs:
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="stop",
                line_shape="hv",
                line={"color": "firebrick", "width": 1, "dash": "dot"},
            )
        )
    if shown:
        longs = [t.side == "LONG" for t in shown]
        hover = [
            f"{t.strategy or '?'} {t.side} qty {t.qty:g}<br>pnl {t.pnl:,.2f}"
            + (f", {t.r_multiple:+.2f} R" if t.r_multiple is not None else "")
            for t in shown
        ]
        fig.add_trace(
            go.Scatter(
                x=_ms([t.entry_time for t in shown]),
                y=[t.entry_price for t in shown],
                mode="markers",
                name="entries",
                text=hover,
                hoverinfo="text+x",
                marker={
                    "symbol": ["triangle-up" if up else "triangle-down" for up in longs],
                    "color": ["green" if up else "red" for up in longs],
                    "size": 10,
                },
            )
        )
    fills = [f for t in shown for f in t.exit_fills if view.start <= f.time < view.end]
    for reason in sorted({f.reason for f in fills}):
        chosen = [f for f in fills if f.reason == reason]
        fig.add_trace(
            go.Scatter(
                x=_ms([f.time for f in chosen]),
                y=[f.price for f in chosen],
                mode="markers",
                name=f"exit: {reason}",
                marker={"symbol": "x", "size": 8},
                text=[f"{reason} qty {f.qty:g}, pnl {f.pnl:,.2f}" for f in chosen],
            )
        )
    fig.update_layout(
        title=f"{bars.symbol}: price, entries, exits and stops",
        height=560,
        xaxis={"type": "date", "rangeslider": {"visible": False}, "range": [view.start, view.end]},
    )
    return fig


def equity_figure(result: BacktestResult) -> go.Figure:
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.7, 0.3],
        subplot_titles=("equity", "drawdown"),
        vertical_spacing=0.08,
    )
    t, eq = thin(result.equity_time, result.equity)
    fig.add_trace(go.Scatter(x=_ms(t), y=eq, name="equity", line={"width": 1}), 1, 1)
    t, dd = thin(result.equity_time, drawdown_curve(result.equity))
    fig.add_trace(
        go.Scatter(x=_ms(t), y=dd, name="drawdown", fill="tozeroy", line={"width": 1}), 2, 1
    )
    fig.update_xaxes(type="date")
    fig.update_yaxes(tickformat=".1%", row=2, col=1)
    fig.update_layout(height=480, showlegend=False)
    return fig


def heatmap_figure(years: list[int], grid: FloatArray) -> go.Figure:
    text = [["" if math.isnan(v) else f"{v:+.2%}" for v in row] for row in grid.tolist()]
    z = [[None if math.isnan(v) else v for v in row] for row in grid.tolist()]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(MONTHS),
            y=[str(y) for y in years],
            text=text,
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmid=0.0,
            hovertemplate="%{y} %{x}: %{text}<extra></extra>",
            colorbar={"tickformat": ".0%"},
        )
    )
    fig.update_layout(
        title="monthly returns (UTC)",
        height=160 + 40 * len(years),
        yaxis={"type": "category", "autorange": "reversed"},
    )
    return fig


def exits_figure(trades: Sequence[Trade]) -> go.Figure:
    counts: dict[str, int] = defaultdict(int)
    pnl: dict[str, float] = defaultdict(float)
    for trade in trades:
        counts[trade.exit_reason] += 1
        pnl[trade.exit_reason] += trade.pnl
    names = sorted(counts)
    fig = go.Figure(
        go.Bar(x=names, y=[counts[n] for n in names], text=[f"pnl {pnl[n]:,.2f}" for n in names])
    )
    fig.update_layout(title="positions by final exit", height=320)
    return fig


def png_report(
    path: Path,
    result: BacktestResult,
    series: Mapping[str, BarSeries],
    view: ReportView,
    title: str,
) -> Path | None:
    """Equity, drawdown, the price window and the monthly returns as a PNG; None when
    matplotlib is missing."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return None
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    fig, (ax_eq, ax_dd, ax_px, ax_mo) = plt.subplots(
        4, 1, figsize=(11, 13), gridspec_kw={"height_ratios": [3, 1.2, 3, 1.6]}
    )
    t, eq = thin(result.equity_time, result.equity)
    ax_eq.plot(t.astype("datetime64[ms]"), eq, linewidth=0.8)
    ax_eq.set_title(title)
    ax_eq.set_ylabel("equity")
    t, dd = thin(result.equity_time, drawdown_curve(result.equity))
    ax_dd.fill_between(t.astype("datetime64[ms]"), dd, 0.0, color="tab:red", alpha=0.5)
    ax_dd.set_ylabel("drawdown")
    _png_price(ax_px, series[view.symbol], in_window(result.trades, view), view)
    years, grid = monthly_returns(result)
    reach = float(np.nanmax(np.abs(grid), initial=0.01))
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="white")  # months without bars
    ax_mo.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto", vmin=-reach, vmax=reach)
    ax_mo.set_xticks(range(12), MONTHS)
    ax_mo.set_yticks(range(len(years)), [str(y) for y in years])
    for (r, m), value in np.ndenumerate(grid):
        if not math.isnan(value):
            ax_mo.text(m, r, f"{value:+.1%}", ha="center", va="center", fontsize=8)
    ax_mo.set_title("monthly returns (UTC)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _png_price(ax: Any, bars: BarSeries, trades: Sequence[Trade], view: ReportView) -> None:
    lo, hi = np.searchsorted(bars.open_time, [view.start, view.end])
    t, close = thin(bars.open_time[lo:hi], bars.close[lo:hi])
    ax.plot(t.astype("datetime64[ms]"), close, linewidth=0.7, color="tab:gray")
    for trade in trades:
        steps = stop_steps(trade)
        if steps:
            when = np.array([s[0] for s in steps], np.int64).astype("datetime64[ms]")
            ax.step(
                when,
                [s[1] for s in steps],
                where="post",
                color="firebrick",
                linewidth=0.7,
                linestyle=":",
            )
        up = trade.side == "LONG"
        ax.scatter(
            [np.datetime64(trade.entry_time, "ms")],
            [trade.entry_price],
            marker="^" if up else "v",
            color="green" if up else "red",
            s=25,
        )
        fills = trade.exit_fills
        ax.scatter(
            np.array([f.time for f in fills], np.int64).astype("datetime64[ms]"),
            [f.price for f in fills],
            marker="x",
            color="black",
            s=18,
        )
    ax.set_xlim(np.datetime64(view.start, "ms"), np.datetime64(view.end, "ms"))
    ax.set_title(f"{bars.symbol}: price, entries, exits and stops")
