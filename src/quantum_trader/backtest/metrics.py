"""Performance figures of a backtest, from its equity curve and its trade list.

* ``total_return`` = ending equity ÷ starting balance − 1; ``cagr`` compounds it over the
  span of the data (365.25-day years).
* ``max_drawdown``: the largest fall from a running peak of the bar-by-bar equity
  curve, as a positive fraction (0.25 = 25 % below the peak).
* ``sharpe`` / ``sortino``: mean over standard deviation (Sortino: over downside
  deviation, the root mean square of the negative returns) of periodic returns of the
  equity curve, risk-free rate 0, annualised by √(periods per year). The period is one
  UTC day (crypto trades every day: √365) when the data spans at least three days,
  otherwise the bar interval; the summary says which (``return_frequency``).
* A trade is one **position**, entry to final exit (partial take-profits are its exit
  fills, not trades). ``profit_factor`` = gross profit ÷ gross loss of the trades (None
  without a loss); ``win_rate`` = share of trades with pnl > 0 (net of fees and
  funding); ``avg_r`` = mean of a position's pnl ÷ its money at risk at entry, over
  trades whose risk is known.
* ``exits`` counts trades by the reason of their final exit; ``exit_fills`` counts every
  exit fill by its reason (so harvest tranches show there).
* Money, for the whole account, in the words every summary uses: ``starting_balance``,
  ``ending_equity``, ``realized_pnl`` (gross, booked on closing fills), ``fees``,
  ``funding`` (+ received, − paid) and ``net_pnl`` = realized − fees + funding;
  ``funding_source`` says where the funding rates came from (``files: N symbols`` or
  ``flat 0.0001/8h``), ``mark_source`` where the mark price that triggers stops, values
  positions and liquidates came from (``files: N symbols``, ``synthetic`` or
  ``last price``).

Undefined figures are None (JSON ``null``), never NaN.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from quantum_trader.backtest.trades import BacktestResult, FloatArray, IntArray

DAY_MS = 86_400_000
YEAR_MS = 365.25 * DAY_MS
MIN_DAYS_FOR_DAILY = 3


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def max_drawdown(equity: FloatArray) -> float:
    """Largest peak-to-trough fall as a fraction of the peak (0 for a rising curve)."""
    if equity.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, 1.0 - equity / peaks, 0.0)
    return float(falls.max())


def periodic_returns(
    times: IntArray, equity: FloatArray, period_ms: int, start_balance: float
) -> FloatArray:
    """Returns between the last equity of consecutive periods (the first from the start)."""
    if equity.size == 0:
        return np.empty(0)
    buckets = times // period_ms
    last_of_bucket = np.flatnonzero(np.diff(buckets, append=buckets[-1] + 1))
    closes = np.concatenate(([start_balance], equity[last_of_bucket]))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = closes[1:] / closes[:-1] - 1.0
    return np.asarray(returns[np.isfinite(returns)], dtype=np.float64)


def sharpe_ratio(returns: FloatArray, periods_per_year: float) -> float | None:
    if returns.size < 2:
        return None
    sd = float(returns.std(ddof=1))
    if sd == 0.0:
        return None
    return _finite(float(returns.mean()) / sd * math.sqrt(periods_per_year))


def sortino_ratio(returns: FloatArray, periods_per_year: float) -> float | None:
    if returns.size < 2:
        return None
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return _finite(float(returns.mean()) / downside * math.sqrt(periods_per_year))


def cagr(start: float, final: float, span_ms: float) -> float | None:
    if span_ms <= 0 or start <= 0 or final <= 0:
        return None
    return _finite((final / start) ** (YEAR_MS / span_ms) - 1.0)


def summarize(result: BacktestResult, interval_ms: int) -> dict[str, object]:
    """Every summary figure of ``result`` as JSON-ready values (see the module docstring)."""
    start, final = result.starting_balance, result.final_equity
    times, equity = result.equity_time, result.equity
    span = float(times[-1] - times[0] + interval_ms) if times.size else 0.0
    if span >= MIN_DAYS_FOR_DAILY * DAY_MS:
        period_ms, frequency = DAY_MS, "1d"
    else:
        period_ms, frequency = interval_ms, f"{interval_ms // 60_000}m"
    returns = periodic_returns(times, equity, period_ms, start)
    per_year = YEAR_MS / period_ms
    pnls = np.array([t.pnl for t in result.trades], dtype=np.float64)
    gains = float(pnls[pnls > 0].sum()) if pnls.size else 0.0
    losses = float(-pnls[pnls < 0].sum()) if pnls.size else 0.0
    rs = [r for r in (t.r_multiple for t in result.trades) if r is not None]
    fills = Counter(e.reason for t in result.trades for e in t.exit_fills)
    return {
        "strategy": result.strategy,
        "symbols": list(result.symbols),
        "interval": result.interval,
        "bars": result.bars,
        "start_time": int(times[0]) if times.size else None,
        "end_time": int(times[-1]) if times.size else None,
        "starting_balance": start,
        "ending_equity": final,
        "total_return": final / start - 1.0,
        "cagr": cagr(start, final, span),
        "max_drawdown": max_drawdown(equity),
        "sharpe": sharpe_ratio(returns, per_year),
        "sortino": sortino_ratio(returns, per_year),
        "return_frequency": frequency,
        "profit_factor": _finite(gains / losses) if losses > 0 else None,
        "win_rate": float((pnls > 0).mean()) if pnls.size else None,
        "trades": len(result.trades),
        "avg_r": float(np.mean(rs)) if rs else None,
        "exits": dict(sorted(Counter(t.exit_reason for t in result.trades).items())),
        "exit_fills": dict(sorted(fills.items())),
        "realized_pnl": result.realized,
        "fees": result.fees,
        "funding": result.funding,
        "net_pnl": result.net_pnl,
        "funding_source": result.funding_source,
        "mark_source": result.mark_source,
        "skipped_entries": dict(sorted(result.skipped.items())),
    }
