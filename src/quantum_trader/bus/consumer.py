"""One consumer-group loop: read → decode → handle → ack, with reclaim and dead letters.

Delivery is at-least-once; handlers must be idempotent (see ``idempotency``). A message
is acknowledged only after its handler returned, i.e. after its effect is durable.
A payload that does not decode, or whose handler fails ``max_failures`` times, goes to
the dead-letter stream with the reason and is then acknowledged: nothing vanishes and
nothing blocks the stream forever (FAILURES #4).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import DecodeError, decode
from quantum_trader.bus.schemas import Envelope, Message
from quantum_trader.bus.transport import Delivery, TransportClosed
from quantum_trader.clock import Clock, pause, steady_clock

log = logging.getLogger(__name__)
Handler = Callable[[Message, Delivery], Awaitable[None]]
# also inside a Lua error; NOREPLICAS: a primary with ``min-replicas-to-write`` and no
# replica in sync (see docs/redis-failover.md)
REFUSALS = ("OOM command not allowed", "READONLY", "MISCONF", "NOREPLICAS")
# Redis is gone or moving (a restart, a Sentinel failover: the primary died, a replica is
# being promoted): whatever the handler or the loop was doing is done again after a
# reconnect, with backoff, never counted against the message.
OUTAGES = (TransportClosed, ConnectionError, RedisConnectionError, RedisTimeoutError)


def store_refuses(exc: BaseException) -> bool:
    """Redis is up but refuses writes (out of memory under ``noeviction``, a read-only
    replica, a failing disk): an outage of the store, not a bad message — the message
    stays pending and is handled again once writes work, never dead-lettered for it."""
    if isinstance(exc, (OutOfMemoryError, ReadOnlyError)):
        return True
    return isinstance(exc, ResponseError) and any(r in str(exc) for r in REFUSALS)


@dataclass
class ConsumerStats:
    processed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    reclaimed: int = 0
    reconnects: int = 0
    last_poll_at: int | None = None  # the timer's ms at the last finished poll (loop turns)


@dataclass
class ConsumerConfig:
    batch: int = 100
    block_ms: int = 1000
    reclaim_idle_ms: int = 30_000
    reclaim_interval_ms: int = 5_000
    max_failures: int = 3
    max_bytes: int = 65_536
    max_backoff_s: float = 5.0


@dataclass
class StreamConsumer:
    """Consumes ``streams`` as ``consumer`` in ``group``; ``priority`` streams are read first."""

    bus: Bus
    streams: Sequence[str]
    group: str
    consumer: str
    handler: Handler
    expect: Mapping[str, tuple[type[Envelope], ...]] = field(default_factory=dict)
    priority: Sequence[str] = ()
    config: ConsumerConfig = field(default_factory=ConsumerConfig)
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    # Set by the service runtime, which beats this consumer's liveness key: pending
    # entries of a consumer of the group whose key is gone (a dead or stopped process)
    # and idle this long are adopted at once, not after ``reclaim_idle_ms``.
    orphans_after_ms: int | None = None
    # Real time for liveness and reconnect backoff (the service runtime gives its own;
    # tests a SimClock), never the market's clock: a stepped run's clock stands still.
    timer: Clock = field(default_factory=steady_clock)
    _last_reclaim: int = -(10**15)
    _retry_own: bool = True

    async def start(self) -> None:
        """Create groups; then finish what this consumer name left unacknowledged."""
        for stream in self.streams:
            await self.bus.transport.ensure_group(stream, self.group)
        self._retry_own = True

    async def follow(self, streams: Sequence[str], *, first: bool = False) -> None:
        """Read ``streams`` too from the next poll (a shard's lanes, once its lease is
        held): their group is created, what this consumer left pending there is retried,
        and the next poll reclaims what a dead consumer of the group left there
        (``first``: read before the other streams, as exits are)."""
        for stream in streams:
            await self.bus.transport.ensure_group(stream, self.group)
        new = [s for s in streams if s not in self.streams]
        self.streams = (*self.streams, *new)
        if first:
            self.priority = (*self.priority, *(s for s in streams if s not in self.priority))
        self._retry_own = True
        self._last_reclaim = -(10**15)

    def unfollow(self, streams: Sequence[str]) -> None:
        """Stop reading ``streams`` from the next poll on (a shard's lease is lost)."""
        self.streams = tuple(s for s in self.streams if s not in streams)
        self.priority = tuple(s for s in self.priority if s not in streams)

    async def poll(self, block_ms: int | None = None) -> int:
        """Process one batch; returns how many deliveries were handled."""
        transport = self.bus.transport
        batch: list[Delivery] = []
        if self._retry_own:
            self._retry_own = False
            for stream in self.streams:
                batch += await transport.read_own_pending(
                    stream, self.group, self.consumer, self.config.batch
                )
        now = self.bus.clock.now_ms()
        if now - self._last_reclaim >= self.config.reclaim_interval_ms:
            self._last_reclaim = now
            batch += await self._adopt_orphans()
            for stream in self.streams:
                claimed = await transport.reclaim(
                    stream,
                    self.group,
                    self.consumer,
                    self.config.reclaim_idle_ms,
                    self.config.batch,
                )
                self.stats.reclaimed += len(claimed)
                batch += claimed
        if not batch and self.priority:
            batch = await transport.read(
                self.priority, self.group, self.consumer, self.config.batch, 0
            )
        if not batch:
            wait = self.config.block_ms if block_ms is None else block_ms
            batch = await transport.read(
                self.streams, self.group, self.consumer, self.config.batch, wait
            )
        if self.priority:
            batch.sort(key=lambda d: d.stream not in self.priority)
        await self._handle_batch(batch)
        self.stats.last_poll_at = self.timer.now_ms()
        return len(batch)

    async def _adopt_orphans(self) -> list[Delivery]:
        if self.orphans_after_ms is None:
            return []
        keys, adopted = self.bus.keys, []
        for stream in self.streams:
            adopted += await self.bus.transport.adopt_orphans(
                stream,
                self.group,
                self.consumer,
                lambda name: keys.consumer_alive(self.group, name),
                self.orphans_after_ms,
                self.config.batch,
            )
        self.stats.reclaimed += len(adopted)
        return adopted

    async def _handle_batch(self, batch: list[Delivery]) -> None:
        acks: dict[str, list[str]] = {}
        for delivery in batch:
            if await self._handle_one(delivery):
                acks.setdefault(delivery.stream, []).append(delivery.entry_id)
        for stream, ids in acks.items():
            await self.bus.transport.ack(stream, self.group, ids)

    async def _handle_one(self, delivery: Delivery) -> bool:
        """True when the delivery may be acknowledged."""
        if delivery.problem:
            await self._dead(delivery, delivery.problem, 0)
            return True
        if not delivery.raw:
            return True  # trimmed while pending: nothing left to process
        try:
            message = decode(
                delivery.raw,
                max_bytes=self.config.max_bytes,
                expect=self.expect.get(delivery.stream),
            )
        except DecodeError as exc:
            await self._dead(delivery, exc.reason, 0)
            return True
        if delivery.deliveries > self.config.max_failures + 1:
            await self._dead(
                delivery, f"poison: delivered {delivery.deliveries} times without ack", 0
            )
            return True
        try:
            await self.handler(message, delivery)
        except OUTAGES:
            raise
        except Exception as exc:  # a handler bug must not stop the loop
            if store_refuses(exc):
                self._retry_own = True
                raise
            self.stats.failed += 1
            field_name = f"{self.group}|{delivery.stream}|{delivery.entry_id}"
            failures = await self.bus.transport.count_failure(
                self.bus.keys.bus_failures, field_name
            )
            log.warning("handler failed", extra={"entry": delivery.entry_id, "err": repr(exc)})
            if failures >= self.config.max_failures:
                await self._dead(
                    delivery, f"handler failed {failures}x: {type(exc).__name__}: {exc}", failures
                )
                await self.bus.transport.clear_failure(self.bus.keys.bus_failures, field_name)
                return True
            self._retry_own = True
            return False
        self.stats.processed += 1
        return True

    async def _dead(self, delivery: Delivery, reason: str, failures: int) -> None:
        await self.bus.dead_letter(
            delivery, group=self.group, consumer=self.consumer, reason=reason, failures=failures
        )
        self.stats.dead_lettered += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set, reconnecting after Redis failures.

        Returning for any other reason is impossible: errors propagate so the service
        runtime reports a dead loop instead of a process that only looks alive.
        """
        backoff = 0.05
        started = False
        while not stop.is_set():
            try:
                if not started:
                    await self.start()
                    started = True
                await self.poll()
                backoff = 0.05
            except (*OUTAGES, OSError) as exc:
                self.stats.reconnects += 1
                log.warning("redis unavailable, reconnecting", extra={"err": str(exc)})
                await pause(self.timer, backoff, stop)
                backoff = min(backoff * 2, self.config.max_backoff_s)
                started = False
            except ResponseError as exc:
                if store_refuses(exc):
                    self._retry_own = True  # what was read is handled again, then acked
                    log.warning("redis refuses writes, backing off", extra={"err": str(exc)})
                    await pause(self.timer, backoff, stop)
                    backoff = min(backoff * 2, self.config.max_backoff_s)
                    continue
                if "NOGROUP" not in str(exc) and "no such key" not in str(exc):
                    raise
                # Group or stream lost (a restart without AOF, a flush, a failover to a
                # replica that never got the group): re-created at 0 (see ensure_group).
                started = False
            except LookupError:
                started = False
