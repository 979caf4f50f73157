"""``quantum ops render``: every file Prometheus, Alertmanager and Grafana need, from the
settings (ports, limits) and the deployment's options (hosts, receivers).

The tree it writes (``deploy/`` in the repository is this tree with the defaults; a test
keeps them equal)::

    prometheus/prometheus.yml          scrape config, rule files, Alertmanagers
    prometheus/rules/quantum.yml       the alert rules
    alertmanager/alertmanager.yml      routing, grouping, inhibition, receivers
    grafana/provisioning/datasources/quantum.yml
    grafana/provisioning/dashboards/quantum.yml
    grafana/dashboards/quantum-trader.json
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from quantum_trader.alerting.alertmanager import Receivers, alertmanager_config
from quantum_trader.alerting.grafana import (
    dashboard,
    dashboard_provisioning,
    datasource_provisioning,
)
from quantum_trader.alerting.prometheus import Host, scrape_config
from quantum_trader.alerting.rules import rule_groups
from quantum_trader.alerting.thresholds import AlertThresholds, duration
from quantum_trader.alerting.yaml_text import dump
from quantum_trader.config import Settings

HEADER = "Rendered by `quantum ops render`: change the settings or its options, not this file."
RULES = "prometheus/rules/quantum.yml"
PROMETHEUS = "prometheus/prometheus.yml"
ALERTMANAGER = "alertmanager/alertmanager.yml"
DASHBOARD = "grafana/dashboards/quantum-trader.json"


@dataclass(frozen=True)
class RenderOptions:
    hosts: tuple[Host, ...] = (Host("127.0.0.1"),)
    alertmanagers: tuple[str, ...] = ("127.0.0.1:9093",)
    prometheus_url: str = "http://127.0.0.1:9090"  # what Grafana's data source points at
    scrape_interval_s: float = 15
    evaluation_interval_s: float = 15
    system: str = "quantum"  # the ``system`` label on every series and alert
    runbook_url: str = "docs/runbooks.md"  # each alert links to <this>#<its name>
    dashboards_path: str = "/var/lib/grafana/dashboards/quantum"
    receivers: Receivers = field(default_factory=Receivers)
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)


def render(settings: Settings, options: RenderOptions) -> dict[str, str]:
    """Relative path -> file content."""
    scrape = scrape_config(
        options.hosts,
        settings.metrics,
        options.alertmanagers,
        options.scrape_interval_s,
        options.evaluation_interval_s,
        options.system,
    )
    return {
        PROMETHEUS: dump(scrape, HEADER),
        RULES: dump(rule_groups(options.thresholds, options.runbook_url), HEADER),
        ALERTMANAGER: dump(alertmanager_config(options.receivers), HEADER),
        "grafana/provisioning/datasources/quantum.yml": dump(
            datasource_provisioning(options.prometheus_url, duration(options.scrape_interval_s)),
            HEADER,
        ),
        "grafana/provisioning/dashboards/quantum.yml": dump(
            dashboard_provisioning(options.dashboards_path), HEADER
        ),
        DASHBOARD: json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n",
    }


def write(out: Path, files: Mapping[str, str]) -> list[Path]:
    written = []
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
