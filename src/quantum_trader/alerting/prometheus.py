"""Prometheus' own configuration: what it scrapes (every service process and the
``metrics`` service, on the hosts they run on), where its rules are, and which
Alertmanagers it tells."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quantum_trader.alerting.rules import METRICS_JOB, SERVICES_JOB
from quantum_trader.alerting.thresholds import duration
from quantum_trader.config import METRICS_SERVICES, MetricsSettings

EXPORTER = METRICS_SERVICES[0]
SERVICE_NAMES = METRICS_SERVICES[1:]


@dataclass(frozen=True, slots=True)
class Host:
    """A machine and the services that run on it."""

    address: str
    services: tuple[str, ...] = METRICS_SERVICES


def parse_hosts(specs: Sequence[str]) -> list[Host]:
    """``["10.0.0.5", "10.0.0.6=apply-layer+exit-brain"]`` (items may also be comma
    separated): a bare host runs every service and the metrics service."""
    hosts: list[Host] = []
    for spec in (item.strip() for text in specs for item in text.split(",")):
        if not spec:
            continue
        address, _, wanted = spec.partition("=")
        names = tuple(n.strip() for n in wanted.split("+") if n.strip()) or METRICS_SERVICES
        unknown = [n for n in names if n not in METRICS_SERVICES]
        if not address.strip() or unknown:
            raise ValueError(
                f"--hosts {spec!r}: HOST or HOST=SERVICE+SERVICE, services among "
                f"{', '.join(METRICS_SERVICES)}"
            )
        hosts.append(Host(address.strip(), names))
    return hosts or [Host("127.0.0.1")]


def _target(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def scrape_config(
    hosts: Sequence[Host],
    metrics: MetricsSettings,
    alertmanagers: Sequence[str],
    scrape_interval_s: float,
    evaluation_interval_s: float,
    system: str,
) -> dict[str, Any]:
    exporters = [
        _target(h.address, metrics.port(EXPORTER))
        for h in hosts
        if EXPORTER in h.services and metrics.port(EXPORTER)
    ]
    services = [
        {"targets": [_target(h.address, metrics.port(name))], "labels": {"service": name}}
        for h in hosts
        for name in SERVICE_NAMES
        if name in h.services and metrics.port(name)
    ]
    return {
        "global": {
            "scrape_interval": duration(scrape_interval_s),
            "scrape_timeout": duration(min(10, scrape_interval_s)),
            "evaluation_interval": duration(evaluation_interval_s),
            "external_labels": {"system": system},
        },
        "rule_files": ["rules/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]},
        "scrape_configs": [
            {
                # the exporter's series carry their own service / stream / group labels
                "job_name": METRICS_JOB,
                "honor_labels": True,
                "static_configs": [{"targets": exporters}],
            },
            {
                "job_name": SERVICES_JOB,
                "honor_labels": True,
                "static_configs": services,
            },
        ],
    }
