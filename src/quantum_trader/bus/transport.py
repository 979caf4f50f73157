"""The stream transport interface shared by the Redis and in-memory implementations.

Semantics are Redis Streams' own: consumer groups, a pending-entries list per group,
acknowledge after the effect, reclaim idle entries from dead consumers (XAUTOCLAIM).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stream entry handed to a consumer. ``deliveries`` > 1 means it was retried."""

    stream: str
    entry_id: str
    raw: bytes
    deliveries: int = 1
    problem: str = ""  # set when the entry exists but is not a message (e.g. no `msg` field)


class TransportClosed(ConnectionError):
    """The transport is gone (Redis unreachable); callers reconnect with backoff."""


class Transport(Protocol):
    async def publish(self, stream: str, payload: bytes, maxlen: int | None = None) -> str: ...

    async def publish_many(
        self, stream: str, payloads: Sequence[bytes], maxlen: int | None = None
    ) -> list[str]: ...

    async def ensure_group(self, stream: str, group: str) -> None:
        """Create the group at the start of the stream (and the stream) if missing."""
        ...

    async def read(
        self, streams: Sequence[str], group: str, consumer: str, count: int, block_ms: int
    ) -> list[Delivery]:
        """New entries for this consumer; blocks up to ``block_ms`` (0 = do not block)."""
        ...

    async def read_own_pending(
        self, stream: str, group: str, consumer: str, count: int
    ) -> list[Delivery]:
        """Entries delivered to this consumer name but never acknowledged (after a restart)."""
        ...

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None: ...

    async def reclaim(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[Delivery]:
        """Take over entries pending longer than ``min_idle_ms`` on any consumer."""
        ...

    async def mark_alive(self, key: str, ttl_ms: int) -> None:
        """Set a consumer's liveness key for ``ttl_ms`` (its runtime beats it)."""
        ...

    async def adopt_orphans(
        self,
        stream: str,
        group: str,
        consumer: str,
        alive_key: Callable[[str], str],
        min_idle_ms: int,
        count: int,
    ) -> list[Delivery]:
        """Claim, for ``consumer``, what other consumers of ``group`` whose liveness key
        (``alive_key(name)``) is gone left pending and idle for ``min_idle_ms``."""
        ...

    async def count_failure(self, key: str, field: str) -> int:
        """Increment and return a durable failure counter."""
        ...

    async def clear_failure(self, key: str, field: str) -> None: ...

    async def pending_count(self, stream: str, group: str) -> int: ...

    async def stream_length(self, stream: str) -> int: ...

    async def close(self) -> None: ...
