"""The alert rules: what each alert watches, when it fires, how bad it is, and where its
runbook section is.

Every alert carries ``severity`` (``critical`` pages, ``warning`` goes to chat, ``none``
is the watchdog for the dead-man switch) and ``impact``: ``exits`` (positions may go
unmanaged), ``entries`` (new entries are affected; a HALT inhibits these warnings, since
entries are stopped anyway), ``system`` or ``visibility`` (the alerts themselves are blind).
The exit path (``runtime.supervisor.EXIT_PATH``) is critical wherever it appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantum_trader.alerting.thresholds import AlertThresholds, duration
from quantum_trader.decide import reasons
from quantum_trader.decide.risk_guard import REASON_SEVERITY
from quantum_trader.domain.enums import RiskMode
from quantum_trader.runtime.supervisor import EXIT_PATH

SERVICES_JOB = "quantum-services"
METRICS_JOB = "quantum-metrics"
EXIT = "|".join(EXIT_PATH)
# What halts entries besides an operator's kill switch (which is its own, quieter alert).
HALTING = "|".join(
    sorted(r for r, m in REASON_SEVERITY.items() if m is RiskMode.HALT and r != reasons.KILL_SWITCH)
)


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    group: str
    expr: str
    for_s: float
    severity: str
    impact: str
    summary: str
    description: str

    @property
    def anchor(self) -> str:
        """The runbook section: the heading ``## <name>`` (GitHub's anchor: lower case)."""
        return self.name.lower()

    def rule(self, runbook: str) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": duration(self.for_s),
            "labels": {"severity": self.severity, "impact": self.impact},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{runbook}#{self.anchor}",
            },
        }


def alerts(t: AlertThresholds) -> list[Alert]:
    return [*_services(t), *_bus(t), *_exits(t), *_exchange(t), *_risk(t), *_model(t)]


def rule_groups(t: AlertThresholds, runbook: str) -> dict[str, Any]:
    """The rule file: one group per part of the system, evaluated at Prometheus' own
    ``evaluation_interval``."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for a in alerts(t):
        groups.setdefault(a.group, []).append(a.rule(runbook))
    return {"groups": [{"name": f"quantum-{n}", "rules": r} for n, r in groups.items()]}


def _services(t: AlertThresholds) -> list[Alert]:
    up = f'up{{job="{SERVICES_JOB}"'
    age = "quantum_heartbeat_age_seconds"
    return [
        Alert(
            "QuantumExitPathServiceDown", "services", f'{up}, service=~"{EXIT}"}} == 0',
            t.service_down_for_s, "critical", "exits",
            "Exit-path service {{ $labels.service }} on {{ $labels.instance }} is down",
            "Prometheus has not reached {{ $labels.service }} on {{ $labels.instance }} for "
            f"{duration(t.service_down_for_s)}. Exits depend on it: until it is back, open "
            "positions are guarded only by their exchange-side stops. The supervisor switches "
            "entries off (REDUCE_ONLY) once its heartbeat is gone.",
        ),
        Alert(
            "QuantumServiceDown", "services", f'{up}, service!~"{EXIT}"}} == 0',
            t.service_down_for_s, "warning", "entries",
            "Service {{ $labels.service }} on {{ $labels.instance }} is down",
            "Prometheus has not reached {{ $labels.service }} on {{ $labels.instance }} for "
            f"{duration(t.service_down_for_s)}. It is not on the exit path: entries (or the "
            "records it keeps) are affected, exits go on.",
        ),
        Alert(
            "QuantumExitPathHeartbeatStale", "services",
            f'{age}{{service=~"{EXIT}"}} > {t.heartbeat_stale_s}',
            t.heartbeat_stale_for_s, "critical", "exits",
            "Exit-path service {{ $labels.service }} silent for {{ $value | humanizeDuration }}",
            "The heartbeat of {{ $labels.service }} in Redis is {{ $value | humanizeDuration }} "
            "old: its loops are not turning (dead, stalled or crash-looping), whatever its "
            "process looks like. The supervisor holds REDUCE_ONLY while it is silent.",
        ),
        Alert(
            "QuantumHeartbeatStale", "services",
            f'{age}{{service!~"{EXIT}"}} > {t.heartbeat_stale_s}',
            t.heartbeat_stale_for_s, "warning", "entries",
            "Service {{ $labels.service }} silent for {{ $value | humanizeDuration }}",
            "The heartbeat of {{ $labels.service }} in Redis is {{ $value | humanizeDuration }} "
            "old: its loops are not turning. It is not on the exit path.",
        ),
        Alert(
            "QuantumServiceCrashLooping", "services",
            f"max by (service) (increase(quantum_service_restarts_total[15m])) >= "
            f"{t.crash_loop_restarts}\nor max by (service) "
            f'(changes(process_start_time_seconds{{job="{SERVICES_JOB}"}}[15m])) >= '
            f"{t.crash_loop_restarts}",
            60, "critical", "system",
            '{{ $labels.service }} restarted {{ printf "%.0f" $value }} times in 15 minutes',
            "A service that keeps dying may beat between crashes and never look down. Its "
            "log says why it ends; until it stays up it does its work only in moments.",
        ),
        Alert(
            "QuantumMetricsExporterDown", "services", f'up{{job="{METRICS_JOB}"}} == 0',
            t.exporter_down_for_s, "critical", "visibility",
            "The metrics service on {{ $labels.instance }} is down: the system's alerts are blind",
            "Prometheus has not reached `quantum service metrics` for "
            f"{duration(t.exporter_down_for_s)}. Heartbeats, lag, dead letters, risk mode and "
            "positions are read through it: none of their alerts can fire meanwhile.",
        ),
        Alert(
            "QuantumRedisUnreachable", "services", "quantum_redis_up == 0",
            t.redis_down_for_s, "critical", "system",
            "{{ $labels.instance }} cannot read Redis",
            "The exporter on {{ $labels.instance }} has failed to read Redis for "
            f"{duration(t.redis_down_for_s)}. Every service shares that Redis: streams, "
            "positions, risk state and the entry gate live there.",
        ),
        Alert(
            "QuantumStateLost", "services", "quantum_state_marker_missing == 1",
            t.state_lost_for_s, "critical", "entries",
            "Redis lost the system's state marker: entries are halted",
            "The epoch marker is gone from Redis (a flush, a failover to an empty replica): "
            "positions, leases and dedupe keys may be gone with it. Entries stay halted until "
            "a reconcile round has run and an operator confirms with `quantum state confirm`.",
        ),
    ]  # fmt: skip


def _bus(t: AlertThresholds) -> list[Alert]:
    lag = "quantum_consumer_group_lag_seconds"
    exit_lanes = f'{lag}{{stream="apply.exit"}} or {lag}{{group="exit-brain"}}'
    return [
        Alert(
            "QuantumExitLaneLagging", "bus",
            f"max by (stream, group) ({exit_lanes}) > {t.lag_s}",
            t.bus_for_s, "critical", "exits",
            "{{ $labels.group }} is {{ $value | humanizeDuration }} behind on {{ $labels.stream }}",
            "The oldest entry of {{ $labels.stream }} not yet delivered to {{ $labels.group }} "
            "is {{ $value | humanizeDuration }} old: exit decisions or exit orders are waiting.",
        ),
        Alert(
            "QuantumConsumerLagging", "bus",
            f'max by (stream, group) ({lag}{{stream!="apply.exit", group!="exit-brain"}}) > '
            f"{t.lag_s}",
            t.bus_for_s, "warning", "entries",
            "{{ $labels.group }} is {{ $value | humanizeDuration }} behind on {{ $labels.stream }}",
            "The oldest entry of {{ $labels.stream }} not yet delivered to {{ $labels.group }} "
            "is {{ $value | humanizeDuration }} old and growing.",
        ),
        Alert(
            "QuantumPendingStuck", "bus",
            "max by (stream, group) (quantum_consumer_group_oldest_pending_seconds) > "
            f"{t.pending_age_s}",
            t.bus_for_s, "warning", "system",
            "{{ $labels.group }} has an entry of {{ $labels.stream }} unacknowledged for "
            "{{ $value | humanizeDuration }}",
            "An entry was delivered to {{ $labels.group }} and never acknowledged: its consumer "
            "died or its handler hangs. A live consumer of the group reclaims it after "
            "reclaim_idle_ms; one that stays pending means none does.",
        ),
        Alert(
            "QuantumDeadLetters", "bus",
            "sum by (stream, reason) (increase(quantum_dead_letters_total[10m])) > 0",
            t.dead_letter_for_s, "warning", "system",
            "Dead letters from {{ $labels.stream }} ({{ $labels.reason }})",
            "{{ $value | humanize }} message(s) from {{ $labels.stream }} went to the dead-letter "
            "stream in 10 minutes, reason {{ $labels.reason }}. They were not processed.",
        ),
    ]  # fmt: skip


def _exits(t: AlertThresholds) -> list[Alert]:
    return [
        Alert(
            "QuantumPositionUnprotected", "exits",
            f"max by (symbol) (quantum_position_unprotected_seconds) > {t.unprotected_s}",
            t.unprotected_for_s, "critical", "exits",
            "{{ $labels.symbol }} has had no stop for {{ $value | humanizeDuration }}",
            "The exchange shows an open {{ $labels.symbol }} position without a reduce-only stop "
            "covering all of it. Every fill gets one within a second; the position monitor "
            "re-places a missing one every round. Nothing limits its loss meanwhile.",
        ),
        Alert(
            "QuantumUnknownOrderOutcome", "exits",
            "max by (service, instance) (quantum_orders_outcome_unknown) > 0",
            t.unknown_outcome_for_s, "warning", "exits",
            "{{ $value }} order(s) of {{ $labels.service }} with an unknown outcome",
            "The exchange answered an order with a timeout or a 5xx and has not said since "
            "whether the order exists. Nothing else happens on its symbol until it does.",
        ),
    ]  # fmt: skip


def _exchange(t: AlertThresholds) -> list[Alert]:
    answered = "sum(increase(quantum_order_outcomes_total[15m]))"
    return [
        Alert(
            "QuantumExchangeUnreachable", "exchange", "quantum_exchange_up == 0",
            t.exchange_down_for_s, "critical", "exits",
            "The exchange has not answered {{ $labels.instance }}",
            f"Reading the account, positions and stops has failed for "
            f"{duration(t.exchange_down_for_s)}. Orders, exits included, likely fail too; "
            "the risk guard turns REDUCE_ONLY once equity is stale.",
        ),
        Alert(
            "QuantumOrderRejectionsHigh", "exchange",
            f'sum(increase(quantum_order_outcomes_total{{outcome="rejected"}}[15m])) / {answered} '
            f"> {t.rejection_ratio}\nand {answered} >= {t.rejection_min_orders}",
            t.rejection_for_s, "warning", "entries",
            "{{ $value | humanizePercentage }} of orders rejected by the exchange",
            "Over 15 minutes the exchange rejected {{ $value | humanizePercentage }} of the "
            "orders it answered. quantum_order_rejections_total says which Binance codes.",
        ),
        Alert(
            "QuantumExchangeWeightHigh", "exchange",
            "max(quantum_exchange_request_weight_used) / "
            f"max(quantum_exchange_request_weight_limit) > {t.weight_near_ratio}",
            t.weight_for_s, "warning", "system",
            "{{ $value | humanizePercentage }} of the exchange's request weight used",
            "This IP has used {{ $value | humanizePercentage }} of its per-minute request weight. "
            "At the limit the exchange answers 429 (and bans on repeat), exits included.",
        ),
    ]  # fmt: skip


def _risk(t: AlertThresholds) -> list[Alert]:
    def near(measure: str, limit: str, name: str) -> str:
        ratio = f"max({measure}) / max({limit}) > {t.exposure_near_ratio}"
        return f'label_replace({ratio}, "limit", "{name}", "", "")'

    return [
        Alert(
            "QuantumRiskHalt", "risk",
            'max(quantum_risk_mode{mode="HALT"}) == 1\nand on() '
            f'(max(quantum_risk_reason{{reason=~"{HALTING}"}}) == 1 '
            "or max(quantum_circuit_breaker_tripped) == 1)",
            t.halt_for_s, "critical", "entries",
            "Risk mode HALT: every entry is refused",
            "The risk guard or the circuit breaker halted entries (`quantum kill-switch "
            "status` lists the reasons); exits go on. A breaker trip means an impossible state "
            "was seen (two entry orders for one plan, a position larger than any plan, a "
            "reduce-only fill that grew one).",
        ),
        Alert(
            "QuantumKillSwitchEngaged", "risk", "max(quantum_kill_switch_engaged) == 1",
            t.kill_switch_for_s, "warning", "entries",
            "The kill switch is on: no new entries",
            "An operator switched entries off with `quantum kill-switch on`. Exits go on; "
            "`quantum kill-switch status` says who, why and since when.",
        ),
        Alert(
            "QuantumReduceOnlyProlonged", "risk",
            'max(quantum_risk_mode{mode="REDUCE_ONLY"}) == 1',
            t.reduce_only_for_s, "warning", "entries",
            f"REDUCE_ONLY for more than {duration(t.reduce_only_for_s)}: no new entries",
            f"Entries have been off for {duration(t.reduce_only_for_s)}; exits go on. "
            "`quantum kill-switch status` lists the reasons that hold it.",
        ),
        Alert(
            "QuantumEquityStale", "risk",
            f"max(quantum_equity_age_seconds) > {t.equity_stale_s}\n"
            f'or max(quantum_risk_reason{{reason="{reasons.EQUITY_STALE}"}}) == 1',
            t.equity_stale_for_s, "warning", "entries",
            "The account's equity is stale",
            "The account has not been read from the exchange recently (or the risk guard says "
            f"{reasons.EQUITY_STALE}): sizes and risk limits work from an old equity, so "
            "the risk guard refuses entries (REDUCE_ONLY).",
        ),
        Alert(
            "QuantumExposureNearLimit", "risk",
            " or\n".join((
                near("quantum_gross_exposure_ratio", "quantum_gross_exposure_limit_ratio",
                     "gross_exposure"),
                near("quantum_margin_utilisation_ratio", "quantum_margin_utilisation_limit_ratio",
                     "margin_utilisation"),
                near("quantum_open_positions", "quantum_open_positions_limit", "open_positions"),
            )),
            t.exposure_for_s, "warning", "entries",
            "{{ $labels.limit }} at {{ $value | humanizePercentage }} of its risk limit",
            "{{ $labels.limit }} has been above "
            f"{t.exposure_near_ratio:.0%} of the risk guard's limit for "
            f"{duration(t.exposure_for_s)}. At the limit entries stop (REDUCE_ONLY).",
        ),
        Alert(
            "QuantumReconcileRepairsHigh", "risk",
            f"sum(increase(quantum_reconcile_repairs_total[1h])) > {t.repairs_per_hour}",
            t.repairs_for_s, "warning", "system",
            "{{ $value | humanize }} reconcile repairs in an hour",
            "The position monitor keeps finding the ledger and the exchange apart (ghosts, "
            "adopted positions, missing stops, orphan orders). Something changes positions "
            "behind the system's back, or fills are being lost.",
        ),
    ]  # fmt: skip


def _model(t: AlertThresholds) -> list[Alert]:
    return [
        Alert(
            "QuantumModelDrift", "model",
            "max by (model) (quantum_model_entries_stopped) == 1\nor max by (model) "
            "(quantum_model_max_psi) > on() group_left() max(quantum_model_psi_limit)",
            t.drift_for_s, "warning", "entries",
            "Model {{ $labels.model }} drifted",
            "The live features left the model's training distribution (PSI above "
            "model.drift.psi_limit) or its hit rate decayed; with model.drift.stop_entries "
            "it enters nothing more until another model is promoted.",
        ),
        Alert(
            "QuantumWatchdog", "meta", "vector(1)", 0, "none", "visibility",
            "Always firing: the alerting pipeline works",
            "Routed to the dead-man switch, which raises its own alarm when this stops "
            "arriving: Prometheus, its rules or Alertmanager are down.",
        ),
    ]  # fmt: skip
