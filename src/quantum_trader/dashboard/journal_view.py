"""The trade journal as the dashboard shows it: closed positions, their breakdowns per
symbol and per UTC month, harvest metrics by exit reason and R, and the realized money.

Every figure is a position's (a harvest tranche is an exit of its position, not a
trade), net of its fees: ``net_pnl`` = realized − fees; a win is a position that kept
money after fees. These run in a worker thread (the journal is synchronous SQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from quantum_trader.backtest.breakdowns import month_of
from quantum_trader.domain.money import fmt
from quantum_trader.domain.timefmt import iso_or_none
from quantum_trader.services.journal import Journal

DAY_MS = 86_400_000
CENT = Decimal("0.01")
R_BUCKETS = (  # (upper bound, label), the first bound at or above R takes it
    (Decimal("-1"), "≤ −1R"),
    (Decimal("0"), "−1R…0"),
    (Decimal("1"), "0…1R"),
    (Decimal("2"), "1…2R"),
    (Decimal("Infinity"), "> 2R"),
)


def _net(row: Any) -> Decimal:
    return Decimal(row.realized_pnl) - Decimal(row.fees)


def closed_rows(journal: Journal, symbol: str = "", month: str = "") -> list[dict[str, Any]]:
    """Closed positions, newest first, optionally of one symbol and one month."""
    out = []
    for row in reversed(journal.closed()):
        if symbol and row.symbol != symbol:
            continue
        if month and month_of(int(row.closed_at)) != month:
            continue
        r = Decimal(row.r_multiple) if row.r_multiple is not None else None
        out.append(
            {
                "position_id": row.position_id,
                "symbol": row.symbol,
                "side": row.side,
                "qty": fmt(Decimal(row.qty)),
                "entry_price": fmt(Decimal(row.entry_price)),
                "exit_price": fmt(Decimal(row.exit_price)),
                "initial_stop": fmt(Decimal(row.initial_stop)),
                "opened_at_iso": iso_or_none(int(row.opened_at)),
                "closed_at_iso": iso_or_none(int(row.closed_at)),
                "realized_pnl": fmt(Decimal(row.realized_pnl)),
                "fees": fmt(Decimal(row.fees)),
                "net_pnl": fmt(_net(row).quantize(CENT)),
                "r": fmt(r.quantize(CENT)) if r is not None else None,
                "ladder_stage": int(row.ladder_stage),
                "exit_reason": row.exit_reason,
                "run_id": row.run_id,
            }
        )
    return out


def figures(rows: Sequence[Any]) -> dict[str, Any]:
    nets = [_net(r) for r in rows]
    wins = sum(1 for n in nets if n > 0)
    gains = sum((n for n in nets if n > 0), Decimal(0))
    losses = -sum((n for n in nets if n < 0), Decimal(0))
    rs = [Decimal(r.r_multiple) for r in rows if r.r_multiple is not None]
    return {
        "trades": len(rows),
        "wins": wins,
        "win_rate": f"{wins / len(rows) * 100:.1f}" if rows else None,
        "net_pnl": fmt(sum(nets, Decimal(0)).quantize(CENT)),
        "avg_r": fmt((sum(rs, Decimal(0)) / len(rs)).quantize(CENT)) if rs else None,
        "profit_factor": fmt((gains / losses).quantize(CENT)) if losses > 0 else None,
    }


def breakdown(rows: Iterable[Any], key: Callable[[Any], str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return {name: figures(groups[name]) for name in sorted(groups)}


def breakdowns(journal: Journal) -> dict[str, Any]:
    rows = journal.closed()
    return {
        "all": figures(rows),
        "symbol": breakdown(rows, lambda r: str(r.symbol)),
        "month": breakdown(rows, lambda r: month_of(int(r.closed_at))),
    }


def harvest(journal: Journal) -> dict[str, Any]:
    """Closes by reason (with their R), winners scaled out, losers cut, R distribution."""
    m = journal.harvest_metrics()
    rows = journal.closed()
    by_reason = breakdown(rows, lambda r: str(r.exit_reason))
    buckets = {label: 0 for _, label in R_BUCKETS}
    for row in rows:
        if row.r_multiple is not None:
            r = Decimal(row.r_multiple)
            buckets[next(label for bound, label in R_BUCKETS if r <= bound)] += 1
    scaled = [r for r in rows if int(r.ladder_stage) > 0]
    return {
        "trades": m.trades,
        "closes_by_reason": m.closes_by_reason,
        "by_reason": by_reason,
        "winners_scaled": m.winners_scaled,
        "losers_cut": m.losers_cut,
        "scaled_out": len(scaled),
        "average_r": fmt(m.average_r) if m.average_r is not None else None,
        "trigger_to_order_ms": f"{m.trigger_to_order_ms:.1f}" if m.trigger_to_order_ms else None,
        "r_buckets": buckets,
    }


def money(journal: Journal, now: int) -> dict[str, Any]:
    """Realized net PnL of closed positions: today (UTC day of ``now``) and in total, and
    the running balance curve (cumulative realized net, by close time)."""
    rows = journal.closed()
    day_start = now - now % DAY_MS
    total = today = Decimal(0)
    curve = []
    for row in rows:
        net = _net(row)
        total += net
        if int(row.closed_at) >= day_start:
            today += net
        curve.append((int(row.closed_at), total))
    mark = journal.last_account()
    return {
        "realized_total": total,
        "realized_today": today,
        "curve": curve,
        "starting_balance": mark.starting_balance if mark else None,
    }
