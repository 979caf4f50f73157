"""The base every service runs on: consumer loops, heartbeat, graceful shutdown, counters.

One service = one loop per consumer (decode → handle → publish → ack) plus optional
periodic jobs. A heartbeat key ``quantum:health:{service}`` with a TTL tells the
supervisor the service is alive *and* its loops are turning (it is written from the
loop's own progress, not from a side thread). SIGTERM/SIGINT finish the current batch.
A loop that ends while the service should run is an error, never a silent exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from quantum_trader.bus.codec import encode
from quantum_trader.bus.consumer import StreamConsumer, store_refuses
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Heartbeat, derive_id
from quantum_trader.clock import Clock, pause, steady_clock

log = structlog.get_logger(__name__)


class ServiceLoopEnded(RuntimeError):
    """A service loop returned or died while the service was meant to be running."""


class HealthWriter(Protocol):
    async def write(self, key: str, payload: bytes, ttl_ms: int) -> None: ...


class RedisHealthWriter:
    def __init__(self, client: object) -> None:
        self.client = client

    async def write(self, key: str, payload: bytes, ttl_ms: int) -> None:
        await self.client.set(key, payload, px=ttl_ms)  # type: ignore[attr-defined]


@dataclass
class MemoryHealthWriter:
    beats: dict[str, bytes] = field(default_factory=dict)

    async def write(self, key: str, payload: bytes, ttl_ms: int) -> None:
        self.beats[key] = payload


@dataclass
class PeriodicJob:
    """Work a service does every ``interval_s`` of its clock (e.g. reconcile, risk check)."""

    name: str
    interval_s: float
    run: Callable[[], Awaitable[None]]


@dataclass
class ServiceRuntime:
    name: str
    clock: Clock
    keys: Keys
    health: HealthWriter
    consumers: Sequence[StreamConsumer] = ()
    jobs: Sequence[PeriodicJob] = ()
    heartbeat_interval_s: float = 1.0
    heartbeat_ttl_ms: int = 5_000
    instance: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: int = 0
    status: str = "starting"
    # Real time for the heartbeat loop and liveness; its consumers share it.
    timer: Clock = field(default_factory=steady_clock)
    # Sharded services: the shards this process serves now (its heartbeat names them)
    held_shards: Callable[[], Sequence[int]] | None = None
    # Run once every loop has ended (e.g. release the shard leases on a clean stop)
    on_stopped: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return sum(c.stats.processed for c in self.consumers)

    @property
    def failed(self) -> int:
        return sum(c.stats.failed for c in self.consumers)

    @property
    def dead_lettered(self) -> int:
        return sum(c.stats.dead_lettered for c in self.consumers)

    def heartbeat(self) -> Heartbeat:
        now = self.clock.now_ms()
        return Heartbeat(
            msg_id=derive_id("hb", self.name, self.instance, now),
            ts_event=now,
            ts_init=now,
            source=self.name,
            service=self.name,
            instance=self.instance,
            pid=os.getpid(),
            status=self.status,
            started_at=self.started_at,
            processed=self.processed,
            failed=self.failed,
            dead_lettered=self.dead_lettered,
            shards=tuple(self.held_shards()) if self.held_shards else (),
        )

    async def beat(self) -> None:
        await self.health.write(
            self.keys.health(self.name), encode(self.heartbeat()), self.heartbeat_ttl_ms
        )

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            if sys.platform != "win32":  # no asyncio signal handlers there
                loop.add_signal_handler(sig, self.stop_event.set)

    def stalled(self) -> list[str]:
        """Consumers whose loop has not finished a poll within the heartbeat TTL.

        Liveness is real time (the heartbeat key's TTL is): the ``timer``, whatever
        clock the market runs on — a simulated market clock may jump hours between polls.
        """
        now = self.timer.now_ms()
        return [
            c.group
            for c in self.consumers
            if c.stats.last_poll_at is not None
            and now - c.stats.last_poll_at > self.heartbeat_ttl_ms + c.config.block_ms
        ]

    async def _heartbeat_loop(self) -> None:
        while not self.stop_event.is_set():
            stalled = self.stalled()
            if any(c.stats.last_poll_at is None for c in self.consumers):
                # Not yet proven: a loop that crashes at start must never look alive
                # (FAILURES #3: a crash-looping executor went unnoticed for 17 hours).
                self.status = "starting"
            elif stalled:
                # No beat: the key expires and the supervisor sees the service as down.
                self.status = "stalled"
                log.error("consumer loop stalled", service=self.name, consumers=stalled)
            else:
                self.status = "running"
                with contextlib.suppress(Exception):
                    await self.beat()
                    await self._consumers_alive()
            await pause(self.timer, self.heartbeat_interval_s, self.stop_event)

    async def _consumers_alive(self) -> None:
        """Each consumer's liveness key: while it exists no other process adopts what
        the consumer has pending (see ``StreamConsumer.orphans_after_ms``)."""
        for c in self.consumers:
            key = self.keys.consumer_alive(c.group, c.consumer)
            await c.bus.transport.mark_alive(key, self.heartbeat_ttl_ms)

    async def _job_loop(self, job: PeriodicJob) -> None:
        while not self.stop_event.is_set():
            try:
                await job.run()
            except Exception as exc:  # one failed round must not end the job
                if store_refuses(exc):  # an outage of the store, not a bug: one line
                    log.warning(
                        "periodic job: redis refuses writes",
                        service=self.name,
                        job=job.name,
                        error=str(exc),
                    )
                else:
                    log.exception("periodic job failed", service=self.name, job=job.name)
            await pause(self.clock, job.interval_s, self.stop_event)

    async def run(self) -> None:
        """Run until stopped; raise ``ServiceLoopEnded`` if any loop ends on its own."""
        self.started_at = self.clock.now_ms()
        self.status = "running"
        for consumer in self.consumers:
            consumer.orphans_after_ms = self.heartbeat_ttl_ms
            consumer.timer = self.timer
        loops = [asyncio.create_task(self._heartbeat_loop(), name=f"{self.name}:heartbeat")]
        loops += [
            asyncio.create_task(c.run(self.stop_event), name=f"{self.name}:{c.group}")
            for c in self.consumers
        ]
        loops += [
            asyncio.create_task(self._job_loop(j), name=f"{self.name}:{j.name}") for j in self.jobs
        ]
        stopper = asyncio.create_task(self.stop_event.wait())
        try:
            done, _ = await asyncio.wait([*loops, stopper], return_when=asyncio.FIRST_COMPLETED)
            if stopper not in done:
                failed = next(iter(done))
                exc = failed.exception()
                why = f"{type(exc).__name__}: {exc}" if exc is not None else "returned"
                raise ServiceLoopEnded(
                    f"{self.name}: loop {failed.get_name()} ended: {why}"
                ) from exc
        finally:
            self.status = "stopping"
            self.stop_event.set()
            # Consumers finish the batch in hand, then see the stop flag.
            _, pending = await asyncio.wait(loops, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            stopper.cancel()
            for hook in self.on_stopped:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(hook(), 5)
            self.status = "stopped"
            with contextlib.suppress(Exception):
                await self.beat()
