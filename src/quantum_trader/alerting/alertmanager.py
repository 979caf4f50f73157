"""Alertmanager's routing: critical pages (and shows in chat), warning goes to chat, the
watchdog feeds the dead-man switch; alerts are grouped per alert name, and a HALT
inhibits the warnings about entries downstream of it (entries are stopped anyway), as a
service that is down inhibits its own stale heartbeat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAGE, CHAT, DEADMAN = "page", "chat", "deadman"


@dataclass(frozen=True, slots=True)
class Receivers:
    """Where notifications go; the secrets stay in files outside the repository."""

    page_key_file: str = "/etc/alertmanager/secrets/pagerduty-routing-key"
    chat_url_file: str = "/etc/alertmanager/secrets/slack-webhook-url"
    chat_channel: str = "#quantum-trader"
    deadman_url: str = "https://deadman.invalid/ping"  # the dead-man switch's check URL


def alertmanager_config(receivers: Receivers) -> dict[str, Any]:
    chat_text = (
        "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
        "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
    )
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": CHAT,
            "group_by": ["alertname", "system"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    # Always firing: the dead-man switch alarms when it stops arriving.
                    "matchers": ['alertname="QuantumWatchdog"'],
                    "receiver": DEADMAN,
                    "group_wait": "0s",
                    "group_interval": "1m",
                    "repeat_interval": "1m",
                },
                {
                    "matchers": ['severity="critical"'],
                    "receiver": PAGE,
                    "group_wait": "10s",
                    "repeat_interval": "1h",
                    "continue": True,  # and to chat, where the team sees it too
                },
                {"matchers": ['severity=~"critical|warning"'], "receiver": CHAT},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="QuantumRiskHalt"'],
                "target_matchers": ['severity="warning"', 'impact="entries"'],
                "equal": ["system"],
            },
            {
                "source_matchers": ['alertname=~"QuantumExitPathServiceDown|QuantumServiceDown"'],
                "target_matchers": [
                    'alertname=~"QuantumExitPathHeartbeatStale|QuantumHeartbeatStale"'
                ],
                "equal": ["system", "service"],
            },
        ],
        "receivers": [
            {
                "name": PAGE,
                "pagerduty_configs": [
                    {
                        "routing_key_file": receivers.page_key_file,
                        "send_resolved": True,
                        "description": "{{ .CommonAnnotations.summary }}",
                        "details": {"runbook": "{{ .CommonAnnotations.runbook_url }}"},
                    }
                ],
            },
            {
                "name": CHAT,
                "slack_configs": [
                    {
                        "api_url_file": receivers.chat_url_file,
                        "channel": receivers.chat_channel,
                        "send_resolved": True,
                        "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
                        "text": chat_text,
                    }
                ],
            },
            {
                "name": DEADMAN,
                "webhook_configs": [{"url": receivers.deadman_url, "send_resolved": False}],
            },
        ],
    }
