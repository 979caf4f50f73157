"""Metrics of a system whose services run as their own processes, read from Redis (and,
in the ``metrics`` service, from the exchange).

Each process's heartbeat carries its counters (processed, failed, dead-lettered); the
risk keys, the ledger, the consumer groups and the streams say the rest. The metric
names are the in-process collector's, so one dashboard and one set of alert rules serve
both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from prometheus_client.core import Metric

from quantum_trader.bus.codec import decode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Event
from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.observability.exchange_view import ExchangeView
from quantum_trader.observability.families import build_info, message_families, service_families
from quantum_trader.observability.state import Snapshot, SystemState
from quantum_trader.runtime.supervisor import Supervisor


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
        restarts: Callable[[], dict[str, int]] | None = None,
        supervisor: Supervisor | None = None,
        *,
        exchange: ExchangeView | None = None,
        heartbeat_ttl_ms: int = 5_000,
        limits: RiskConfig | None = None,
        psi_limit: float | None = None,
    ) -> None:
        self.redis, self.keys, self.services = redis, keys, tuple(services)
        self.supervisor = supervisor  # the orchestrator's fail-safe watcher, if any
        # who restarts the processes knows how often; without one, a new process behind a
        # service's heartbeat counts as a restart
        self._restarts = restarts
        self.state = SystemState(
            redis,
            keys,
            self.services,
            heartbeat_ttl_ms,
            limits or RiskConfig(),
            psi_limit,
            exchange=exchange,
            supervisor=supervisor,
        )
        self.snapshot = Snapshot({}, {}, 0, 0.0)

    @property
    def repairs(self) -> Counter[str]:
        return self.state.tallies.repairs

    async def refresh(self) -> Snapshot:
        self.snapshot = await self.state.refresh()
        return self.snapshot

    def fail_safe(self) -> dict[str, object]:
        return self.supervisor.fail_safe() if self.supervisor is not None else {}

    def restarts_of(self, service: str) -> int:
        if self._restarts is not None:
            return self._restarts().get(service, 0)
        return self.state.heartbeats.restarts.get(service, 0)

    def collect(self) -> Iterator[Metric]:
        beats = self.state.heartbeats
        counts = {
            name: {
                "processed": beat.processed,
                "failed": beat.failed,
                "dead_lettered": beat.dead_lettered,
            }
            for name, beat in beats.beats.items()
        }
        yield from message_families(counts)
        restarts = {name: self.restarts_of(name) for name in self.services}
        yield from service_families(restarts, beats.ages(), beats.up())
        yield from self.state.families()
        yield build_info("metrics")
