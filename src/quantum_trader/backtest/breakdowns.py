"""A backtest's trades broken down: by symbol, month, exit reason, strategy and side.

Every row counts **positions** (a partial take-profit is an exit fill of its position,
not a trade) and holds the figures the summary gives for all of them:

* ``trades``, ``wins`` (pnl > 0, net of fees and funding) and ``win_rate``;
* ``net_pnl``: the sum of the positions' pnl (net of all their fees and funding);
* ``avg_r``: mean pnl in R over the positions whose risk at entry is known (None if none);
* ``profit_factor``: gross profit ÷ gross loss (None without a loss).

The groups: ``symbol``; ``month`` — the UTC month (``YYYY-MM``) of the position's final
exit, when its pnl is booked; ``exit_reason`` — its final exit's; ``strategy`` — the
strategy whose entry signal opened it; ``side`` — ``LONG`` / ``SHORT``. Within a group
every position is in exactly one row, so each group's ``trades``, ``wins`` and
``net_pnl`` add up to the run's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from quantum_trader.backtest.trades import Trade

UNKNOWN = "unknown"  # a position whose entry no strategy is recorded for


def month_of(ms: int) -> str:
    """``YYYY-MM`` of ``ms`` since the epoch, UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m")


GROUPS: dict[str, Callable[[Trade], str]] = {
    "symbol": lambda t: t.symbol,
    "month": lambda t: month_of(t.exit_time),
    "exit_reason": lambda t: t.exit_reason,
    "strategy": lambda t: t.strategy or UNKNOWN,
    "side": lambda t: t.side,
}


def figures(trades: Sequence[Trade]) -> dict[str, object]:
    """One row: the figures of ``trades`` (see the module docstring)."""
    pnls = [t.pnl for t in trades]
    wins = sum(1 for p in pnls if p > 0)
    gains = math.fsum(p for p in pnls if p > 0)
    losses = -math.fsum(p for p in pnls if p < 0)
    rs = [r for r in (t.r_multiple for t in trades) if r is not None]
    factor = gains / losses if losses > 0 else None
    return {
        "trades": len(trades),
        "wins": wins,
        "win_rate": wins / len(trades) if trades else None,
        "net_pnl": math.fsum(pnls),
        "avg_r": math.fsum(rs) / len(rs) if rs else None,
        "profit_factor": factor if factor is None or math.isfinite(factor) else None,
    }


def breakdown(trades: Iterable[Trade], key: Callable[[Trade], str]) -> dict[str, dict[str, object]]:
    """Rows by ``key``, in key order (months in time order: ``YYYY-MM`` sorts so)."""
    groups: dict[str, list[Trade]] = {}
    for trade in trades:
        groups.setdefault(key(trade), []).append(trade)
    return {name: figures(groups[name]) for name in sorted(groups)}


def breakdowns(trades: Sequence[Trade]) -> dict[str, dict[str, dict[str, object]]]:
    """Every group of :data:`GROUPS`: group -> row name -> figures."""
    return {group: breakdown(trades, key) for group, key in GROUPS.items()}
