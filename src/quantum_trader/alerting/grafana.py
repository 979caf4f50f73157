"""The Grafana dashboard (provisioned JSON: a fixed uid, the Prometheus data source a
template variable) and its provisioning files.

Rows follow how an operator looks at the system: overview (is it up, what mode, what is
firing), exit path (the services and figures exits depend on), bus, exchange, risk, model.
Every panel's queries are plain PromQL over the families ``observability`` exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quantum_trader.alerting.rules import EXIT, METRICS_JOB, SERVICES_JOB

UID = "quantum-trader"
DATASOURCE_UID = "quantum-prometheus"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    kind: str  # timeseries | stat | table
    targets: tuple[tuple[str, str], ...]  # (expr, legend)
    unit: str = "short"
    width: int = 8
    description: str = ""


ROWS: tuple[tuple[str, tuple[Panel, ...]], ...] = (
    ("System overview", (
        Panel("Services up (heartbeat)", "stat", (("quantum_service_up", "{{service}}"),),
              "bool_on_off", 8, "1: the service's heartbeat is present and running"),
        Panel("Risk mode", "stat", (("quantum_risk_mode == 1", "{{mode}}"),), "none", 4),
        Panel("Open positions", "stat", (("max(quantum_open_positions)", "open"),), "short", 4),
        Panel("Equity", "stat", (("max(quantum_equity_usdt)", "USDT"),), "currencyUSD", 4),
        Panel("Firing alerts", "stat",
              (('count by (severity) (ALERTS{alertstate="firing"})', "{{severity}}"),), "short", 4),
        Panel("Scrape targets up", "timeseries",
              ((f'up{{job=~"{SERVICES_JOB}|{METRICS_JOB}"}}', "{{job}} {{service}} {{instance}}"),),
              "short", 12),
        Panel("Messages processed", "timeseries",
              ((f"sum by (service) (rate(quantum_messages_processed_total[{RATE}]))",
                "{{service}}"),), "ops", 12),
    )),
    ("Exit path", (
        Panel("Exit-path heartbeat age", "timeseries",
              ((f'quantum_heartbeat_age_seconds{{service=~"{EXIT}"}}', "{{service}}"),), "s"),
        Panel("Unprotected positions", "timeseries", (
            ("max(quantum_positions_unprotected)", "positions without a covering stop"),
            ("max by (symbol) (quantum_position_unprotected_seconds)", "{{symbol}} seconds"),
        ), "short"),
        Panel("Trigger → exit order (p50, p99)", "timeseries", (
            (f"histogram_quantile(0.5, sum by (le) "
             f"(rate(quantum_trigger_to_order_seconds_bucket[{RATE}])))", "p50"),
            (f"histogram_quantile(0.99, sum by (le) "
             f"(rate(quantum_trigger_to_order_seconds_bucket[{RATE}])))", "p99"),
        ), "s"),
        Panel("Exit lanes: lag", "timeseries", ((
            'quantum_consumer_group_lag_seconds{stream="apply.exit"} or '
            'quantum_consumer_group_lag_seconds{group="exit-brain"}',
            "{{group}} on {{stream}}"),), "s"),
        Panel("Service restarts (15m)", "timeseries",
              (("increase(quantum_service_restarts_total[15m])", "{{service}}"),), "short"),
        Panel("Reconcile repairs (1h)", "timeseries",
              (("sum by (kind) (increase(quantum_reconcile_repairs_total[1h]))", "{{kind}}"),),
              "short"),
    )),
    ("Bus", (
        Panel("Consumer lag (age of oldest undelivered)", "timeseries",
              (("quantum_consumer_group_lag_seconds", "{{group}} on {{stream}}"),), "s"),
        Panel("Consumer lag (entries)", "timeseries",
              (("quantum_consumer_group_lag", "{{group}} on {{stream}}"),), "short"),
        Panel("Pending entries", "timeseries", (
            ("quantum_consumer_group_pending", "{{group}} on {{stream}}"),
            ("quantum_consumer_group_oldest_pending_seconds", "oldest, s: {{group}} on {{stream}}"),
        ), "short"),
        Panel("Dead letters (10m)", "timeseries", ((
            "sum by (stream, reason) (increase(quantum_dead_letters_total[10m]))",
            "{{stream}} {{reason}}"),), "short"),
        Panel("Stream length", "timeseries", (("quantum_stream_length", "{{stream}}"),), "short"),
        Panel("Failed and dead-lettered messages", "timeseries", (
            (f"sum by (service) (rate(quantum_messages_failed_total[{RATE}]))",
             "failed {{service}}"),
            (f"sum by (service) (rate(quantum_messages_dead_lettered_total[{RATE}]))",
             "dead {{service}}"),
        ), "ops"),
    )),
    ("Exchange", (
        Panel("Order outcomes", "timeseries", (
            (f"sum by (outcome) (rate(quantum_order_outcomes_total[{RATE}]))", "{{outcome}}"),
            (f"sum by (code) (rate(quantum_order_rejections_total[{RATE}]))", "rejected {{code}}"),
        ), "ops"),
        Panel("Orders with an unknown outcome", "timeseries",
              (("sum by (service) (quantum_orders_outcome_unknown)", "{{service}}"),), "short"),
        Panel("Plan → order latency (p99)", "timeseries", ((
            f"histogram_quantile(0.99, sum by (le, kind) "
            f"(rate(quantum_plan_to_order_seconds_bucket[{RATE}])))", "{{kind}}"),), "s"),
        Panel("Request weight", "timeseries", (
            ("max(quantum_exchange_request_weight_used)", "used this minute"),
            ("max(quantum_exchange_request_weight_limit)", "limit"),
        ), "short"),
        Panel("Exchange reachable", "stat", (("min(quantum_exchange_up)", "exchange"),),
              "bool_on_off"),
        Panel("Apply-layer outcomes", "timeseries", ((
            f"sum by (reason) (rate(quantum_plan_outcomes_total[{RATE}]))", "{{reason}}"),),
            "ops"),
    )),
    ("Risk", (
        Panel("Risk mode", "timeseries", (("quantum_risk_mode", "{{mode}}"),), "short"),
        Panel("Risk reasons", "table", (("quantum_risk_reason", "{{reason}}"),), "bool_on_off"),
        Panel("Kill switch, breaker, fail-safe, state marker", "stat", (
            ("max(quantum_kill_switch_engaged)", "kill switch"),
            ("max(quantum_circuit_breaker_tripped)", "breaker"),
            ("max(quantum_fail_safe_engaged)", "fail-safe"),
            ("max(quantum_state_marker_missing)", "state lost"),
        ), "bool_on_off"),
        Panel("Exposure against limits", "timeseries", (
            ("max(quantum_gross_exposure_ratio)", "gross ÷ equity"),
            ("max(quantum_gross_exposure_limit_ratio)", "gross limit"),
            ("max(quantum_margin_utilisation_ratio)", "margin use"),
            ("max(quantum_margin_utilisation_limit_ratio)", "margin limit"),
        ), "short"),
        Panel("Open positions against the limit", "timeseries", (
            ("max(quantum_open_positions)", "open"),
            ("max(quantum_open_positions_limit)", "limit"),
        ), "short"),
        Panel("Equity and its age", "timeseries", (
            ("max(quantum_equity_usdt)", "equity USDT"),
            ("max(quantum_equity_age_seconds)", "age s"),
        ), "short"),
    )),
    ("Model", (
        Panel("Model in service", "stat", (("quantum_model_info", "{{model}}"),), "none"),
        Panel("Drift: largest feature PSI", "timeseries", (
            ("quantum_model_max_psi", "{{model}}"),
            ("max(quantum_model_psi_limit)", "limit"),
        ), "short"),
        Panel("Entries stopped, drift, decay", "stat", (
            ("max by (model) (quantum_model_entries_stopped)", "entries stopped"),
            ("max by (model) (quantum_model_drift)", "drift"),
            ("max by (model) (quantum_model_decay)", "decay"),
        ), "bool_on_off"),
    )),
)  # fmt: skip


def panels() -> list[Panel]:
    return [p for _, row in ROWS for p in row]


def dashboard(refresh: str = "30s") -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    y, ids = 0, iter(range(1, 1000))
    for title, row in ROWS:
        items.append(
            {"id": next(ids), "type": "row", "title": title, "collapsed": False,
             "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
        )  # fmt: skip
        y, x = y + 1, 0
        for panel in row:
            if x + panel.width > 24:
                x, y = 0, y + 8
            items.append(_panel(panel, next(ids), x, y))
            x += panel.width
        y += 8
    return {
        "uid": UID,
        "title": "Quantum Trader",
        "tags": ["quantum-trader", "trading"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "refresh": refresh,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Quantum Prometheus", "value": DATASOURCE_UID},
                    "hide": 0,
                    "refresh": 1,
                }
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": items,
    }


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DS,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"]}} if panel.kind == "stat" else {},
        "targets": [
            _target(n, expr, legend, panel.kind) for n, (expr, legend) in enumerate(panel.targets)
        ],
    }


def _target(n: int, expr: str, legend: str, kind: str) -> dict[str, Any]:
    return {
        "refId": chr(ord("A") + n),
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend,
        "instant": kind == "table",
        "range": kind != "table",
    }


def datasource_provisioning(prometheus_url: str, interval: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Quantum Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "jsonData": {"timeInterval": interval},
            }
        ],
    }


def dashboard_provisioning(path: str) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "quantum-trader",
                "folder": "Quantum Trader",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }
