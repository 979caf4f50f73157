"""A real Prometheus scrapes a running multi-process system — every service its own
process serving ``/metrics``, and ``quantum service metrics`` for what lives in Redis and
on the exchange — through the configuration ``quantum ops render`` writes (with short
intervals). The exit brain is SIGKILLed: Prometheus' HTTP API shows the service-down and
REDUCE_ONLY alerts firing within the time their rules allow, and resolving once it is
back. Every query of every Grafana panel returns data.

The system is ``quantum run --processes``' orchestration (stepped market time, the
supervisor's fail-safe in the orchestrator) serving a trained model, so the model's
drift panels have a model to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from quantum_trader.alerting.grafana import RATE, panels
from quantum_trader.alerting.prometheus import Host
from quantum_trader.alerting.render import PROMETHEUS, RenderOptions, render, write
from quantum_trader.alerting.thresholds import AlertThresholds
from quantum_trader.config import METRICS_SERVICES, Settings
from quantum_trader.model.registry import Registry
from quantum_trader.ops.stepped.faults import FaultContext, NoFaults, RunConfig
from quantum_trader.ops.stepped.run import SteppedRun
from tests.integration.alerting.test_alertmanager import free_port
from tests.integration.model.models import SYMBOLS, trained

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"
KILL_AT = 15  # bars in: the model has given drift verdicts, the metrics service is up
SCRAPE_S = 1
# The rules as shipped, with their for: shortened to fit a test.
SHORT = AlertThresholds(service_down_for_s=2, reduce_only_for_s=3, heartbeat_stale_for_s=2)
# kill -> its target fails the next scrape -> for: -> the next evaluation (and slack)
SERVICE_DOWN_WITHIN_S = SCRAPE_S + SHORT.service_down_for_s + SCRAPE_S + 10
# kill -> heartbeat TTL (5 s) -> the supervisor's down_after (5 s) -> scrape -> for: -> eval
REDUCE_ONLY_WITHIN_S = 5 + 5 + SCRAPE_S + SHORT.reduce_only_for_s + SCRAPE_S + 15
RESOLVED_WITHIN_S = 45
# Series that exist only once what they count has happened (a rejection, an open position);
# their panels have other queries that always answer.
WHEN_IT_HAPPENS = {
    "max by (symbol) (quantum_position_unprotected_seconds)",
    f"sum by (code) (rate(quantum_order_rejections_total[{RATE}]))",
}


@dataclass
class ExitBrainOutage(NoFaults):
    """Starts the metrics service beside the run's services; SIGKILLs the exit brain at
    ``KILL_AT`` (nothing restarts it until the test does)."""

    context: FaultContext | None = None
    killed: asyncio.Event = field(default_factory=asyncio.Event)
    killed_at: float = 0.0

    async def before_bar(self, bar: int) -> None:
        assert self.context is not None
        if bar == 0:
            self.context.procs.start("metrics")
        if bar == KILL_AT:
            self.context.procs.kill("exit-brain")
            self.killed_at = time.monotonic()
            self.killed.set()


class Prometheus:
    def __init__(self, config: Path, data: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = (data.parent / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS_BIN,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as reply:
            body = json.loads(reply.read())
        assert body["status"] == "success", body
        return body["data"]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def alerts(self, name: str, **labels: str) -> list[dict[str, Any]]:
        found = self.api("/api/v1/alerts")["alerts"]
        return [
            a
            for a in found
            if a["labels"]["alertname"] == name
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def prometheus_ports() -> Iterator[dict[str, int]]:
    yield {name: free_port() for name in METRICS_SERVICES}


async def until(what: str, within_s: float, check: Any) -> float:
    """Poll ``check`` (bounded) until it holds; the seconds it took."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, f"{what}: not within {within_s:.0f}s"
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def query(prom: Prometheus, expr: str) -> list[Any]:
    """A panel's query as Grafana sends it, its rate window filled in."""
    return list(prom.api("/api/v1/query", query=expr.replace(RATE, "1m"))["result"])


def firing(prom: Prometheus, name: str, **labels: str) -> bool:
    return any(a["state"] == "firing" for a in prom.alerts(name, **labels))


@pytest.mark.long
async def test_prometheus_alerts_on_a_killed_exit_brain_and_every_panel_has_data(
    tmp_path: Path, prometheus_ports: dict[str, int]
) -> None:
    if not Path(PROMETHEUS_BIN).exists():
        pytest.fail("prometheus is missing: scripts/ensure-tools.sh installs it")
    home = tmp_path / "home"
    model_id = trained(Registry(home / "models"), seed=1)
    settings = Settings(
        data_dir=home,
        strategies={"names": ["model"]},
        model={"drift": {"live_min_rows": 30, "live_check_bars": 5}},
        metrics={"base_port": 0, "ports": prometheus_ports, "exchange_refresh_s": 1},
    )
    options = RenderOptions(
        hosts=(Host("127.0.0.1"),),
        alertmanagers=(f"127.0.0.1:{free_port()}",),  # none: routing has its own tests
        scrape_interval_s=SCRAPE_S,
        evaluation_interval_s=SCRAPE_S,
        thresholds=SHORT,
    )
    write(tmp_path / "monitoring", render(settings, options))
    prom = Prometheus(tmp_path / "monitoring" / PROMETHEUS, tmp_path / "tsdb", free_port())
    outage = ExitBrainOutage()

    def faults(context: FaultContext) -> ExitBrainOutage:
        outage.context = context
        return outage

    run = SteppedRun(
        RunConfig(
            symbols=tuple(SYMBOLS), hours=3, data_dir=tmp_path / "run",
            settle_timeout_s=1.5, hung_after_s=600,
        ),
        faults=faults, settings=settings, service_metrics=True, run_id="e2e",
    )  # fmt: skip
    task = asyncio.create_task(run.run())
    try:
        await until("prometheus ready", 30, prom.ready)
        killed = asyncio.create_task(outage.killed.wait())
        await asyncio.wait({killed, task}, timeout=240, return_when=asyncio.FIRST_COMPLETED)
        killed.cancel()
        assert outage.killed.is_set() and not task.done(), task
        took = await until(
            "QuantumExitPathServiceDown firing",
            SERVICE_DOWN_WITHIN_S,
            lambda: firing(prom, "QuantumExitPathServiceDown", service="exit-brain"),
        )
        assert took >= SHORT.service_down_for_s  # never before its for:
        await until(
            "QuantumReduceOnlyProlonged firing",
            REDUCE_ONLY_WITHIN_S - (time.monotonic() - outage.killed_at),
            lambda: firing(prom, "QuantumReduceOnlyProlonged"),
        )
        assert outage.context is not None
        outage.context.procs.start("exit-brain")  # what systemd would do
        await until(
            "both resolved",
            RESOLVED_WITHIN_S,
            lambda: (
                not prom.alerts("QuantumExitPathServiceDown")
                and not prom.alerts("QuantumReduceOnlyProlonged")
            ),
        )
        empty = []
        for panel in panels():
            answered = [query(prom, expr) for expr, _ in panel.targets]
            assert any(answered), f"panel {panel.title!r} has no data"
            empty += [e for (e, _), r in zip(panel.targets, answered, strict=True) if not r]
        assert set(empty) <= WHEN_IT_HAPPENS, empty
        served = prom.api("/api/v1/query", query="quantum_model_info")["result"]
        assert [s["metric"]["model"] for s in served] == [model_id]
    except BaseException:
        _show_logs(tmp_path)
        raise
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        prom.stop()


def _show_logs(tmp_path: Path) -> None:
    for log in [tmp_path / "prometheus.log", *sorted((tmp_path / "run" / "logs").glob("*.log"))]:
        if log.exists():
            print(f"--- {log.name}\n{log.read_text()[-2000:]}")
