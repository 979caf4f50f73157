"""The HTML report (plotly) and an optional PNG (matplotlib).

The HTML file is self-contained (plotly.js embedded) and interactive: equity and
drawdown on a shared time axis, each symbol's close with entry markers (one per
position) and a marker per exit fill (coloured by its reason, hover shows its pnl), and
the count and pnl of positions by the reason of their final exit.
Long series are thinned to at most ``MAX_POINTS`` points per line (every n-th bar plus
each trade's own bars), which keeps a year of 1 m bars to a few megabytes.

plotly's own PNG export needs kaleido, which the project does not ship; the PNG is
drawn with matplotlib when it is installed and skipped with a note otherwise.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from quantum_trader.backtest.trades import BacktestResult, FloatArray, IntArray, Trade
from quantum_trader.data.bars import BarSeries

MAX_POINTS = 5_000
MAX_PRICE_PANELS = 4


def _thin(times: IntArray, values: FloatArray) -> tuple[IntArray, FloatArray]:
    step = max(1, times.size // MAX_POINTS)
    keep = np.arange(0, times.size, step)
    if times.size and keep[-1] != times.size - 1:
        keep = np.append(keep, times.size - 1)
    return times[keep], values[keep]


def _dates(times: IntArray) -> np.ndarray:
    return times.astype("datetime64[ms]")


def drawdown_curve(equity: FloatArray) -> FloatArray:
    peaks = np.maximum.accumulate(equity) if equity.size else equity
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peaks > 0, equity / peaks - 1.0, 0.0)


def html_report(
    path: Path, result: BacktestResult, series: Mapping[str, BarSeries], title: str
) -> Path:
    """Write the interactive report to ``path``."""
    symbols = [s for s in result.symbols if s in series][:MAX_PRICE_PANELS]
    rows = 3 + len(symbols)
    titles = [
        "equity",
        "drawdown",
        *(f"{s} close and trades" for s in symbols),
        "positions by final exit",
    ]
    fig = make_subplots(
        rows=rows,
        cols=1,
        subplot_titles=titles,
        vertical_spacing=0.05,
        row_heights=[0.3, 0.15, *([0.4 / max(1, len(symbols))] * len(symbols)), 0.15],
    )
    t, eq = _thin(result.equity_time, result.equity)
    fig.add_trace(go.Scatter(x=_dates(t), y=eq, name="equity", line={"width": 1}), 1, 1)
    t, dd = _thin(result.equity_time, drawdown_curve(result.equity))
    fig.add_trace(
        go.Scatter(x=_dates(t), y=dd, name="drawdown", fill="tozeroy", line={"width": 1}), 2, 1
    )
    fig.update_yaxes(tickformat=".1%", row=2, col=1)
    by_symbol: dict[str, list[Trade]] = defaultdict(list)
    for trade in result.trades:
        by_symbol[trade.symbol].append(trade)
    for row, symbol in enumerate(symbols, start=3):
        _price_panel(fig, row, series[symbol], by_symbol[symbol])
    _exit_panel(fig, rows, result.trades)
    fig.update_layout(title=title, height=300 * rows, hovermode="x unified", showlegend=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def _price_panel(fig: go.Figure, row: int, bars: BarSeries, trades: list[Trade]) -> None:
    t, close = _thin(bars.open_time, bars.close)
    fig.add_trace(
        go.Scatter(x=_dates(t), y=close, name=f"{bars.symbol} close", line={"width": 1}), row, 1
    )
    if not trades:
        return
    entries = np.array([tr.entry_time for tr in trades], dtype=np.int64)
    longs = [tr.side == "LONG" for tr in trades]
    fig.add_trace(
        go.Scatter(
            x=_dates(entries),
            y=[tr.entry_price for tr in trades],
            mode="markers",
            name=f"{bars.symbol} entries",
            marker={
                "symbol": ["triangle-up" if up else "triangle-down" for up in longs],
                "color": ["green" if up else "red" for up in longs],
                "size": 8,
            },
        ),
        row,
        1,
    )
    fills = [fill for tr in trades for fill in tr.exit_fills]
    for reason in sorted({fill.reason for fill in fills}):
        chosen = [fill for fill in fills if fill.reason == reason]
        fig.add_trace(
            go.Scatter(
                x=_dates(np.array([fill.time for fill in chosen], dtype=np.int64)),
                y=[fill.price for fill in chosen],
                mode="markers",
                name=f"exit: {reason}",
                marker={"symbol": "x", "size": 7},
                text=[f"qty {fill.qty:g}, pnl {fill.pnl:,.2f}" for fill in chosen],
            ),
            row,
            1,
        )


def _exit_panel(fig: go.Figure, row: int, trades: tuple[Trade, ...]) -> None:
    counts: dict[str, int] = defaultdict(int)
    pnl: dict[str, float] = defaultdict(float)
    for trade in trades:
        counts[trade.exit_reason] += 1
        pnl[trade.exit_reason] += trade.pnl
    names = sorted(counts)
    fig.add_trace(
        go.Bar(
            x=names,
            y=[counts[n] for n in names],
            name="positions by final exit",
            text=[f"pnl {pnl[n]:,.2f}" for n in names],
        ),
        row,
        1,
    )


def png_report(path: Path, result: BacktestResult, title: str) -> Path | None:
    """Equity, drawdown and exits per reason as a PNG; None when matplotlib is missing."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return None
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    fig, (ax_eq, ax_dd, ax_ex) = plt.subplots(3, 1, figsize=(11, 9))
    t, eq = _thin(result.equity_time, result.equity)
    ax_eq.plot(_dates(t), eq, linewidth=0.8)
    ax_eq.set_title(title)
    ax_eq.set_ylabel("equity")
    t, dd = _thin(result.equity_time, drawdown_curve(result.equity))
    ax_dd.fill_between(_dates(t), dd, 0.0, color="tab:red", alpha=0.5)
    ax_dd.set_ylabel("drawdown")
    counts: dict[str, int] = defaultdict(int)
    for trade in result.trades:
        counts[trade.exit_reason] += 1
    names = sorted(counts)
    ax_ex.bar(names, [counts[n] for n in names])
    ax_ex.set_ylabel("positions by final exit")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
