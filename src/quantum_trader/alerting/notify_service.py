"""The notifier as a service of the system: its runtime (a consumer of the fills and
events streams, the send loops, the watch of heartbeats and of the market day, its own
heartbeat ``health:notifier``), built the same way for ``quantum service notifier`` and
for the runs that start it beside the trading services when targets are configured.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from quantum_trader.alerting.notifier import GROUP, Notifier, ensure_group_recent
from quantum_trader.alerting.notify_watch import DailySummary, ServiceWatch
from quantum_trader.bootstrap.parts import SystemParts
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.identity import consumer_name
from quantum_trader.bus.schemas import Event, FillEvent
from quantum_trader.clock import Clock, pause, steady_clock
from quantum_trader.config import NotifySettings
from quantum_trader.runtime.supervisor import ServiceSpec
from quantum_trader.services.journal import Journal
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime

NAME = "notifier"
log = logging.getLogger(__name__)


@dataclass
class NotifierConsumer(StreamConsumer):
    """A consumer whose group, when it must be made, starts a minute back, not at the
    streams' beginning."""

    async def start(self) -> None:
        redis = getattr(self.bus.transport, "client", None)
        if isinstance(redis, aioredis.Redis):
            await ensure_group_recent(redis, self.streams)
        await super().start()


def build_notifier(
    settings: NotifySettings,
    *,
    bus: Bus,
    redis: aioredis.Redis,
    services: Sequence[str],
    journal: Journal | None,
    consumer: str | None = None,
    timer: Clock | None = None,
    heartbeat_interval_s: float = 1.0,
    heartbeat_ttl_ms: int = 5_000,
    config: ConsumerConfig | None = None,
) -> tuple[ServiceRuntime, Notifier]:
    """The notifier's runtime and its state; ``services``: whose heartbeats it watches;
    ``bus.clock`` is the system's (market) clock, ``timer`` the steady one."""
    timer = timer or steady_clock()
    name = consumer or consumer_name(NAME)
    notifier = Notifier(settings, bus, redis, name, timer)
    keys = bus.keys
    reader = NotifierConsumer(
        bus,
        [keys.fills, keys.events],
        GROUP,
        name,
        notifier.handle,
        expect={keys.fills: (FillEvent,), keys.events: (Event,)},
        config=config or ConsumerConfig(),
    )
    runtime = ServiceRuntime(
        NAME,
        bus.clock,
        keys,
        RedisHealthWriter(redis),
        consumers=[reader],
        heartbeat_interval_s=heartbeat_interval_s,
        heartbeat_ttl_ms=heartbeat_ttl_ms,
        timer=timer,
    )
    watch = ServiceWatch(notifier, [s for s in services if s != NAME])
    summary = DailySummary(notifier, journal)

    async def send() -> None:
        await notifier.send_all(runtime.stop_event)

    async def look() -> None:
        stop = runtime.stop_event
        while not stop.is_set():
            for check in (watch.check, summary.check):
                try:
                    await check()
                except Exception as exc:  # one failed look must not end the watch
                    log.warning("notifier: %s failed: %s", check.__qualname__, exc)
            if await pause(timer, settings.watch_interval_s, stop):
                return

    runtime.jobs = [PeriodicJob("send", 0.0, send), PeriodicJob("watch", 0.0, look)]
    return runtime, notifier


def notifier_specs(parts: SystemParts, watched: Sequence[str] = ()) -> list[ServiceSpec]:
    """The notifier beside a run's services — none when no target is configured.
    It watches the run's services (and ``watched``) and reads the run's journal."""
    settings = parts.settings.notify
    if not settings.targets:
        return []
    services = [*(s.name for s in parts.specs()), *watched]

    def build() -> ServiceRuntime:
        runtime, _ = build_notifier(
            settings,
            bus=parts.bus,
            redis=parts.redis,
            services=services,
            journal=parts.journal,
            heartbeat_interval_s=parts.trading.heartbeat_interval_s,
            heartbeat_ttl_ms=parts.trading.heartbeat_ttl_ms,
            config=parts.trading.consumer,
        )
        return runtime

    return [ServiceSpec(NAME, build)]
