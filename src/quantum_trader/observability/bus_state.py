"""What the bus holds, as ``/metrics`` reads it.

* Each consumer group of the topology: its lag (entries not yet delivered, and the age of
  the oldest of them), its pending entries (delivered, not acknowledged) and the age of
  the oldest pending one. Ages are taken from the entry ids against Redis' own clock
  (``TIME``), so they are right whatever clock the services run on.
* Running tallies of streams, each read on from where the last scrape stopped (O(new
  entries) per scrape): dead letters by stream and kind of reason, reconcile repairs by
  kind, and the trigger → order latency of every exit order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from quantum_trader.bus.codec import DecodeError, decode
from quantum_trader.bus.groups import topology
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import FIELD, as_text
from quantum_trader.bus.schemas import ApplyResult, DeadLetter, Event, Message
from quantum_trader.domain.enums import PlanAction
from quantum_trader.observability.families import Histogram

LAG_COUNT_CAP = 1000  # Redis 6 has no group lag: undelivered entries are counted up to this
READ_BATCH = 1000
READS_PER_SCRAPE = 20  # a long backlog is caught up over several scrapes
# A dead letter's reason starts with what went wrong; the rest (the error text) would be a
# label value per message.
DEAD_REASONS = (
    ("oversize", "oversize"),
    ("invalid", "invalid"),
    ("not JSON", "not_json"),
    ("wrong type", "wrong_type"),
    ("poison", "poison"),
    ("handler failed", "handler_failed"),
    ("missing field", "missing_field"),
)


def entry_ms(entry_id: object) -> int:
    return int(as_text(entry_id).split("-", 1)[0])


def stream_name(keys: Keys, stream: str) -> str:
    """``quantum:stream:apply.plan`` -> ``apply.plan`` (a bounded label value)."""
    head = f"{keys.prefix}stream:"
    return stream[len(head) :] if stream.startswith(head) else "other"


def dead_reason(reason: str) -> str:
    return next((kind for prefix, kind in DEAD_REASONS if reason.startswith(prefix)), "other")


async def server_ms(redis: aioredis.Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


@dataclass(frozen=True, slots=True)
class GroupState:
    stream: str  # the stream's name without the prefix
    group: str
    consumers: int
    pending: int
    lag: int  # entries not delivered yet (on Redis 6 counted up to LAG_COUNT_CAP)
    lag_seconds: float  # age of the oldest entry not delivered yet (0: caught up)
    oldest_pending_seconds: float  # age of the oldest delivered, unacknowledged entry


async def group_states(redis: aioredis.Redis, keys: Keys) -> list[GroupState]:
    now = await server_ms(redis)
    states = []
    for stream, groups in topology(keys).items():
        try:
            infos: list[dict[str, Any]] = list(await redis.xinfo_groups(stream))
        except ResponseError:  # the stream does not exist yet
            infos = []
        by_name = {as_text(i["name"]): i for i in infos}
        for group in groups:
            states.append(
                await _group(redis, stream, stream_name(keys, stream), group, by_name, now)
            )
    return states


async def _group(
    redis: aioredis.Redis,
    stream: str,
    name: str,
    group: str,
    infos: dict[str, dict[str, Any]],
    now: int,
) -> GroupState:
    info = infos.get(group)
    # A group not created yet starts at the stream's beginning (what its consumer does).
    last = as_text(info["last-delivered-id"]) if info else "0-0"
    known_lag = info.get("lag") if info else None
    count = 1 if isinstance(known_lag, int) else LAG_COUNT_CAP
    undelivered: list[Any] = list(await redis.xrange(stream, min=f"({last}", count=count) or [])
    lag = known_lag if isinstance(known_lag, int) else len(undelivered)
    lag_seconds = max(0, now - entry_ms(undelivered[0][0])) / 1000 if undelivered else 0.0
    pending, oldest = 0, 0.0
    if info and int(info.get("pending") or 0):
        summary = await redis.xpending(stream, group)
        pending = int(summary.get("pending") or 0)
        if summary.get("min"):
            oldest = max(0, now - entry_ms(summary["min"])) / 1000
    return GroupState(
        name,
        group,
        int(info.get("consumers") or 0) if info else 0,
        pending,
        lag,
        lag_seconds,
        oldest,
    )


@dataclass
class StreamTally:
    """Reads one stream on from its cursor. A stream whose newest entry is older than the
    cursor was recreated (Redis lost it): the tally starts again (a counter reset)."""

    stream: str
    fold: Callable[[list[Message]], Any]
    reset: Callable[[], None]
    cursor: str = "0-0"

    async def update(self, redis: aioredis.Redis) -> None:
        for _ in range(READS_PER_SCRAPE):
            entries: list[Any] = list(
                await redis.xrange(self.stream, min=f"({self.cursor}", count=READ_BATCH) or []
            )
            if not entries:
                await self._maybe_recreated(redis)
                return
            self.cursor = as_text(entries[-1][0])
            messages = []
            for _, fields in entries:
                try:
                    messages.append(decode((fields or {}).get(FIELD, b"")))
                except DecodeError:
                    continue  # malformed entries are the consumers' dead letters
            await _maybe_await(self.fold(messages))
            if len(entries) < READ_BATCH:
                return

    async def _maybe_recreated(self, redis: aioredis.Redis) -> None:
        if self.cursor == "0-0":
            return
        newest: list[Any] = list(await redis.xrevrange(self.stream, count=1) or [])
        if not newest or _id_tuple(as_text(newest[0][0])) < _id_tuple(self.cursor):
            self.cursor = "0-0"
            self.reset()


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def _maybe_await(value: Any) -> None:
    if hasattr(value, "__await__"):
        await value


@dataclass
class BusTallies:
    """Dead letters, reconcile repairs and exit latencies, folded as the streams grow."""

    redis: aioredis.Redis
    keys: Keys
    dead: Counter[tuple[str, str]] = field(default_factory=Counter)
    repairs: Counter[str] = field(default_factory=Counter)
    trigger_to_order: Histogram = field(default_factory=Histogram)
    tallies: list[StreamTally] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tallies = [
            StreamTally(self.keys.dead, self._dead, self.dead.clear),
            StreamTally(self.keys.events, self._events, self.repairs.clear),
            StreamTally(self.keys.apply_result, self._results, self._reset_latency),
        ]

    async def update(self) -> None:
        for tally in self.tallies:
            await tally.update(self.redis)

    def _dead(self, messages: list[Message]) -> None:
        for m in messages:
            if isinstance(m, DeadLetter):
                self.dead[(stream_name(self.keys, m.source_stream), dead_reason(m.reason))] += 1

    def _events(self, messages: list[Message]) -> None:
        for m in messages:
            if isinstance(m, Event) and m.kind == "reconcile_repair":
                self.repairs[str(m.evidence.get("repair", "unknown"))] += 1

    async def _results(self, messages: list[Message]) -> None:
        """Exit orders' trigger → order latency, which the apply layer records by client
        order id (on the system's clock) before it publishes the result."""
        coids = [
            m.client_order_id
            for m in messages
            if isinstance(m, ApplyResult) and m.client_order_id and m.action is not PlanAction.OPEN
        ]
        if not coids:
            return
        for raw in await self.redis.hmget(self.keys.exit_latency, coids):
            if raw is not None:
                self.trigger_to_order.observe(int(as_text(raw)) / 1000)

    def _reset_latency(self) -> None:
        self.trigger_to_order = Histogram()
