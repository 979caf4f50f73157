"""Metrics of a system whose services run as their own processes, read from Redis.

Each process's heartbeat carries its counters (processed, failed, dead-lettered); the
risk keys, the ledger and the events stream say the rest. The metric names are the
in-process collector's, so one dashboard and one set of alert rules serve both.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from quantum_trader.bus.codec import decode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Event, Heartbeat
from quantum_trader.observability.metrics import (
    Snapshot,
    model_metrics,
    model_state,
    risk_mode_family,
    service_families,
    with_fail_safe,
)
from quantum_trader.runtime.supervisor import Supervisor
from quantum_trader.services.ledger import RedisLedger


async def reconcile_repairs(redis: aioredis.Redis, keys: Keys) -> Counter[str]:
    """The position monitor's repairs by kind, from its events still on the stream."""
    repairs: Counter[str] = Counter()
    entries: list[Any] = list(await redis.xrange(keys.events) or [])
    for _, fields in entries:
        try:
            event = decode(fields[b"msg"])
        except (KeyError, ValueError):
            continue
        if isinstance(event, Event) and event.kind == "reconcile_repair":
            repairs[str(event.evidence.get("repair", "unknown"))] += 1
    return repairs


class RedisCollector:
    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        services: Sequence[str],
        restarts: Callable[[], dict[str, int]] = dict,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.redis, self.keys, self.services = redis, keys, tuple(services)
        self.supervisor = supervisor  # the orchestrator's fail-safe watcher, if any
        self._restarts = restarts
        self.snapshot = Snapshot({}, {}, 0, 0.0)
        self.beats: dict[str, Heartbeat] = {}
        self.repairs: Counter[str] = Counter()

    async def refresh(self) -> Snapshot:
        keys, redis = self.keys, self.redis
        ttl = {name: int(await redis.pttl(keys.health(name))) for name in self.services}
        beats = await redis.mget([keys.health(n) for n in self.services])
        self.beats = {}
        for name, raw in zip(self.services, beats, strict=True):
            try:
                beat = decode(raw) if raw else None
            except ValueError:
                beat = None
            if isinstance(beat, Heartbeat):
                self.beats[name] = beat
        raw_risk = await redis.get(keys.risk_state)
        risk: dict[str, Any] = json.loads(raw_risk) if raw_risk else {"mode": "UNKNOWN"}
        if await redis.exists(keys.risk_circuit) or await redis.exists(keys.risk_kill_switch):
            risk = {**risk, "mode": "HALT"}
        elif await redis.exists(keys.risk_supervisor):
            risk = {**risk, "mode": "REDUCE_ONLY"}
        risk = with_fail_safe(risk, self.supervisor)
        positions = [p for p in await RedisLedger(redis, keys).all() if p.qty > 0]
        exposure = float(sum(p.qty * p.entry_price for p in positions))
        self.repairs = await reconcile_repairs(redis, keys)
        model = await model_state(redis, keys)
        self.snapshot = Snapshot(ttl, risk, len(positions), exposure, model)
        return self.snapshot

    def fail_safe(self) -> dict[str, object]:
        return self.supervisor.fail_safe() if self.supervisor is not None else {}

    def restarts_of(self, service: str) -> int:
        return self._restarts().get(service, 0)

    def collect(self) -> Iterator[Metric]:
        for counter in ("processed", "failed", "dead_lettered"):
            family = CounterMetricFamily(
                f"quantum_messages_{counter}_total",
                f"Messages {counter} per service",
                labels=["service"],
            )
            for name, beat in sorted(self.beats.items()):
                family.add_metric([name], getattr(beat, counter))
            yield family
        restarts = {name: self.restarts_of(name) for name in self.services}
        yield from service_families(restarts, self.snapshot.health_ttl_ms)
        yield risk_mode_family(self.snapshot.risk.get("mode"))
        yield GaugeMetricFamily(
            "quantum_open_positions",
            "Open positions in the ledger",
            value=self.snapshot.open_positions,
        )
        yield GaugeMetricFamily(
            "quantum_gross_exposure_usdt",
            "Σ|qty × entry| of the ledger's positions",
            value=self.snapshot.gross_exposure,
        )
        yield from model_metrics(self.snapshot.model)
        repairs = CounterMetricFamily("quantum_reconcile_repairs_total", "Repairs", labels=["kind"])
        for kind, count in sorted(self.repairs.items()):
            repairs.add_metric([kind], count)
        yield repairs
