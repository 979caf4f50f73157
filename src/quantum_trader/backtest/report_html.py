"""The HTML report of ``quantum backtest --report PATH.html``.

One page: the metrics table and the breakdowns as plain HTML tables (readable without
JavaScript), then the interactive plotly figures of :mod:`quantum_trader.backtest.plots`
— price with entries, exits and stops for one symbol and window, equity and drawdown,
monthly returns as a heat map, positions by final exit. The page holds only the drawn
data (every line thinned to at most ``plots.MAX_POINTS`` points); the plotly.js library
it loads (4.8 MB) is written once beside it, as ``plotly-<version>.min.js``, and shared
by every report in that directory, so the page opens offline and stays small.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline

from quantum_trader.backtest.plots import (
    ReportView,
    equity_figure,
    exits_figure,
    heatmap_figure,
    monthly_returns,
    price_figure,
)
from quantum_trader.backtest.report import BREAKDOWN_COLUMNS, breakdown_rows, summary_rows
from quantum_trader.backtest.trades import BacktestResult
from quantum_trader.data.bars import BarSeries
from quantum_trader.domain.timefmt import iso_utc

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.group { background: #f4f4f4; }
.tables { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
"""


def plotly_bundle(directory: Path) -> str:
    """The plotly.js file beside the report (written once per version); its name."""
    name = f"plotly-{plotly.offline.get_plotlyjs_version()}.min.js"
    target = directory / name
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
        partial.replace(target)
    return name


def metrics_html(summary: dict[str, object]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td class='num'>{html.escape(value)}</td></tr>"
        for name, value in summary_rows(summary)
    )
    return f"<table class='metrics'><caption>metrics</caption>{rows}</table>"


def breakdowns_html(summary: dict[str, object]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in BREAKDOWN_COLUMNS)
    tables: dict[str, list[str]] = {}
    for group, name, cells in breakdown_rows(summary):
        tds = "".join(f"<td class='num'>{html.escape(c)}</td>" for c in cells)
        tables.setdefault(group, []).append(f"<tr><td>{html.escape(name)}</td>{tds}</tr>")
    return "".join(
        f"<table class='breakdown'><tr><th class='group'>{html.escape(group)}</th>{head}</tr>"
        f"{''.join(rows)}</table>"
        for group, rows in tables.items()
    )


def _figure(fig: go.Figure) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True}))


def html_report(
    path: Path,
    result: BacktestResult,
    series: Mapping[str, BarSeries],
    title: str,
    summary: dict[str, object],
    view: ReportView,
) -> Path:
    """Write the report to ``path`` (and the plotly.js bundle beside it, if missing)."""
    bundle = plotly_bundle(path.parent)
    years, grid = monthly_returns(result)
    figures = [
        price_figure(series[view.symbol], result.trades, view),
        equity_figure(result),
        heatmap_figure(years, grid),
        exits_figure(result.trades),
    ]
    window = f"{iso_utc(view.start)} → {iso_utc(view.end)}"
    body = (
        f"<h1>{html.escape(title)}</h1>"
        f"<div class='tables'>{metrics_html(summary)}<div>{breakdowns_html(summary)}</div></div>"
        f"<h2>{html.escape(view.symbol)}, {html.escape(window)}</h2>"
        + "".join(_figure(fig) for fig in figures)
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<script src='{bundle}'></script></head><body>{body}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
