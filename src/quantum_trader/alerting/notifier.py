"""The notifier service: tells people what the system does, off the trading path.

It reads the fills and events streams in a consumer group of its own (``notifier``),
which no trading service waits for, and turns each entry fill, exit fill, risk-mode
change, breaker trip and critical event into a notice (``notify_messages``). A notice is
*claimed* for each target that wants it — ``SET NX`` on a key derived from the event,
with the dedup window as TTL — and queued in that target's outbox (a Redis list) in the
same script, so a redelivered message or a restart claims nothing twice. The handler
does only that: sending is another loop per target, so a slow or dead webhook never
stalls the consumer, and whatever the notifier does, no trading service reads its keys.

Each target's loop takes the outbox's head, waits for a token of the target's rate
limit, posts it with retries (``notify_http``) and removes it; a notice given up on is
counted (``notify:stats``) and recorded with its reason on ``stream:notify.failed``.
A restart finds the outbox where it was: at worst the notice being sent when the
process died is sent again. Heartbeats and the day's summary are ``notify_watch``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quantum_trader.alerting.notify_http import SendOutcome, WebhookSender
from quantum_trader.alerting.notify_messages import Notice, event_notice, fill_notice, opens
from quantum_trader.alerting.notify_rules import wants
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import DeadLetter, Event, FillEvent, Message, derive_id
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import Clock, steady_clock
from quantum_trader.config import NotifySettings

log = logging.getLogger(__name__)
GROUP = "notifier"  # not in bus.groups.topology: nothing waits for it to drain
OUTBOX_LIMIT = 1_000  # per target; beyond it the oldest notice is dropped (and counted)
IDLE_S = 5.0  # an empty outbox is looked at again this often (another process may fill it)
RETRY_S = 1.0  # after Redis failed the send loop (or it failed itself)
START_GRACE_MS = 60_000  # a new group reads back this far (a notifier started late)

# KEYS: services hash, stats hash, then (claim, outbox) per target
# ARGV: ttl ms, notice JSON, outbox limit, services field ('' none), its value, target names
ENQUEUE = """
local queued = 0
for i = 3, #KEYS, 2 do
  local name = ARGV[5 + (i - 1) / 2]
  if redis.call('SET', KEYS[i], 'queued', 'NX', 'PX', ARGV[1]) then
    redis.call('RPUSH', KEYS[i + 1], ARGV[2])
    queued = queued + 1
    if redis.call('LLEN', KEYS[i + 1]) > tonumber(ARGV[3]) then
      redis.call('LPOP', KEYS[i + 1])
      redis.call('HINCRBY', KEYS[2], name .. ':dropped', 1)
    end
  else
    redis.call('HINCRBY', KEYS[2], name .. ':deduplicated', 1)
  end
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
end
return queued
"""


@dataclass
class Notifier:
    """The notifier's state: settings, where it reads and writes, and its clocks — the
    system's ``clock`` (event times, the market day) and the steady ``timer`` (rate
    limits, backoff, heartbeat ages), both injected."""

    settings: NotifySettings
    bus: Bus
    redis: aioredis.Redis
    consumer: str
    timer: Clock = field(default_factory=steady_clock)
    sender: WebhookSender | None = None
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    _wake: dict[str, asyncio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._enqueue = self.redis.register_script(ENQUEUE)
        if self.sender is None:
            self.sender = WebhookSender(
                self.settings, self.timer, self.bus.keys.prefix, on_retry=self._retried
            )
        self._wake = {name: asyncio.Event() for name in self.settings.targets}

    @property
    def clock(self) -> Clock:
        return self.bus.clock

    async def handle(self, message: Message, delivery: Delivery) -> None:
        """A fill or an event from the streams: queue its notice, if any target wants it."""
        notice: Notice | None
        if isinstance(message, FillEvent):
            planned = None
            if not opens(message):
                label = await self.redis.hget(self.bus.keys.exit_reasons, message.client_order_id)
                planned = as_text(label) if label is not None else None
            notice = fill_notice(message, planned)
        elif isinstance(message, Event):
            notice = event_notice(message)
        else:
            raise TypeError(f"the notifier does not read {type(message).__name__}")
        if notice is None:
            return
        if self.clock.now_ms() - notice.ts > self.settings.dedup_window_s * 1000:
            # Older than the window it could be deduplicated in (a long outage's backlog)
            await self.redis.hincrby(self.bus.keys.notify_stats, "stale", 1)
            return
        await self.enqueue(notice)

    async def enqueue(self, notice: Notice, state: tuple[str, str] | None = None) -> int:
        """Claim ``notice`` for every target that wants it and queue it there; with
        ``state``, write that field of ``notify:services`` in the same step. Returns how
        many targets it was queued for (0: none wants it, or it was sent already)."""
        names = [n for n, t in self.settings.targets.items() if wants(t, notice.kind)]
        if not names and state is None:
            return 0
        k = self.bus.keys
        keys = [k.notify_services, k.notify_stats]
        for name in names:
            keys += [k.notify_sent(name, notice.key), k.notify_outbox(name)]
        field_name, value = state or ("", "")
        queued = int(
            await self._enqueue(
                keys=keys,
                args=[
                    self.settings.dedup_window_s * 1000,
                    json.dumps(notice.as_json(), separators=(",", ":")),
                    OUTBOX_LIMIT,
                    field_name,
                    value,
                    *names,
                ],
            )
        )
        for name in names:
            self._wake[name].set()
        return queued

    async def send_all(self, stop: asyncio.Event) -> None:
        """Every target's send loop, until ``stop``."""
        assert self.sender is not None
        try:
            loops = [self._send_loop(n, stop) for n in self.settings.targets]
            await asyncio.gather(*loops, stop.wait())  # no target: nothing to do until stop
        finally:
            await self.sender.close()

    async def _send_loop(self, name: str, stop: asyncio.Event) -> None:
        outbox = self.bus.keys.notify_outbox(name)
        wake = self._wake[name]
        while not stop.is_set():
            wake.clear()
            try:
                raw = await self.redis.lindex(outbox, 0)
                if raw is None:
                    await _first(self.timer.sleep(IDLE_S), wake.wait(), stop.wait())
                    continue
                text = as_text(raw)
                if not await self._send_head(name, text, stop):
                    return  # stopped mid-send: the notice stays queued for the next start
                await self.redis.lrem(outbox, 1, text)
            except (RedisError, OSError) as exc:  # Redis away: try again, never a hot loop
                log.warning("notifier: redis unavailable (%s)", type(exc).__name__)
                await _first(self.timer.sleep(RETRY_S), stop.wait())
            except Exception:  # a bug must not spin: logged, and the loop goes on later
                log.exception("notifier: sending to %s failed", name)
                await _first(self.timer.sleep(RETRY_S), stop.wait())

    async def _send_head(self, name: str, raw: str, stop: asyncio.Event) -> bool:
        """Deliver one queued notice and record how it ended; False when stopped first."""
        assert self.sender is not None
        target = self.settings.targets[name]
        try:
            notice = Notice.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            await self._record_failure(name, None, raw, f"unreadable queued notice: {exc}", 0)
            return True
        outcome = await self.sender.deliver(name, target, notice, stop)
        if outcome.stopped:
            return False
        await self.record(notice, outcome)
        return True

    async def record(self, notice: Notice, outcome: SendOutcome) -> None:
        """Count how sending ``notice`` ended; a failure also gets its record."""
        name = outcome.target
        if outcome.sent:
            self.sent[name] = self.sent.get(name, 0) + 1
            await self.redis.hincrby(self.bus.keys.notify_stats, f"{name}:sent", 1)
            return
        raw = json.dumps(notice.as_json(), separators=(",", ":"))
        await self._record_failure(name, notice, raw, outcome.reason, outcome.attempts)

    async def _record_failure(
        self, name: str, notice: Notice | None, raw: str, reason: str, attempts: int
    ) -> None:
        self.failed[name] = self.failed.get(name, 0) + 1
        k = self.bus.keys
        target = self.settings.targets[name]
        now = self.clock.now_ms()
        log.warning("notification to %s not sent: %s", name, reason)
        await self.redis.hincrby(k.notify_stats, f"{name}:failed", 1)
        key = notice.key if notice is not None else derive_id("unreadable", raw)
        await self.bus.publish(
            k.notify_failed,
            DeadLetter(
                msg_id=derive_id("notify-failed", name, key, now, attempts),
                ts_event=now,
                ts_init=now,
                source=GROUP,
                reason=f"{name} ({target.kind.value}): {reason}",
                source_stream=k.notify_outbox(name),
                original_id=key,
                group=GROUP,
                consumer=self.consumer,
                failures=attempts,
                raw=raw,
            ),
        )

    async def _retried(self, name: str) -> None:
        await self.redis.hincrby(self.bus.keys.notify_stats, f"{name}:retried", 1)

    async def stats(self) -> dict[str, int]:
        """``notify:stats`` as numbers: ``<target>:sent|failed|retried|deduplicated|dropped``."""
        raw: Mapping[bytes | str, bytes | str] = await self.redis.hgetall(
            self.bus.keys.notify_stats
        )
        return {as_text(k): int(as_text(v)) for k, v in raw.items()}


async def ensure_group_recent(redis: aioredis.Redis, streams: Sequence[str]) -> None:
    """The notifier's group, when it is first made, starts ``START_GRACE_MS`` before now
    (the stream ids' own clock, Redis' ``TIME``): a notifier added to a running system
    tells what happens from about when it started, not the streams' whole history."""
    seconds, micros = await redis.time()
    start = f"{max(0, int(seconds) * 1000 + int(micros) // 1000 - START_GRACE_MS)}-0"
    for stream in streams:
        try:
            await redis.xgroup_create(stream, GROUP, id=start, mkstream=True)
        except RedisError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


async def _first(*waits: Awaitable[object]) -> None:
    """Return as soon as one of ``waits`` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
