"""A notifier on the test's Redis, its webhooks a local recorder, its clocks simulated:
the system's (market) clock and the steady timer its rate limits, backoff and heartbeat
ages run on."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from quantum_trader.alerting.notifier import Notifier
from quantum_trader.alerting.notify_service import build_notifier
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.clock import SimClock
from quantum_trader.config import NotifySettings, load_settings
from quantum_trader.services.journal import Journal
from quantum_trader.services.runtime import ServiceRuntime
from tests.integration.alerting.webhooks import Webhooks, until
from tests.unit.alerting.samples import T0

PATHS = {
    "generic": "/hook/generic",
    "telegram": "/bot123:secret/sendMessage",
    "discord": "/api/webhooks/1/token",
    "slack": "/services/T0/B0/x",
}


@dataclass
class Rig:
    redis: aioredis.Redis
    keys: Keys
    hooks: Webhooks
    clock: SimClock  # market time
    timer: SimClock  # steady time

    @property
    def bus(self) -> Bus:
        return Bus(RedisTransport(self.redis), self.clock, self.keys)

    def settings(self, targets: dict[str, dict[str, Any]], **knobs: Any) -> NotifySettings:
        """``targets``: name -> {kind, path, events?, ...}; the URL points at the recorder."""
        given = {}
        for name, spec in targets.items():
            spec = dict(spec)
            path = spec.pop("path", PATHS[spec["kind"]])
            if spec["kind"] == "telegram":
                spec.setdefault("chat_id", "-1001234")
            given[name] = {**spec, "url": self.hooks.url(path)}
        return load_settings(notify={"targets": given, **knobs}).notify

    def notifier(
        self,
        settings: NotifySettings,
        consumer: str = "n1",
        services: Sequence[str] = (),
        journal: Journal | None = None,
    ) -> tuple[ServiceRuntime, Notifier]:
        return build_notifier(
            settings,
            bus=self.bus,
            redis=self.redis,
            services=services,
            journal=journal,
            consumer=consumer,
            timer=self.timer,
            config=ConsumerConfig(block_ms=20),
        )

    async def failures(self) -> list[Any]:
        from quantum_trader.bus.codec import decode

        return [decode(f[b"msg"]) for _, f in await self.redis.xrange(self.keys.notify_failed)]

    async def outbox(self, target: str) -> list[dict[str, Any]]:
        return [
            json.loads(x) for x in await self.redis.lrange(self.keys.notify_outbox(target), 0, -1)
        ]


@contextlib.asynccontextmanager
async def running(runtime: ServiceRuntime) -> AsyncIterator[ServiceRuntime]:
    task = asyncio.create_task(runtime.run())
    try:
        await until(lambda: all(c.stats.last_poll_at is not None for c in runtime.consumers))
        yield runtime
    finally:
        runtime.stop_event.set()
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def sending(notifier: Notifier) -> AsyncIterator[asyncio.Event]:
    """The notifier's send loops alone (no consumer, no heartbeat): the only sleepers on
    the timer are theirs, so a test can tell when they are parked."""
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.send_all(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def parked(timer: SimClock, loops: int = 1) -> bool:
    """Each of ``loops`` send loops waits on the timer (a token, a backoff, an idle
    outbox), none of them due: the next move is the test's."""
    waiting = [due for due, _, sleeper in timer._sleepers if not sleeper.done()]
    return len(waiting) >= loops and min(waiting) > timer.now_ms()


def new_rig(redis: aioredis.Redis, keys: Keys, hooks: Webhooks) -> Rig:
    return Rig(redis, keys, hooks, SimClock(T0 + 600_000), hooks.clock)  # type: ignore[arg-type]
