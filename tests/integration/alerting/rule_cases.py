"""One or more cases per alert rule, for ``promtool test rules``: the series of a system
going wrong (the condition first holds at ``onset_s``), the labels and value the alert
then has, and the series of the same system healthy. Samples are 15 s apart."""

from __future__ import annotations

from dataclasses import dataclass, field

STEP_S = 15
EXPORTER = 'job="quantum-metrics", instance="10.0.0.5:9310"'


def on_exporter(name: str, labels: str = "") -> str:
    return f"{name}{{{EXPORTER}{', ' + labels if labels else ''}}}"


def on_service(name: str, service: str, port: int) -> str:
    return f'{name}{{job="quantum-services", service="{service}", instance="10.0.0.5:{port}"}}'


@dataclass(frozen=True)
class Case:
    alert: str
    series: dict[str, str]  # series -> promtool's expanding notation
    onset_s: int  # the first evaluation at which the alert's condition holds
    labels: dict[str, str]  # the alert's labels from its expression
    value: float  # its value at onset + for + one step (what the annotations show)
    healthy: dict[str, str] = field(default_factory=dict)  # the same system, healthy
    name: str = ""


CASES: tuple[Case, ...] = (
    Case(
        "QuantumExitPathServiceDown",
        {on_service("up", "exit-brain", 9315): "1x3 0x20"},
        60,
        {"job": "quantum-services", "service": "exit-brain", "instance": "10.0.0.5:9315"},
        0,
        {on_service("up", "exit-brain", 9315): "1x24"},
    ),
    Case(
        "QuantumServiceDown",
        {on_service("up", "signal-engine", 9311): "1x3 0x20"},
        60,
        {"job": "quantum-services", "service": "signal-engine", "instance": "10.0.0.5:9311"},
        0,
        # an exit-path service down is the other, critical alert
        {
            on_service("up", "signal-engine", 9311): "1x24",
            on_service("up", "apply-layer", 9314): "1x3 0x20",
        },
    ),
    Case(
        "QuantumExitPathHeartbeatStale",
        {on_exporter("quantum_heartbeat_age_seconds", 'service="apply-layer"'): "0x3 15+15x20"},
        90,
        {**dict(job="quantum-metrics", instance="10.0.0.5:9310"), "service": "apply-layer"},
        90,
        {on_exporter("quantum_heartbeat_age_seconds", 'service="apply-layer"'): "1x24"},
    ),
    Case(
        "QuantumHeartbeatStale",
        {on_exporter("quantum_heartbeat_age_seconds", 'service="ledger"'): "0x3 15+15x20"},
        90,
        {**dict(job="quantum-metrics", instance="10.0.0.5:9310"), "service": "ledger"},
        90,
        {on_exporter("quantum_heartbeat_age_seconds", 'service="ledger"'): "1x24"},
    ),
    Case(
        "QuantumServiceCrashLooping",
        {on_exporter("quantum_service_restarts_total", 'service="exit-brain"'): "0x3 1 2 3 3x20"},
        90,
        {"service": "exit-brain"},
        3,
        {on_exporter("quantum_service_restarts_total", 'service="exit-brain"'): "0x3 1x24"},
    ),
    Case(
        "QuantumServiceCrashLooping",
        {on_service("process_start_time_seconds", "ledger", 9316): "100x3 200 300 400 400x20"},
        90,
        {"service": "ledger"},
        3,
        {on_service("process_start_time_seconds", "ledger", 9316): "100x3 200x24"},
        name="process start time",
    ),
    Case(
        "QuantumMetricsExporterDown",
        {on_exporter("up"): "1x3 0x20"},
        60,
        {"job": "quantum-metrics", "instance": "10.0.0.5:9310"},
        0,
        {on_exporter("up"): "1x24"},
    ),
    Case(
        "QuantumRedisUnreachable",
        {on_exporter("quantum_redis_up"): "1x3 0x20"},
        60,
        {"job": "quantum-metrics", "instance": "10.0.0.5:9310"},
        0,
        {on_exporter("quantum_redis_up"): "1x24"},
    ),
    Case(
        "QuantumStateLost",
        {on_exporter("quantum_state_marker_missing"): "0x3 1x20"},
        60,
        {"job": "quantum-metrics", "instance": "10.0.0.5:9310"},
        1,
        {on_exporter("quantum_state_marker_missing"): "0x24"},
    ),
    Case(
        "QuantumExitLaneLagging",
        {
            on_exporter(
                "quantum_consumer_group_lag_seconds", 'stream="apply.exit", group="apply-layer"'
            ): "0x3 30+15x20"
        },
        105,
        {"stream": "apply.exit", "group": "apply-layer"},
        210,
        {
            on_exporter(
                "quantum_consumer_group_lag_seconds", 'stream="apply.exit", group="apply-layer"'
            ): "0x30"
        },
    ),
    Case(
        "QuantumExitLaneLagging",
        {
            on_exporter(
                "quantum_consumer_group_lag_seconds", 'stream="market", group="exit-brain"'
            ): "0x3 30+15x20"
        },
        105,
        {"stream": "market", "group": "exit-brain"},
        210,
        {
            on_exporter(
                "quantum_consumer_group_lag_seconds", 'stream="market", group="signal-engine"'
            ): "0x3 30+15x20"
        },
        name="the exit brain's bars",
    ),
    Case(
        "QuantumConsumerLagging",
        {
            on_exporter(
                "quantum_consumer_group_lag_seconds", 'stream="fills", group="ledger"'
            ): "0x3 30+15x20"
        },
        105,
        {"stream": "fills", "group": "ledger"},
        210,
        # a lagging exit lane is the critical alert's, not this one's
        {
            on_exporter(
                "quantum_consumer_group_lag_seconds", 'stream="fills", group="ledger"'
            ): "0x30",
            on_exporter(
                "quantum_consumer_group_lag_seconds", 'stream="apply.exit", group="apply-layer"'
            ): "0x3 30+15x20",
        },
    ),
    Case(
        "QuantumPendingStuck",
        {
            on_exporter(
                "quantum_consumer_group_oldest_pending_seconds",
                'stream="apply.plan", group="apply-layer"',
            ): "0x3 15+15x30"
        },
        180,
        {"stream": "apply.plan", "group": "apply-layer"},
        270,
        {
            on_exporter(
                "quantum_consumer_group_oldest_pending_seconds",
                'stream="apply.plan", group="apply-layer"',
            ): "0 5 10 0x30"
        },
    ),
    Case(
        "QuantumDeadLetters",
        {on_exporter("quantum_dead_letters_total", 'stream="fills", reason="invalid"'): "0x7 1x40"},
        120,
        {"stream": "fills", "reason": "invalid"},
        1,
        {on_exporter("quantum_dead_letters_total", 'stream="fills", reason="invalid"'): "0x40"},
    ),
    Case(
        "QuantumPositionUnprotected",
        {on_exporter("quantum_position_unprotected_seconds", 'symbol="BTCUSDT"'): "0x3 15+15x20"},
        90,
        {"symbol": "BTCUSDT"},
        75,
        # a fresh fill is unprotected for a moment, until its stop is placed
        {on_exporter("quantum_position_unprotected_seconds", 'symbol="BTCUSDT"'): "0 1 0x22"},
    ),
    Case(
        "QuantumUnknownOrderOutcome",
        {on_service("quantum_orders_outcome_unknown", "apply-layer", 9314): "0x3 1x30"},
        60,
        {"service": "apply-layer", "instance": "10.0.0.5:9314"},
        1,
        {on_service("quantum_orders_outcome_unknown", "apply-layer", 9314): "0 1 0x30"},
    ),
    Case(
        "QuantumExchangeUnreachable",
        {on_exporter("quantum_exchange_up"): "1x3 0x30"},
        60,
        {"job": "quantum-metrics", "instance": "10.0.0.5:9310"},
        0,
        {on_exporter("quantum_exchange_up"): "1x34"},
    ),
    Case(
        "QuantumOrderRejectionsHigh",
        {
            on_service("quantum_order_outcomes_total", "apply-layer", 9314)[:-1]
            + ', outcome="accepted"}': "0+2x60",
            on_service("quantum_order_outcomes_total", "apply-layer", 9314)[:-1]
            + ', outcome="rejected"}': "0x3 1+1x60",
            on_service("quantum_order_outcomes_total", "apply-layer", 9314)[:-1]
            + ', outcome="unknown"}': "0x64",
        },
        105,
        {},
        25 / 81,
        {
            on_service("quantum_order_outcomes_total", "apply-layer", 9314)[:-1]
            + ', outcome="accepted"}': "0+2x60",
            on_service("quantum_order_outcomes_total", "apply-layer", 9314)[:-1]
            + ', outcome="rejected"}': "0x8 1x60",
        },
    ),
    Case(
        "QuantumExchangeWeightHigh",
        {
            on_exporter("quantum_exchange_request_weight_used"): "100x3 2000x20",
            on_exporter("quantum_exchange_request_weight_limit"): "2400x24",
        },
        60,
        {},
        2000 / 2400,
        {
            on_exporter("quantum_exchange_request_weight_used"): "100 1500 300x22",
            on_exporter("quantum_exchange_request_weight_limit"): "2400x24",
        },
    ),
    Case(
        "QuantumRiskHalt",
        {
            on_exporter("quantum_risk_mode", 'mode="HALT"'): "0x3 1x20",
            on_exporter("quantum_risk_reason", 'reason="daily_loss_limit"'): "0x3 1x20",
            on_exporter("quantum_risk_reason", 'reason="kill_switch"'): "0x24",
            on_exporter("quantum_circuit_breaker_tripped"): "0x24",
        },
        60,
        {},
        1,
        # a HALT an operator asked for (the kill switch) pages nobody
        {
            on_exporter("quantum_risk_mode", 'mode="HALT"'): "1x24",
            on_exporter("quantum_risk_reason", 'reason="daily_loss_limit"'): "0x24",
            on_exporter("quantum_risk_reason", 'reason="kill_switch"'): "1x24",
            on_exporter("quantum_circuit_breaker_tripped"): "0x24",
        },
    ),
    Case(
        "QuantumRiskHalt",
        {
            on_exporter("quantum_risk_mode", 'mode="HALT"'): "0x3 1x20",
            on_exporter("quantum_risk_reason", 'reason="circuit_breaker"'): "0x24",
            on_exporter("quantum_circuit_breaker_tripped"): "0x3 1x20",
        },
        60,
        {},
        1,
        {
            on_exporter("quantum_risk_mode", 'mode="NORMAL"'): "1x24",
            on_exporter("quantum_risk_mode", 'mode="HALT"'): "0x24",
            on_exporter("quantum_circuit_breaker_tripped"): "0x24",
        },
        name="the circuit breaker",
    ),
    Case(
        "QuantumKillSwitchEngaged",
        {on_exporter("quantum_kill_switch_engaged"): "0x3 1x20"},
        60,
        {},
        1,
        {on_exporter("quantum_kill_switch_engaged"): "0x24"},
    ),
    Case(
        "QuantumReduceOnlyProlonged",
        {on_exporter("quantum_risk_mode", 'mode="REDUCE_ONLY"'): "0x3 1x60"},
        60,
        {},
        1,
        # a fail-safe of a few minutes (a restarted service) is not prolonged
        {on_exporter("quantum_risk_mode", 'mode="REDUCE_ONLY"'): "0x3 1x16 0x44"},
    ),
    Case(
        "QuantumEquityStale",
        {on_exporter("quantum_equity_age_seconds"): "5x3 5+15x30"},
        120,
        {},
        5 + 15 * 9,
        {on_exporter("quantum_equity_age_seconds"): "5x34"},
    ),
    Case(
        "QuantumEquityStale",
        {
            on_exporter("quantum_equity_age_seconds"): "5x24",
            on_exporter("quantum_risk_reason", 'reason="EQUITY_STALE"'): "0x3 1x20",
        },
        60,
        {},
        1,
        {
            on_exporter("quantum_equity_age_seconds"): "5x24",
            on_exporter("quantum_risk_reason", 'reason="EQUITY_STALE"'): "0x24",
        },
        name="the risk guard's own reason",
    ),
    Case(
        "QuantumExposureNearLimit",
        {
            on_exporter("quantum_gross_exposure_ratio"): "1x3 2.8x40",
            on_exporter("quantum_gross_exposure_limit_ratio"): "3x44",
            on_exporter("quantum_margin_utilisation_ratio"): "0.2x44",
            on_exporter("quantum_margin_utilisation_limit_ratio"): "0.8x44",
            on_exporter("quantum_open_positions"): "2x44",
            on_exporter("quantum_open_positions_limit"): "10x44",
        },
        60,
        {"limit": "gross_exposure"},
        2.8 / 3,
        {
            on_exporter("quantum_gross_exposure_ratio"): "1x44",
            on_exporter("quantum_gross_exposure_limit_ratio"): "3x44",
            on_exporter("quantum_margin_utilisation_ratio"): "0.2x44",
            on_exporter("quantum_margin_utilisation_limit_ratio"): "0.8x44",
            on_exporter("quantum_open_positions"): "9x44",
            on_exporter("quantum_open_positions_limit"): "10x44",
        },
    ),
    Case(
        "QuantumReconcileRepairsHigh",
        {on_exporter("quantum_reconcile_repairs_total", 'kind="DropGhost"'): "0x3 6x40"},
        60,
        {},
        6,
        {on_exporter("quantum_reconcile_repairs_total", 'kind="DropGhost"'): "0x3 2x40"},
    ),
    Case(
        "QuantumModelDrift",
        {
            on_exporter("quantum_model_max_psi", 'model="m-0123456789ab"'): "0.1x3 0.4x80",
            on_exporter("quantum_model_psi_limit"): "0.25x84",
            on_exporter("quantum_model_entries_stopped", 'model="m-0123456789ab"'): "0x84",
        },
        60,
        {"model": "m-0123456789ab"},
        0.4,
        {
            on_exporter("quantum_model_max_psi", 'model="m-0123456789ab"'): "0.1x84",
            on_exporter("quantum_model_psi_limit"): "0.25x84",
            on_exporter("quantum_model_entries_stopped", 'model="m-0123456789ab"'): "0x84",
        },
    ),
    Case(
        "QuantumModelDrift",
        {
            on_exporter("quantum_model_max_psi", 'model="m-0123456789ab"'): "0.1x84",
            on_exporter("quantum_model_psi_limit"): "0.25x84",
            on_exporter("quantum_model_entries_stopped", 'model="m-0123456789ab"'): "0x3 1x80",
        },
        60,
        {"model": "m-0123456789ab"},
        1,
        name="entries stopped (decay)",
    ),
    Case("QuantumWatchdog", {}, 0, {}, 1),
)
