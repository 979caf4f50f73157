"""Redis Streams transport on redis-py's asyncio client."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from quantum_trader.bus.codec import DecodeError, decode
from quantum_trader.bus.transport import Delivery, TransportClosed

FIELD = b"msg"
FORGET_IDLE_CONSUMER_MS = 3_600_000  # a dead consumer with nothing pending is removed


def connect(url: str, **kwargs: Any) -> aioredis.Redis:
    """A client with timeouts suited to a trading system (fail fast, reconnect)."""
    options: dict[str, Any] = {
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "retry_on_timeout": False,
    }
    options.update(kwargs)
    return aioredis.Redis.from_url(url, **options)


def as_text(value: object) -> str:
    """Redis replies as str, whether the client decodes responses or not."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _delivery(stream: str, entry_id: object, fields: Any, deliveries: int) -> Delivery:
    """A trimmed entry still pending comes back with no fields (nothing to do); an entry
    whose fields lack ``msg`` is not one of our messages and must be dead-lettered."""
    eid = as_text(entry_id)
    if not fields:
        return Delivery(stream, eid, b"", deliveries)
    raw = fields.get(FIELD)
    if raw is None:
        names = ", ".join(sorted(as_text(k) for k in fields))
        flat = " ".join(f"{as_text(k)}={as_text(v)}" for k, v in fields.items())
        return Delivery(
            stream, eid, flat.encode(), deliveries, problem=f"missing field 'msg' (got: {names})"
        )
    return Delivery(stream, eid, raw, deliveries)


class RedisTransport:
    """``Transport`` over a real Redis server."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def publish(self, stream: str, payload: bytes, maxlen: int | None = None) -> str:
        try:
            entry_id = await self.client.xadd(
                stream, {FIELD: payload}, maxlen=maxlen, approximate=True
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc
        return as_text(entry_id)

    async def publish_many(
        self, stream: str, payloads: Sequence[bytes], maxlen: int | None = None
    ) -> list[str]:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for payload in payloads:
                    pipe.xadd(stream, {FIELD: payload}, maxlen=maxlen, approximate=True)
                ids = await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc
        return [as_text(i) for i in ids]

    async def ensure_group(self, stream: str, group: str) -> None:
        """Create ``group`` at ``0`` (every entry the stream holds), with the stream.

        Also after a failover whose new primary lacks the group: replication is one
        ordered stream, so a group the replica never got was created (and everything after
        it written) in the lost window, and the entries the replica holds are exactly
        those the group was to read from its start. ``$`` would skip entries never
        handled; "the last id this process acknowledged" would skip entries other
        consumers of the group still had pending. A replay is harmless: handlers are
        idempotent (plan done marks and the gate's RESUME by client order id, fill trade
        ids, effect keys), see docs/redis-failover.md."""
        try:
            await self.client.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc

    async def read(
        self, streams: Sequence[str], group: str, consumer: str, count: int, block_ms: int
    ) -> list[Delivery]:
        try:
            reply = await self.client.xreadgroup(
                group,
                consumer,
                {s: ">" for s in streams},
                count=count,
                block=block_ms if block_ms > 0 else None,
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc
        return self._deliveries(reply, 1)

    async def read_own_pending(
        self, stream: str, group: str, consumer: str, count: int
    ) -> list[Delivery]:
        try:
            reply = await self.client.xreadgroup(group, consumer, {stream: "0"}, count=count)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc
        return self._deliveries(reply, 2)

    @staticmethod
    def _deliveries(reply: Any, deliveries: int) -> list[Delivery]:
        out: list[Delivery] = []
        for stream_name, entries in reply or []:
            name = as_text(stream_name)
            for entry_id, fields in entries:
                out.append(_delivery(name, entry_id, fields, deliveries))
        return out

    async def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        try:
            await self.client.xack(stream, group, *entry_ids)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc

    async def reclaim(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[Delivery]:
        try:
            reply = await self.client.xautoclaim(
                stream, group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
            )
            claimed = reply[1]
            if not claimed:
                return []
            first, last = as_text(claimed[0][0]), as_text(claimed[-1][0])
            pending = await self.client.xpending_range(
                stream, group, min=first, max=last, count=len(claimed) + 10, consumername=consumer
            )
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc
        times = {str(as_text(p["message_id"])): int(p["times_delivered"]) for p in pending}
        return [
            _delivery(stream, entry_id, fields, max(2, times.get(as_text(entry_id), 2)))
            for entry_id, fields in claimed
        ]

    async def mark_alive(self, key: str, ttl_ms: int) -> None:
        try:
            await self.client.set(key, "1", px=ttl_ms)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc

    async def adopt_orphans(
        self,
        stream: str,
        group: str,
        consumer: str,
        alive_key: Callable[[str], str],
        min_idle_ms: int,
        count: int,
    ) -> list[Delivery]:
        """XCLAIM with a minimum idle time: of two live consumers adopting at once, only
        the first gets an entry (the claim resets its idle time)."""
        out: list[Delivery] = []
        try:
            for info in await self.client.xinfo_consumers(stream, group):
                name = as_text(info["name"])
                if name == consumer or await self.client.exists(alive_key(name)):
                    continue
                if not int(info["pending"]):
                    if int(info.get("idle", 0)) > FORGET_IDLE_CONSUMER_MS:
                        await self.client.xgroup_delconsumer(stream, group, name)
                    continue
                pending = await self.client.xpending_range(
                    stream, group, min="-", max="+", count=count - len(out), consumername=name
                )
                times = {as_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
                if not times:
                    continue
                claimed: list[Any] = await self.client.xclaim(
                    stream, group, consumer, min_idle_ms, list(times)
                )
                out += [
                    _delivery(stream, eid, fields, times.get(as_text(eid), 1) + 1)
                    for eid, fields in claimed
                ]
                if len(out) >= count:
                    break
        except ResponseError as exc:
            if "NOGROUP" in str(exc) or "no such key" in str(exc):  # the stream went (flush)
                return out
            raise
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc
        return out

    async def count_failure(self, key: str, field: str) -> int:
        try:
            return int(await self.client.hincrby(key, field, 1))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc

    async def clear_failure(self, key: str, field: str) -> None:
        try:
            await self.client.hdel(key, field)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise TransportClosed(str(exc)) from exc

    async def pending_count(self, stream: str, group: str) -> int:
        info = await self.client.xpending(stream, group)
        return int(info["pending"])

    async def stream_length(self, stream: str) -> int:
        return int(await self.client.xlen(stream))

    async def close(self) -> None:
        await self.client.aclose()


async def stream_messages(client: aioredis.Redis, stream: str) -> list[Any]:
    """Every message on ``stream``, decoded, oldest first; garbage entries skipped (they
    are on the dead-letter stream already). For summaries and checkers, not hot paths."""
    out = []
    entries: list[Any] = list(await client.xrange(stream) or [])
    for _, fields in entries:
        raw = (fields or {}).get(b"msg")
        if raw is None:
            continue
        try:
            out.append(decode(raw))
        except DecodeError:
            continue
    return out
