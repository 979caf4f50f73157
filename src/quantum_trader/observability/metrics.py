"""Observability: Prometheus ``/metrics`` and a ``/health`` JSON, read at scrape time.

Nothing on a hot path is instrumented beyond plain counters the services keep anyway;
the collector turns the live objects and Redis state into metric families when scraped.
A scrape that cannot read Redis still answers: ``quantum_redis_up 0`` and the process's
own figures, so the alert says what is wrong instead of a silent target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Protocol

from aiohttp import web
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector as PromCollector

from quantum_trader.bootstrap.parts import SystemParts
from quantum_trader.observability.exchange_view import ExchangeView
from quantum_trader.observability.families import (
    Histogram,
    SampleFeed,
    build_info,
    gauge,
    message_families,
    model_metrics,
    model_state,
    order_families,
    plan_families,
    risk_mode_family,
    service_families,
)
from quantum_trader.observability.state import Snapshot, SystemState, with_fail_safe
from quantum_trader.runtime.supervisor import Supervisor
from quantum_trader.services.order_router import OUTCOMES

__all__ = [
    "Collector",
    "Snapshot",
    "SystemCollector",
    "model_metrics",
    "model_state",
    "risk_mode_family",
    "serve_metrics",
    "service_families",
    "with_fail_safe",
]
PROCESS_FAMILIES = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)


class Collector(Protocol):
    """What ``serve_metrics`` scrapes: in-process services, or processes through Redis."""

    async def refresh(self) -> Snapshot: ...

    def collect(self) -> Iterator[Metric]: ...

    def restarts_of(self, service: str) -> int: ...

    def fail_safe(self) -> dict[str, object]: ...


class SystemCollector:
    """Every service in this process (``quantum run``): the supervisor's records, the
    apply layers' outcomes and latencies, and the system's state in Redis and on the
    exchange."""

    def __init__(self, parts: SystemParts, supervisor: Supervisor) -> None:
        self.parts = parts
        self.supervisor = supervisor
        s = parts.settings
        view = ExchangeView(parts.exchange, s.risk, s.metrics.exchange_refresh_s)
        self.state = SystemState(
            parts.redis,
            parts.bus.keys,
            list(supervisor.records),
            s.heartbeat_ttl_ms,
            s.risk,
            s.model.drift.psi_limit,
            exchange=view,
            supervisor=supervisor,
        )
        self.latency: dict[str, dict[int, SampleFeed]] = {"open": {}, "exit": {}}
        self.snapshot = Snapshot({}, {}, 0, 0.0)

    async def refresh(self) -> Snapshot:
        self.snapshot = await self.state.refresh()
        for n, layer in enumerate(self.parts.apply_layers):
            for kind, window in layer.latency_ms.items():
                feed = self.latency.setdefault(kind, {}).setdefault(n, SampleFeed())
                feed.fold(window, layer.submitted[kind], 0.001)
        return self.snapshot

    def fail_safe(self) -> dict[str, object]:
        return self.supervisor.fail_safe()

    def restarts_of(self, service: str) -> int:
        record = self.supervisor.records.get(service)
        return record.restarts if record else 0

    def collect(self) -> Iterator[Metric]:
        counts = {
            name: {
                "processed": r.runtime.processed,
                "failed": r.runtime.failed,
                "dead_lettered": r.runtime.dead_lettered,
            }
            for name, r in self.supervisor.records.items()
            if r.runtime is not None
        }
        yield from message_families(counts)
        restarts = {name: record.restarts for name, record in self.supervisor.records.items()}
        beats = self.state.heartbeats
        yield from service_families(restarts, beats.ages(), beats.up())
        yield from apply_families(self.parts, self.latency)
        yield from order_families(OUTCOMES)
        yield from self.state.families()
        yield build_info("quantum-run")


def apply_families(
    parts: SystemParts, latency: dict[str, dict[int, SampleFeed]]
) -> Iterator[Metric]:
    """The apply layers of this process: outcomes by reason, plan → order latency."""
    totals: dict[str, int] = {}
    for layer in parts.apply_layers:
        for reason, count in layer.decisions.items():
            totals[reason] = totals.get(reason, 0) + count
    merged: dict[str, Histogram] = {}
    for kind, feeds in latency.items():
        histogram = merged.setdefault(kind, Histogram())
        for feed in feeds.values():
            histogram.counts = [
                a + b for a, b in zip(histogram.counts, feed.histogram.counts, strict=True)
            ]
            histogram.total += feed.histogram.total
            histogram.observed += feed.histogram.observed
    for kind in ("open", "exit"):
        merged.setdefault(kind, Histogram())
    yield from plan_families(totals, merged)
    short = CounterMetricFamily(
        "quantum_redis_writes_not_durable",
        "Writes WAIT found on fewer replicas than redis.wait_replicas, by kind",
        labels=["write"],
    )
    writes: dict[str, int] = {}
    for layer in parts.apply_layers:
        for write, count in (layer.durability.short if layer.durability else {}).items():
            writes[write] = writes.get(write, 0) + count
    for write, count in sorted(writes.items()):
        short.add_metric([write], count)
    yield short


class _RedisUp:
    def __init__(self) -> None:
        self.up = True

    def collect(self) -> Iterator[Metric]:
        yield gauge("quantum_redis_up", "1: this scrape could read Redis", 1.0 if self.up else 0.0)


def registries(
    collector: PromCollector,
    extra: Iterable[PromCollector] = PROCESS_FAMILIES,
    redis_up: bool = True,
) -> tuple[CollectorRegistry, CollectorRegistry, _RedisUp]:
    """The full registry, and the one served while Redis cannot be read."""
    up = _RedisUp()
    full, degraded = CollectorRegistry(), CollectorRegistry()
    for registry in (full, degraded):
        if redis_up:
            registry.register(up)
        for family in extra:
            registry.register(family)
    full.register(collector)
    return full, degraded, up


async def serve_metrics(collector: Collector, port: int, host: str = "127.0.0.1") -> web.AppRunner:
    full, degraded, up = registries(collector)

    async def metrics(_: web.Request) -> web.Response:
        try:
            await collector.refresh()
        except Exception:  # Redis down or refusing: say so rather than fail the scrape
            up.up = False
            return web.Response(body=generate_latest(degraded), content_type="text/plain")
        up.up = True
        return web.Response(body=generate_latest(full), content_type="text/plain")

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

    return await serve_app({"/metrics": metrics, "/health": health}, port, host)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve_app(
    routes: dict[str, Handler], port: int, host: str = "127.0.0.1"
) -> web.AppRunner:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
