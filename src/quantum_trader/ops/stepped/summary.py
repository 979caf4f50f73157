"""``quantum run --processes`` reports in the keys of every paper run's summary.

The one-process-per-service run is the chaos orchestrator with no fault scheduled; its
evidence (the exchange's history, the streams, the ledger) gives the same figures a
normal run's summary computes, with the same invariant functions, plus the chaos
checker's verdict beside them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from quantum_trader.bus.schemas import Plan
from quantum_trader.domain.order_ids import is_entry
from quantum_trader.ops import invariants
from quantum_trader.ops.stepped.checker import Evidence
from quantum_trader.ops.stepped.report import ChaosReport


def processes_summary(
    report: ChaosReport,
    evidence: Evidence,
    *,
    mode: str,
    hours: float,
    symbols: list[str],
    run_id: str,
    closes_by_reason: dict[str, int],
    intents_rejected: dict[str, int],
    reconcile_repairs: int,
    trades: list[dict[str, Any]],
    models: list[str],
) -> dict[str, Any]:
    fills, orders = list(evidence.fills), list(evidence.orders)
    unprotected_ms, _ = invariants.max_unprotected_ms(fills, orders, evidence.until)
    answered = {r.plan_id for r in evidence.results}
    exit_plans = [p for p in evidence.plans if isinstance(p, Plan) and p.kind.value != "OPEN"]
    entries = {f.client_order_id for f in fills if is_entry(f.client_order_id)}
    money = {k: v for k, v in report.money.items() if k != "money_source"}
    return {
        "mode": mode,
        "market_hours": hours,
        "symbols": symbols,
        "entries": len(entries),
        "exits_by_reason": dict(sorted(closes_by_reason.items())),
        "skipped_by_reason": dict(
            sorted(Counter(r.reason for r in evidence.results if not r.executed).items())
        ),
        "intents_rejected_by_reason": dict(sorted(intents_rejected.items())),
        **money,
        "open_positions": sum(1 for p in evidence.positions if p.qty > 0),
        "dead_letters": len(evidence.dead),
        "restarts": sum(n for k, n in report.process_kills.items() if not k.startswith("sigstop:")),
        "reconcile_repairs": reconcile_repairs,
        "invariants": {
            "duplicate_entries": len(invariants.duplicate_entries(fills)),
            "max_unprotected_seconds": round(unprotected_ms / 1000, 3),
            "ledger_mismatches": len(
                invariants.ledger_mismatches(dict(evidence.ledger), list(evidence.positions))
            ),
            "unexecuted_exits": sum(1 for p in exit_plans if p.plan_id not in answered),
            "reduce_only_growth": len(invariants.reduce_only_growth(fills)),
        },
        "run_id": run_id,
        "stopped_early": None,
        "market_minutes_run": int(hours * 60) + 1,
        "request_weight_peak": None,
        "trades": trades,
        "models": models,
        # CPU seconds per process (each service, redis-server, orchestrator: the exchange
        # and the feed), over the whole run and over the cpu_bars bars after the first.
        "cpu_seconds": report.cpu_seconds,
        "cpu_seconds_bars": report.cpu_seconds_bars,
        "cpu_bars": report.cpu_bars,
        # The chaos checker's verdict over the same evidence, and its first offences.
        "checker_violations": {
            name: int(v["count"]) for name, v in report.violations_by_invariant.items()
        },
        "checker_first_violations": {
            name: v["first"] for name, v in report.violations_by_invariant.items() if v["count"]
        },
    }
