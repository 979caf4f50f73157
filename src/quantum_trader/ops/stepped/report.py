"""The chaos run's verdict: faults injected by kind, violations by invariant with the
first offending event, and trade statistics from the exchange's fills next to what the
system's own journal says (FAILURES #22: internal stats must match the venue's).

Its money is the venue's account in the words every summary uses: ``starting_balance``,
``ending_equity``, ``realized_pnl``, ``fees``, ``funding`` (+ received, − paid) and
``net_pnl`` = realized − fees + funding, with ``money_source`` saying where it came from
(the venue's account, or — when the run did not pass it — its fills, which know no
balance, equity or funding).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from quantum_trader.domain.enums import Side
from quantum_trader.domain.order_ids import is_entry
from quantum_trader.domain.orders import Fill
from quantum_trader.ops.stepped.checker import INVARIANTS, Evidence, check_all
from quantum_trader.services.journal import AccountMark, unmarked_money


@dataclass
class ChaosReport:
    faults_by_kind: dict[str, int]
    violations_by_invariant: dict[str, dict[str, Any]]
    trades: dict[str, Any]
    runtime_s: float
    config: dict[str, Any] = field(default_factory=dict)
    stalled_bars: list[int] = field(default_factory=list)
    process_kills: dict[str, int] = field(default_factory=dict)
    money: dict[str, Any] = field(default_factory=dict)
    struck: dict[str, int] = field(default_factory=dict)  # armed faults that fired
    # CPU seconds (user + system) per process — each service, "redis-server" and
    # "orchestrator" (the simulated exchange, its HTTP front and the market feed) — over
    # the whole run, and from the end of the first bar on (start-up and the warm-up the
    # first bar wakes left out: the ``cpu_bars`` market minutes after it).
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds_bars: dict[str, float] = field(default_factory=dict)
    cpu_bars: int = 0

    @property
    def faults_total(self) -> int:
        return sum(self.faults_by_kind.values())

    @property
    def violations_total(self) -> int:
        return sum(int(v["count"]) for v in self.violations_by_invariant.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "faults_total": self.faults_total,
            "faults_by_kind": self.faults_by_kind,
            "violations_total": self.violations_total,
            "violations_by_invariant": self.violations_by_invariant,
            **self.money,
            "trades": self.trades,
            "runtime_s": round(self.runtime_s, 1),
            "stalled_bars": self.stalled_bars,
            "process_kills": self.process_kills,
            "struck": self.struck,
            "cpu_seconds": self.cpu_seconds,
            "cpu_seconds_bars": self.cpu_seconds_bars,
            "cpu_bars": self.cpu_bars,
            "config": self.config,
        }


def exchange_trades(fills: Iterable[Fill]) -> dict[str, Any]:
    """Round trips (flat → open → flat) per symbol from the venue's fills."""
    qty: dict[str, Decimal] = defaultdict(Decimal)
    pnl: dict[str, Decimal] = defaultdict(Decimal)
    count: dict[str, int] = defaultdict(int)
    trips: list[tuple[Decimal, int]] = []
    fees = Decimal(0)
    for f in sorted(fills, key=lambda f: (f.ts, int(f.trade_id) if f.trade_id.isdigit() else 0)):
        before = qty[f.symbol]
        qty[f.symbol] += f.qty if f.side is Side.BUY else -f.qty
        pnl[f.symbol] += f.realized_pnl - f.commission
        count[f.symbol] += 1
        fees += f.commission
        flipped = before != 0 and qty[f.symbol] != 0 and (before > 0) != (qty[f.symbol] > 0)
        if qty[f.symbol] == 0 or flipped:
            trips.append((pnl[f.symbol], count[f.symbol]))
            pnl[f.symbol], count[f.symbol] = Decimal(0), 0
    wins = sum(1 for p, _ in trips if p > 0)
    return {
        "closed_positions": len(trips),
        "net_pnl": str(sum((p for p, _ in trips), Decimal(0))),
        "fees": str(fees),
        "win_rate": round(wins / len(trips), 4) if trips else None,
        "fills_per_position": round(sum(n for _, n in trips) / len(trips), 2) if trips else None,
        "open_at_end": sum(1 for q in qty.values() if q != 0),
        "fills": sum(1 for _ in fills) if isinstance(fills, Sequence) else None,
    }


def account_money(fills: Iterable[Fill], mark: AccountMark | None) -> dict[str, Any]:
    """The money keys, from the venue's account ``mark`` or, without one, from its fills."""
    if mark is not None:
        return {**mark.summary(), "money_source": "venue account"}
    chosen = list(fills)
    realized = sum((f.realized_pnl for f in chosen), Decimal(0))
    fees = sum((f.commission for f in chosen), Decimal(0))
    return unmarked_money(realized, fees, "venue fills (funding unknown)")


def _first(violations: Sequence[Any]) -> dict[str, Any] | None:
    if not violations:
        return None
    v = violations[0]
    return {"symbol": v.symbol, "at": v.at, "detail": v.detail}


def build_report(
    evidence: Evidence,
    internal: Mapping[str, Any],
    faults_by_kind: Mapping[str, int],
    config: Mapping[str, Any],
    *,
    runtime_s: float,
    stalls: Sequence[int],
    restarts: Mapping[str, int],
    money: AccountMark | None = None,
    struck: Mapping[str, int] | None = None,
) -> ChaosReport:
    """``money``: the venue's account at the end (``run_summary.venue_money(core, now)``)."""
    found, longest = check_all(evidence)
    entries = sum(1 for o in evidence.orders if is_entry(o.client_order_id))
    return ChaosReport(
        faults_by_kind=dict(faults_by_kind),
        violations_by_invariant={
            name: {"count": len(found[name]), "first": _first(found[name])} for name in INVARIANTS
        },
        trades={
            "exchange": exchange_trades(list(evidence.fills)),
            "internal": dict(internal),
            "entry_orders": entries,
            "plans": len({p.plan_id for p in evidence.plans}),
            "dead_letters": len(evidence.dead),
            "longest_unprotected_s": longest / 1000,
        },
        runtime_s=runtime_s,
        config=dict(config),
        stalled_bars=list(stalls),
        process_kills=dict(restarts),
        money=account_money(evidence.fills, money),
        struck=dict(struck or {}),
    )
