"""``quantum ops render``: what is shipped under ``deploy/`` is exactly what it writes with
the defaults (so neither can drift from the other), and what it writes for a deployment
of several hosts is a configuration Prometheus accepts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from quantum_trader.alerting.grafana import UID, panels
from quantum_trader.alerting.prometheus import parse_hosts
from quantum_trader.alerting.render import RenderOptions, render
from quantum_trader.alerting.thresholds import AlertThresholds
from quantum_trader.cli import _mount_optional, app
from quantum_trader.config import METRICS_SERVICES, Settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("QUANTUM_", "TRADING_")):
            monkeypatch.delenv(name)


def quantum(*args: str) -> Result:
    """``quantum …`` as the command line runs it (in this process)."""
    _mount_optional()
    return CliRunner().invoke(app, list(args))


def tree(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): p.read_text()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_deploy_is_what_quantum_ops_render_writes(tmp_path: Path) -> None:
    rendered = quantum("ops", "render", "--out", str(tmp_path / "out"))
    assert rendered.exit_code == 0, rendered.output
    assert tree(tmp_path / "out") == tree(DEPLOY)
    checked = quantum("ops", "render", "--out", str(DEPLOY), "--check")
    assert checked.exit_code == 0, checked.output


def test_check_says_which_files_differ(tmp_path: Path) -> None:
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    (tmp_path / "deploy" / "prometheus" / "rules" / "quantum.yml").write_text("groups: []\n")
    checked = quantum("ops", "render", "--out", str(tmp_path / "deploy"), "--check")
    assert checked.exit_code == 1
    assert "prometheus/rules/quantum.yml" in checked.output


def test_a_multi_host_deployment_scrapes_each_service_where_it_runs(tmp_path: Path) -> None:
    args = ["--hosts", "10.0.0.5,10.0.0.6=apply-layer+exit-brain", "--set", "lag_s=30"]
    rendered = quantum("ops", "render", "--out", str(tmp_path), *args)
    assert rendered.exit_code == 0, rendered.output
    config = tmp_path / "prometheus" / "prometheus.yml"
    checked = subprocess.run(
        [PROMTOOL, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = {j["job_name"]: j for j in yaml.safe_load(config.read_text())["scrape_configs"]}
    assert jobs["quantum-metrics"]["static_configs"] == [{"targets": ["10.0.0.5:9310"]}]
    services = [
        (c["labels"]["service"], c["targets"][0])
        for c in jobs["quantum-services"]["static_configs"]
    ]
    assert ("exit-brain", "10.0.0.6:9315") in services
    assert ("apply-layer", "10.0.0.6:9314") in services
    assert not any(t.startswith("10.0.0.6") and s == "ledger" for s, t in services)
    assert len(services) == len(METRICS_SERVICES) - 1 + 2
    rules = (tmp_path / "prometheus" / "rules" / "quantum.yml").read_text()
    assert 'quantum_consumer_group_lag_seconds{stream!="apply.exit"' in rules and "> 30" in rules


def test_ports_come_from_the_settings() -> None:
    settings = Settings(metrics={"base_port": 9500, "ports": {"exit-brain": 9600}})
    files = render(settings, RenderOptions())
    scrape = yaml.safe_load(files["prometheus/prometheus.yml"])["scrape_configs"]
    targets = {t for job in scrape for c in job["static_configs"] for t in c["targets"]}
    assert {"127.0.0.1:9500", "127.0.0.1:9504", "127.0.0.1:9600"} <= targets


def test_bad_hosts_and_thresholds_are_one_line_errors(tmp_path: Path) -> None:
    bad_host = quantum("ops", "render", "--out", str(tmp_path), "--hosts", "a=nope")
    assert bad_host.exit_code == 2 and "HOST=SERVICE+SERVICE" in bad_host.output
    bad_set = quantum("ops", "render", "--out", str(tmp_path), "--set", "lag_s=soon")
    assert bad_set.exit_code == 2 and "lag_s" in bad_set.output
    with pytest.raises(ValueError, match="rejection_ratio"):
        AlertThresholds().with_overrides(["rejection_ratio=2"])
    assert parse_hosts([]) == parse_hosts(["127.0.0.1"])


def test_the_dashboard_is_provisioned_with_a_fixed_uid_and_a_templated_data_source() -> None:
    board = json.loads((DEPLOY / "grafana" / "dashboards" / "quantum-trader.json").read_text())
    assert board["uid"] == UID
    assert [v["type"] for v in board["templating"]["list"]] == ["datasource"]
    shown = [p for p in board["panels"] if p["type"] != "row"]
    assert len(shown) == len(panels())
    for panel in shown:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["System overview", "Exit path", "Bus", "Exchange", "Risk", "Model"]
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "quantum.yml").read_text()
    )
    assert provider["providers"][0]["type"] == "file"
