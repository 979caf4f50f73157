"""``/metrics`` and ``/health`` of one service process (``quantum service NAME``).

What only the process knows: whether its loops run, each consumer's counters and how long
ago it finished a poll, the apply layer's outcomes and plan → order latency, the orders it
sent and what the exchange answered (accepted, rejected by code, unknown and still
unresolved), the symbol shards it holds (sharded executors: ``quantum_shards_held``,
and ``shards`` in ``/health``), and the process's own figures (CPU, memory, file
descriptors, start time — a start time that keeps changing is a crash loop). What the
system holds in Redis and on the exchange is the ``metrics`` service's.

A port that cannot be bound is logged and the service runs on: its metrics are not worth
an exit path, and the scrape target being down is itself the alert.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from quantum_trader.bootstrap.parts import SystemParts
from quantum_trader.observability.families import SampleFeed, build_info, order_families
from quantum_trader.observability.metrics import apply_families, registries, serve_app
from quantum_trader.services.order_router import OUTCOMES
from quantum_trader.services.runtime import ServiceRuntime


class ServiceCollector:
    def __init__(self, name: str, runtime: ServiceRuntime, parts: SystemParts) -> None:
        self.name, self.runtime, self.parts = name, runtime, parts
        self.latency: dict[str, dict[int, SampleFeed]] = {"open": {}, "exit": {}}

    def collect(self) -> Iterator[Metric]:
        service, runtime = self.name, self.runtime
        running = GaugeMetricFamily(
            "quantum_service_running", "1: the service's loops are running", labels=["service"]
        )
        running.add_metric([service], 1.0 if runtime.status == "running" else 0.0)
        yield running
        if runtime.held_shards is not None:  # sharded: how many symbol shards it serves
            held = GaugeMetricFamily(
                "quantum_shards_held",
                "Symbol shards whose lease this process holds (sharding.shards > 1)",
                labels=["service"],
            )
            held.add_metric([service], float(len(runtime.held_shards())))
            yield held
        labels = ["service", "group"]
        counters = {
            name: CounterMetricFamily(
                f"quantum_consumer_{name}", f"Messages {name} by this consumer", labels=labels
            )
            for name in ("processed", "failed", "dead_lettered")
        }
        poll_age = GaugeMetricFamily(
            "quantum_consumer_poll_age_seconds",
            "Seconds since the consumer last finished a poll of its streams",
            labels=labels,
        )
        now = runtime.timer.now_ms()
        for consumer in runtime.consumers:
            for name, family in counters.items():
                family.add_metric([service, consumer.group], getattr(consumer.stats, name))
            if consumer.stats.last_poll_at is not None:
                age = max(0, now - consumer.stats.last_poll_at) / 1000
                poll_age.add_metric([service, consumer.group], age)
        yield from counters.values()
        yield poll_age
        if self.parts.apply_layers:
            for n, layer in enumerate(self.parts.apply_layers):
                for kind, window in layer.latency_ms.items():
                    feed = self.latency.setdefault(kind, {}).setdefault(n, SampleFeed())
                    feed.fold(window, layer.submitted[kind], 0.001)
            yield from apply_families(self.parts, self.latency)
        yield from order_families(OUTCOMES)
        yield build_info(service)

    def health(self) -> tuple[dict[str, object], bool]:
        stalled = self.runtime.stalled()
        ok = self.runtime.status == "running" and not stalled
        body: dict[str, object] = {
            "ok": ok,
            "service": self.name,
            "status": self.runtime.status,
            "stalled": stalled,
            "instance": self.runtime.instance,
            "pid": os.getpid(),
        }
        if self.runtime.held_shards is not None:
            body["shards"] = list(self.runtime.held_shards())
        return body, ok


async def serve_service_metrics(
    name: str, runtime: ServiceRuntime, parts: SystemParts, host: str, port: int
) -> web.AppRunner | None:
    """Serve ``name``'s ``/metrics`` and ``/health`` on ``host:port`` (0: not at all)."""
    if not port:
        return None
    return await serve_collector(name, ServiceCollector(name, runtime, parts), host, port)


class HealthCollector(Protocol):
    """A process's collector: its metrics, and its health (body, healthy)."""

    def collect(self) -> Iterable[Metric]: ...

    def health(self) -> tuple[dict[str, Any], bool]: ...


async def serve_collector(
    name: str, collector: HealthCollector, host: str, port: int
) -> web.AppRunner | None:
    """``/metrics`` and ``/health`` of ``collector`` on ``host:port``; one that cannot be
    bound is logged and the process runs on (its scrape target being down is the alert)."""
    registry, _, _ = registries(collector, redis_up=False)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    async def health(_: web.Request) -> web.Response:
        body, ok = collector.health()
        return web.json_response(body, status=200 if ok else 503)

    try:
        return await serve_app({"/metrics": metrics, "/health": health}, port, host)
    except OSError as exc:
        print(f"{name}: cannot serve /metrics on {host}:{port}: {exc}", flush=True)
        return None
