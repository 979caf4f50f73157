"""Base-bar feature families, each formula written once (as graph nodes, see ``graph.py``).

Notation: ``c, o, h, l, v`` are the bar's close, open, high, low and volume; ``x[k]`` is
the value ``k`` *positions* back in the series; ``EMA_s``, ``Wilder_p``, ``EWMSD_s`` are
the kernels of ``kernels.py``; Σ_w and max_w / min_w cover the last ``w`` positions,
the current one included. Every feature of bar ``i`` reads bars ``0..i`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import quantum_trader.features.graph as g
from quantum_trader.data.bars import DAY_MS, WEEK_OFFSET_MS
from quantum_trader.features.graph import Node
from quantum_trader.features.spec import FeatureSpec

Features = list[tuple[str, Node]]
HOUR_MS = 3_600_000
WEEK_MS = 7 * DAY_MS
TAU = 2.0 * math.pi


@dataclass(frozen=True, slots=True)
class Bars:
    """The source columns of one clock, as graph nodes."""

    open_time: Node
    open: Node
    high: Node
    low: Node
    close: Node


BASE = Bars(*(g.source(f) for f in ("open_time", "open", "high", "low", "close")))
END_TIME, INTERVAL = g.source("end_time"), g.source("interval")
VOLUME, FUNDING = g.source("volume"), g.source("funding")


# Building blocks shared by the base bars and the higher timeframes.
def log_return(close: Node, k: int) -> Node:
    """``ln(c / c[k])``."""
    return g.log(close / g.lag(close, k))


def true_range(bars: Bars) -> Node:
    """``max(h − l, |h − c[1]|, |l − c[1]|)``; ``h − l`` on the first bar."""
    prev = g.coalesce(g.lag(bars.close, 1), bars.close)
    wide = g.maximum(bars.high - bars.low, g.abs_(bars.high - prev))
    return g.maximum(wide, g.abs_(bars.low - prev))


def rsi(close: Node, period: int) -> Node:
    """Wilder RSI in [0, 100] on close-to-close changes; ready ``period`` bars after bar 0."""
    change = close - g.lag(close, 1)
    gain = g.wilder(g.maximum(change, 0.0), period)
    loss = g.wilder(g.maximum(-change, 0.0), period)
    return g.rsi_of(gain, loss)


def range_position(price: Node, low: Node, high: Node) -> Node:
    """``(price − low) / (high − low)``: 0 at the low, 1 at the high, 0.5 if high == low."""
    return g.div_or(price - low, high - low, 0.5)


def returns(spec: FeatureSpec) -> Features:
    """``ret_k = ln(c / c[k])`` for each horizon: NaN for the first ``k`` bars."""
    return [(f"ret_{k}", log_return(BASE.close, k)) for k in spec.return_horizons]


def volatility(spec: FeatureSpec) -> Features:
    """ATR, realised and Parkinson volatility, all per bar and scale-free.

    * ``atr_rel_p = Wilder_p(true range) / c`` — ready at bar ``p − 1``;
    * ``rvol_w = √(Σ_w ret_1² / w)`` — ready at bar ``w`` (ret_1 starts at bar 1);
    * ``parkinson_w = √(Σ_w ln(h/l)² / (4 ln 2 · w))`` — ready at bar ``w − 1``.
    """
    atr = g.wilder(true_range(BASE), spec.atr_period)
    out: Features = [(f"atr_rel_{spec.atr_period}", atr / BASE.close)]
    r1 = log_return(BASE.close, 1)
    for w in spec.realised_vol_windows:
        out.append((f"rvol_{w}", g.sqrt(g.window_sum(r1 * r1, w) * (1.0 / w))))
    hl = g.log(BASE.high / BASE.low)
    for w in spec.parkinson_windows:
        scale = 1.0 / (4.0 * math.log(2.0) * w)
        out.append((f"parkinson_{w}", g.sqrt(g.window_sum(hl * hl, w) * scale)))
    return out


def volume(spec: FeatureSpec) -> Features:
    """Volume relative to its recent level, and volume shocks.

    * ``volume_ratio_w = v / (Σ_w v / w)`` — NaN when the window traded nothing;
    * ``volume_shock_s = (x − EMA_s(x)[1]) / EWMSD_s(x)[1]`` with ``x = ln(1 + v)``: how many
      standard deviations this bar's volume sits from the level *before* it; NaN while the
      previous bars all had the same volume (the deviation is then undefined).
    """
    out: Features = [
        (f"volume_ratio_{w}", (VOLUME * float(w)) / g.window_sum(VOLUME, w))
        for w in spec.volume_ratio_windows
    ]
    s = spec.volume_shock_span
    x = g.log1p(VOLUME)
    level, spread = g.lag(g.ema(x, s), 1), g.lag(g.ewm_std(x, s), 1)
    out.append((f"volume_shock_{s}", (x - level) / spread))
    return out


def ranges(spec: FeatureSpec) -> Features:
    """``range_pos_w``: the close within the high/low of the last ``w`` bars (w = 1: the bar)."""
    return [
        (
            f"range_pos_{w}",
            range_position(BASE.close, g.window_min(BASE.low, w), g.window_max(BASE.high, w)),
        )
        for w in spec.range_windows
    ]


def trend(spec: FeatureSpec) -> Features:
    """EMA gaps and slopes, and the MACD histogram, all scale-free.

    * ``ema_gap_s = ln(c / EMA_s(c))`` — ready at bar ``s − 1``;
    * ``ema_slope_s = ln(EMA_s / EMA_s[L]) / L`` with ``L = slope_lag``, per bar;
    * ``macd_hist_f_s_k = (m − EMA_k(m)) / c`` with ``m = EMA_f(c) − EMA_s(c)``.
    """
    out: Features = [
        (f"ema_gap_{s}", g.log(BASE.close / g.ema(BASE.close, s))) for s in spec.ema_gap_spans
    ]
    lag = spec.slope_lag
    for s in spec.ema_slope_spans:
        e = g.ema(BASE.close, s)
        out.append((f"ema_slope_{s}", g.log(e / g.lag(e, lag)) * (1.0 / lag)))
    fast, slow, signal = spec.macd_spans
    line = g.ema(BASE.close, fast) - g.ema(BASE.close, slow)
    hist = (line - g.ema(line, signal)) / BASE.close
    out.append((f"macd_hist_{fast}_{slow}_{signal}", hist))
    return out


def oscillators(spec: FeatureSpec) -> Features:
    """Momentum and mean reversion.

    * ``rsi_p`` — Wilder RSI in [0, 100];
    * ``close_z_s = (ln c − EMA_s(ln c)) / EWMSD_s(ln c)`` — how stretched the price is from
      its exponential mean, in its own standard deviations; 0 while the price has not moved.
    """
    out: Features = [(f"rsi_{spec.rsi_period}", rsi(BASE.close, spec.rsi_period))]
    lc = g.log(BASE.close)
    for s in spec.close_z_spans:
        out.append((f"close_z_{s}", g.div_or(lc - g.ema(lc, s), g.ewm_std(lc, s), 0.0)))
    return out


def gaps(spec: FeatureSpec) -> Features:
    """Missing bars, so a model can tell a window stretched by gaps.

    * ``gap_bars = (t − t[1]) / interval − 1`` — bars missing just before this one;
    * ``missing_bars_w = (t − t[w]) / interval − w`` — bars missing in the last ``w`` steps.
    """
    t, w = BASE.open_time, spec.missing_window
    return [
        ("gap_bars", (t - g.lag(t, 1)) / INTERVAL - 1.0),
        (f"missing_bars_{w}", (t - g.lag(t, w)) / INTERVAL - float(w)),
    ]


def calendar(spec: FeatureSpec) -> Features:
    """Time of day and week as points on a circle (UTC, from the bar's open time), and the
    share of the funding period elapsed when the bar closed (0 right after a settlement)."""
    day = g.mod(BASE.open_time, DAY_MS) * (TAU / DAY_MS)
    week = g.mod(BASE.open_time - float(WEEK_OFFSET_MS), WEEK_MS) * (TAU / WEEK_MS)
    period = spec.funding_period_hours * HOUR_MS
    return [
        ("tod_sin", g.sin(day)),
        ("tod_cos", g.cos(day)),
        ("dow_sin", g.sin(week)),
        ("dow_cos", g.cos(week)),
        ("funding_cycle", g.mod(END_TIME, period) * (1.0 / period)),
    ]


def funding(spec: FeatureSpec) -> Features:
    """``funding_rate``: the last rate settled at or before the bar's close (NaN when no
    rates are given or none settled yet); ``funding_rate_ema_s``: its EMA over bars."""
    s = spec.funding_ema_span
    return [("funding_rate", FUNDING), (f"funding_rate_ema_{s}", g.ema(FUNDING, s))]


BASE_FAMILIES = (returns, volatility, volume, ranges, trend, oscillators, gaps, calendar, funding)
