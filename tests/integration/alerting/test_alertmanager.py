"""The shipped Alertmanager configuration: ``amtool check-config`` accepts it, every alert
routes where its severity says (critical → page and chat, warning → chat, the watchdog →
the dead-man switch), and a real Alertmanager inhibits the warnings a HALT makes moot."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.alerting.rules import alerts
from quantum_trader.alerting.thresholds import AlertThresholds

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
RECEIVERS = {"critical": "page,chat", "warning": "chat", "none": "deadman"}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not Path(AMTOOL).exists():
        pytest.fail("amtool is missing: scripts/ensure-tools.sh installs it")
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60)


def test_amtool_accepts_the_configuration() -> None:
    checked = amtool("check-config", str(CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("alert", alerts(AlertThresholds()), ids=lambda a: a.name)
def test_each_alert_routes_by_its_severity(alert: Any) -> None:
    expected = RECEIVERS[alert.severity]
    labels = [
        f"alertname={alert.name}",
        f"severity={alert.severity}",
        f"impact={alert.impact}",
        "system=quantum",
    ]
    routed = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={expected}",
        *labels,
    )  # fmt: skip
    assert routed.returncode == 0, routed.stdout + routed.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    if not Path(ALERTMANAGER).exists():
        pytest.fail("prometheus-alertmanager is missing: scripts/ensure-tools.sh installs it")
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    proc = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={CONFIG}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: a private instance
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):
            assert proc.poll() is None, (tmp_path / "alertmanager.log").read_text()
            assert time.monotonic() < deadline, "alertmanager did not start"
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def post_alerts(url: str, *labelsets: dict[str, str]) -> None:
    body = json.dumps([{"labels": labels} for labels in labelsets]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.status == 200


def inhibited(url: str) -> dict[str, list[str]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as reply:
        found = json.loads(reply.read())
    return {a["labels"]["alertname"]: a["status"]["inhibitedBy"] for a in found}


def settle(
    url: str, count: int, inhibiting: Callable[[dict[str, list[str]]], bool]
) -> dict[str, list[str]]:
    """Alertmanager's inhibitor learns of an alert on its own goroutine, after the API has
    taken it: poll (bounded, no sleeps) until all ``count`` alerts are in and the expected
    inhibition shows, then return what the API says — the caller asserts on it."""
    deadline = time.monotonic() + 20
    while True:
        state = inhibited(url)
        if len(state) >= count and inhibiting(state):
            return state
        if time.monotonic() > deadline:
            return state


def test_a_halt_inhibits_the_entry_warnings_and_nothing_about_exits(alertmanager: str) -> None:
    every = alerts(AlertThresholds())
    halt = next(a for a in every if a.name == "QuantumRiskHalt")
    downstream = [a for a in every if a.severity == "warning" and a.impact == "entries"]
    others = [a for a in every if a is not halt and a not in downstream]
    assert {"QuantumReduceOnlyProlonged", "QuantumEquityStale"} <= {a.name for a in downstream}
    labelled = [
        # each its own service: the service-down rule has nothing to say here
        {"alertname": a.name, "severity": a.severity, "impact": a.impact, "system": "quantum",
         "service": f"s{n}"}
        for n, a in enumerate((halt, *downstream, *others))
    ]  # fmt: skip
    post_alerts(alertmanager, *labelled)
    state = settle(alertmanager, len(labelled), lambda s: all(s.get(a.name) for a in downstream))
    assert all(state[a.name] for a in downstream), state
    assert not any(state[a.name] for a in (halt, *others)), state


def test_a_service_down_inhibits_its_own_stale_heartbeat_only(alertmanager: str) -> None:
    def alert(name: str, service: str) -> dict[str, str]:
        return {"alertname": name, "severity": "critical", "impact": "exits",
                "system": "quantum", "service": service}  # fmt: skip

    post_alerts(
        alertmanager,
        alert("QuantumExitPathServiceDown", "exit-brain"),
        alert("QuantumExitPathHeartbeatStale", "exit-brain"),
    )
    first = settle(alertmanager, 2, lambda s: bool(s.get("QuantumExitPathHeartbeatStale")))
    assert first["QuantumExitPathHeartbeatStale"], first
    post_alerts(alertmanager, alert("QuantumExitPathHeartbeatStale", "apply-layer"))
    deadline = time.monotonic() + 20
    while True:
        with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts", timeout=5) as reply:
            found = json.loads(reply.read())
        if len(found) == 3:
            break
        assert time.monotonic() < deadline, found
    by_service = {
        a["labels"]["service"]: a["status"]["inhibitedBy"]
        for a in found
        if a["labels"]["alertname"] == "QuantumExitPathHeartbeatStale"
    }
    assert by_service["exit-brain"] and not by_service["apply-layer"]
