"""In-memory transport with Redis Streams semantics, for backtests and unit tests.

It passes the same contract suite as ``RedisTransport``: consumer groups, pending
entries per consumer, acknowledge, reclaim of idle entries, durable-looking failure
counters. Idle time is measured on an injected clock so reclaim is exact in tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from quantum_trader.bus.transport import Delivery


@dataclass
class _Pending:
    consumer: str
    delivered_at: int
    deliveries: int


@dataclass
class _Group:
    next_index: int = 0
    pending: dict[str, _Pending] = field(default_factory=dict)


@dataclass
class _Stream:
    entries: list[tuple[str, bytes]] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    groups: dict[str, _Group] = field(default_factory=dict)
    seq: int = 0


class MemoryTransport:
    """``Transport`` held in this process's memory."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self._streams: dict[str, _Stream] = {}
        self._hashes: dict[str, dict[str, int]] = {}
        self._alive: dict[str, int] = {}  # liveness key -> expiry (ms on the clock)
        self._arrived = asyncio.Event()

    def _stream(self, name: str) -> _Stream:
        return self._streams.setdefault(name, _Stream())

    async def publish(self, stream: str, payload: bytes, maxlen: int | None = None) -> str:
        s = self._stream(stream)
        s.seq += 1
        entry_id = f"{self._now_ms()}-{s.seq}"
        s.index[entry_id] = len(s.entries)
        s.entries.append((entry_id, payload))
        self._arrived.set()
        return entry_id

    async def publish_many(
        self, stream: str, payloads: Sequence[bytes], maxlen: int | None = None
    ) -> list[str]:
        return [await self.publish(stream, p, maxlen) for p in payloads]

    async def ensure_group(self, stream: str, group: str) -> None:
        self._stream(stream).groups.setdefault(group, _Group())

    def _take_new(self, stream: str, group: str, consumer: str, count: int) -> list[Delivery]:
        s = self._streams.get(stream)
        if s is None or group not in s.groups:
            raise LookupError(f"NOGROUP no such group {group!r} for stream {stream!r}")
        g = s.groups[group]
        out: list[Delivery] = []
        now = self._now_ms()
        while g.next_index < len(s.entries) and len(out) < count:
            entry_id, raw = s.entries[g.next_index]
            g.next_index += 1
            g.pending[entry_id] = _Pending(consumer, now, 1)
            out.append(Delivery(stream, entry_id, raw, 1))
        return out

    async def read(
        self, streams: Sequence[str], group: str, consumer: str, count: int, block_ms: int
    ) -> list[Delivery]:
        out: list[Delivery] = []
        for name in streams:
            out.extend(self._take_new(name, group, consumer, count))
        if out or block_ms <= 0:
            return out
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), block_ms / 1000)
        except TimeoutError:
            return []
        for name in streams:
            out.extend(self._take_new(name, group, consumer, count))
        return out

    async def read_own_pending(
        self, stream: str, group: str, consumer: str, count: int
    ) -> list[Delivery]:
        s = self._streams[stream]
        g = s.groups[group]
        out: list[Delivery] = []
        for entry_id, p in list(g.pending.items()):
            if p.consumer == consumer and len(out) < count:
                p.deliveries += 1
                out.append(Delivery(stream, entry_id, self._raw(s, entry_id), p.deliveries))
        return out

    @staticmethod
    def _raw(s: _Stream, entry_id: str) -> bytes:
        return s.entries[s.index[entry_id]][1]

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        g = self._streams[stream].groups[group]
        for entry_id in entry_ids:
            g.pending.pop(entry_id, None)

    async def reclaim(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[Delivery]:
        s = self._streams.get(stream)
        if s is None or group not in s.groups:
            return []
        now = self._now_ms()
        out: list[Delivery] = []
        for entry_id, p in s.groups[group].pending.items():
            if now - p.delivered_at >= min_idle_ms and len(out) < count:
                p.consumer, p.delivered_at = consumer, now
                p.deliveries += 1
                out.append(Delivery(stream, entry_id, self._raw(s, entry_id), p.deliveries))
        return out

    async def mark_alive(self, key: str, ttl_ms: int) -> None:
        self._alive[key] = self._now_ms() + ttl_ms

    async def adopt_orphans(
        self,
        stream: str,
        group: str,
        consumer: str,
        alive_key: Callable[[str], str],
        min_idle_ms: int,
        count: int,
    ) -> list[Delivery]:
        s = self._streams.get(stream)
        if s is None or group not in s.groups:
            return []
        now = self._now_ms()
        out: list[Delivery] = []
        for entry_id, p in s.groups[group].pending.items():
            alive = self._alive.get(alive_key(p.consumer), -1) > now
            idle = now - p.delivered_at >= min_idle_ms
            if p.consumer != consumer and not alive and idle and len(out) < count:
                p.consumer, p.delivered_at = consumer, now
                p.deliveries += 1
                out.append(Delivery(stream, entry_id, self._raw(s, entry_id), p.deliveries))
        return out

    async def count_failure(self, key: str, field: str) -> int:
        bucket = self._hashes.setdefault(key, {})
        bucket[field] = bucket.get(field, 0) + 1
        return bucket[field]

    async def clear_failure(self, key: str, field: str) -> None:
        self._hashes.get(key, {}).pop(field, None)

    async def pending_count(self, stream: str, group: str) -> int:
        return len(self._streams[stream].groups[group].pending)

    async def stream_length(self, stream: str) -> int:
        s = self._streams.get(stream)
        return len(s.entries) if s else 0

    def entries(self, stream: str) -> list[tuple[str, bytes]]:
        """Everything ever published on ``stream`` (for checkers and tests)."""
        s = self._streams.get(stream)
        return list(s.entries) if s else []

    async def close(self) -> None:
        return None
