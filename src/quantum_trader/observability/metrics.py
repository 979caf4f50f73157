"""Observability: Prometheus ``/metrics`` and a ``/health`` JSON, read at scrape time.

Nothing on a hot path is instrumented beyond plain counters the services keep anyway;
the collector turns the live objects and Redis state into metric families when scraped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from quantum_trader.bootstrap.parts import SystemParts
from quantum_trader.runtime.supervisor import Supervisor

BUCKETS_MS = (0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000, float("inf"))


@dataclass
class Snapshot:
    """What the collector reports; filled asynchronously before each scrape."""

    health_ttl_ms: dict[str, int]
    risk: dict[str, Any]
    open_positions: int
    gross_exposure: float
    model: dict[str, Any] = field(default_factory=dict)  # ``model:state``: the served model


async def model_state(redis: Any, keys: Any) -> dict[str, Any]:
    """The signal engine's ``model:state`` (empty without the model strategy)."""
    try:
        raw = await redis.get(keys.model_state)
        state = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def model_metrics(state: dict[str, Any]) -> Iterator[Metric]:
    """The model in service: its drift, hit rate and whether its entries are stopped."""
    if not state:
        return
    model = [str(state.get("model_id", ""))]
    for name, key, text in (
        ("quantum_model_max_psi", "max_psi", "Largest feature PSI against training"),
        ("quantum_model_hit_rate", "hit_rate", "Live hit rate of the model's sign"),
        ("quantum_model_expected_hit_rate", "expected_hit_rate", "Out-of-sample hit rate"),
    ):
        value = state.get(key)
        if isinstance(value, int | float):
            family = GaugeMetricFamily(name, text, labels=["model"])
            family.add_metric(model, float(value))
            yield family
    stopped = GaugeMetricFamily(
        "quantum_model_entries_stopped", "1: the model drifted or decayed", labels=["model"]
    )
    stopped.add_metric(model, 1.0 if state.get("entries_stopped") else 0.0)
    yield stopped


class Collector(Protocol):
    """What ``serve_metrics`` scrapes: in-process services, or processes through Redis."""

    async def refresh(self) -> Snapshot: ...

    def collect(self) -> Iterator[Metric]: ...

    def restarts_of(self, service: str) -> int: ...

    def fail_safe(self) -> dict[str, object]: ...


class SystemCollector:
    def __init__(self, parts: SystemParts, supervisor: Supervisor) -> None:
        self.parts = parts
        self.supervisor = supervisor
        self.snapshot = Snapshot({}, {}, 0, 0.0)

    async def refresh(self) -> Snapshot:
        keys, redis = self.parts.bus.keys, self.parts.redis
        ttl = {name: int(await redis.pttl(keys.health(name))) for name in self.supervisor.records}
        raw = await redis.get(keys.risk_state)
        risk = json.loads(raw) if raw else {"mode": "UNKNOWN", "reasons": []}
        if await redis.exists(keys.risk_supervisor) or await redis.exists(keys.risk_circuit):
            risk = {
                **risk,
                "mode": "HALT" if await redis.exists(keys.risk_circuit) else "REDUCE_ONLY",
            }
        if await redis.exists(keys.risk_kill_switch):
            risk = {**risk, "mode": "HALT", "kill_switch": True}
        risk = with_fail_safe(risk, self.supervisor)
        positions = await self.parts.exchange.positions()
        exposure = float(sum(p.qty * p.mark_price for p in positions))
        open_positions = sum(1 for p in positions if p.qty > 0)
        model = await model_state(redis, keys)
        self.snapshot = Snapshot(ttl, risk, open_positions, exposure, model)
        return self.snapshot

    def fail_safe(self) -> dict[str, object]:
        return self.supervisor.fail_safe()

    def restarts_of(self, service: str) -> int:
        record = self.supervisor.records.get(service)
        return record.restarts if record else 0

    def collect(self) -> Iterator[Metric]:
        per_service = {
            name: CounterMetricFamily(
                f"quantum_messages_{name}_total", f"Messages {name} per service", labels=["service"]
            )
            for name in ("processed", "failed", "dead_lettered")
        }
        for name, record in self.supervisor.records.items():
            runtime = record.runtime
            if runtime is None:
                continue
            per_service["processed"].add_metric([name], runtime.processed)
            per_service["failed"].add_metric([name], runtime.failed)
            per_service["dead_lettered"].add_metric([name], runtime.dead_lettered)
        yield from per_service.values()
        restarts = {name: record.restarts for name, record in self.supervisor.records.items()}
        yield from service_families(restarts, self.snapshot.health_ttl_ms)
        yield from self._apply_metrics()
        yield risk_mode_family(self.snapshot.risk.get("mode"))
        yield GaugeMetricFamily(
            "quantum_open_positions",
            "Open positions on the exchange",
            value=self.snapshot.open_positions,
        )
        yield GaugeMetricFamily(
            "quantum_gross_exposure_usdt", "Σ|qty × mark|", value=self.snapshot.gross_exposure
        )
        yield from model_metrics(self.snapshot.model)
        repairs = CounterMetricFamily("quantum_reconcile_repairs_total", "Repairs", labels=["kind"])
        for monitor in self.parts.monitors:
            for kind, count in monitor.repairs.items():
                repairs.add_metric([kind], count)
        yield repairs

    def _apply_metrics(self) -> Iterator[Metric]:
        gate = CounterMetricFamily(
            "quantum_plan_outcomes_total", "Apply-layer outcomes by reason", labels=["reason"]
        )
        latency = HistogramMetricFamily(
            "quantum_plan_to_order_ms", "Plan taken → exchange answered (ms)", labels=["kind"]
        )
        totals: dict[str, int] = {}
        samples: dict[str, list[float]] = {"open": [], "exit": []}
        for layer in self.parts.apply_layers:
            for reason, count in layer.decisions.items():
                totals[reason] = totals.get(reason, 0) + count
            for kind, values in layer.latency_ms.items():
                samples[kind].extend(values)
        for reason, count in sorted(totals.items()):
            gate.add_metric([reason], count)
        for kind, observed in samples.items():
            buckets = [(str(b), float(sum(1 for v in observed if v <= b))) for b in BUCKETS_MS]
            latency.add_metric([kind], buckets, sum_value=sum(observed))
        yield gate
        yield latency


def with_fail_safe(risk: dict[str, Any], supervisor: Supervisor | None) -> dict[str, Any]:
    """The risk mode Redis holds, made at least as strict as the supervisor's own
    decision — which Redis may have refused to store (out of memory)."""
    if supervisor is None or not supervisor.fail_safe_reasons or risk.get("mode") == "HALT":
        return risk
    return {**risk, "mode": "REDUCE_ONLY"}


async def serve_metrics(collector: Collector, port: int, host: str = "127.0.0.1") -> web.AppRunner:
    registry = CollectorRegistry()
    registry.register(collector)

    async def metrics(_: web.Request) -> web.Response:
        await collector.refresh()
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    async def health(_: web.Request) -> web.Response:
        try:
            snap = await collector.refresh()
        except Exception as exc:  # Redis down or refusing: say so, with our own view
            body = {
                "ok": False,
                "store_error": f"{type(exc).__name__}: {exc}",
                "fail_safe": collector.fail_safe(),
            }
            return web.json_response(body, status=503)
        services = {
            n: {
                "alive": ttl > 0,
                "ttl_ms": ttl,
                "restarts": collector.restarts_of(n),
            }
            for n, ttl in snap.health_ttl_ms.items()
        }
        ok = all(s["alive"] for s in services.values())
        body = {
            "ok": ok,
            "risk": snap.risk,
            "services": services,
            "open_positions": snap.open_positions,
            "fail_safe": collector.fail_safe(),
        }
        return web.json_response(body, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def service_families(
    restarts: Mapping[str, int], health_ttl_ms: Mapping[str, int]
) -> Iterator[Metric]:
    """Restarts and heartbeat TTL per service (-2: no heartbeat)."""
    counted = CounterMetricFamily("quantum_service_restarts_total", "Restarts", labels=["service"])
    age = GaugeMetricFamily(
        "quantum_heartbeat_ttl_ms", "Heartbeat TTL left (-2 = missing)", labels=["service"]
    )
    for name, count in restarts.items():
        counted.add_metric([name], count)
        age.add_metric([name], health_ttl_ms.get(name, -2))
    yield counted
    yield age


def risk_mode_family(current: object) -> Metric:
    """One series per risk mode: 1 for the current one."""
    mode = GaugeMetricFamily("quantum_risk_mode", "1 for the current risk mode", labels=["mode"])
    for m in ("NORMAL", "REDUCE_ONLY", "HALT"):
        mode.add_metric([m], 1.0 if current == m else 0.0)
    return mode
