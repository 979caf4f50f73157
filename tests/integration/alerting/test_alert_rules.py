"""The shipped alert rules under ``promtool``: they load (``check rules``), and for every
alert ``test rules`` proves that it fires when its condition has held for its ``for:``,
that it is only pending before then, and that the healthy system does not raise it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from quantum_trader.alerting.rules import Alert, alerts
from quantum_trader.alerting.thresholds import AlertThresholds
from quantum_trader.alerting.yaml_text import dump
from tests.integration.alerting.go_templates import expand
from tests.integration.alerting.rule_cases import CASES, STEP_S, Case

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "quantum.yml"
RUNBOOK = "docs/runbooks.md"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def shipped_alerts() -> dict[str, Alert]:
    return {a.name: a for a in alerts(AlertThresholds())}


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is missing: scripts/ensure-tools.sh installs it (Debian prometheus)")
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


def seconds(value: int) -> str:
    return f"{value}s"


def alerts_series(alert: Alert, labels: dict[str, str], state: str) -> str:
    every = {"alertname": alert.name, "alertstate": state, **labels, **rule_labels(alert)}
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(every.items()))
    return f"ALERTS{{{inner}}}"


def rule_labels(alert: Alert) -> dict[str, str]:
    return {"severity": alert.severity, "impact": alert.impact}


def promtool_tests(case: Case, alert: Alert) -> list[dict[str, Any]]:
    fires_at = case.onset_s + int(alert.for_s) + STEP_S
    pending_at = case.onset_s + int(alert.for_s) - STEP_S
    labels = {**case.labels, **rule_labels(alert)}
    annotations = {
        "summary": expand(alert.summary, case.labels, case.value),
        "description": expand(alert.description, case.labels, case.value),
        "runbook_url": f"{RUNBOOK}#{alert.anchor}",
    }
    series = [{"series": s, "values": v} for s, v in case.series.items()]
    firing: dict[str, Any] = {
        "interval": seconds(STEP_S),
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": seconds(fires_at),
                "alertname": alert.name,
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
            }
        ],
    }
    if alert.for_s:
        # Before its for: the condition holds (the alert is pending), and it does not fire.
        firing["alert_rule_test"].insert(
            0, {"eval_time": seconds(pending_at), "alertname": alert.name, "exp_alerts": []}
        )
        firing["promql_expr_test"] = [
            {
                "expr": f'ALERTS{{alertname="{alert.name}"}}',
                "eval_time": seconds(pending_at),
                "exp_samples": [
                    {"labels": alerts_series(alert, case.labels, "pending"), "value": 1}
                ],
            }
        ]
    tests = [firing]
    if case.healthy:
        tests.append(
            {
                "interval": seconds(STEP_S),
                "input_series": [{"series": s, "values": v} for s, v in case.healthy.items()],
                "alert_rule_test": [
                    {"eval_time": seconds(t), "alertname": alert.name, "exp_alerts": []}
                    for t in sorted({max(0, pending_at), fires_at})
                ],
                "promql_expr_test": [
                    {
                        "expr": f'ALERTS{{alertname="{alert.name}"}}',
                        "eval_time": seconds(fires_at),
                        "exp_samples": [],
                    }
                ],
            }
        )
    return tests


def test_the_shipped_rules_load() -> None:
    checked = tool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert sorted(names) == sorted(shipped_alerts())


def test_every_alert_has_for_severity_summary_description_and_a_runbook_section() -> None:
    runbook = (ROOT / RUNBOOK).read_text()
    sections = {line[3:].strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert "for" in rule, rule["alert"]
            assert rule["labels"]["severity"] in ("critical", "warning", "none"), rule["alert"]
            assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
            url, _, anchor = rule["annotations"]["runbook_url"].partition("#")
            assert url == RUNBOOK and anchor in sections, rule["alert"]


def test_every_alert_has_a_case_that_fires_and_a_healthy_system_that_does_not() -> None:
    covered = {c.alert for c in CASES}
    assert covered == set(shipped_alerts())
    quiet = {c.alert for c in CASES if c.healthy}
    assert quiet == set(shipped_alerts()) - {"QuantumWatchdog"}  # it always fires


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.alert} {c.name}".strip())
def test_promtool_unit_tests(case: Case, tmp_path: Path) -> None:
    alert = shipped_alerts()[case.alert]
    spec = {
        "rule_files": [str(RULES)],
        "evaluation_interval": seconds(STEP_S),
        "tests": promtool_tests(case, alert),
    }
    path = tmp_path / "test.yml"
    path.write_text(dump(spec))
    result = tool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
