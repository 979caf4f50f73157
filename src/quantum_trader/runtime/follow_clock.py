"""A clock that follows the time an orchestrator publishes in Redis.

In a stepped run every service is its own process, yet all must agree on market time.
The orchestrator writes ``now_ms`` to a key and publishes it on a channel of the same
name; each process's ``FollowClock`` takes it from there and wakes its sleepers. A per
service skew (a hash next to the clock key, field = service name) lets the chaos run
shift one process's notion of now, forwards or back, to test clock-skew handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools

import redis.asyncio as aioredis

from quantum_trader.clock import steady_clock


def skew_key(clock_key: str) -> str:
    return f"{clock_key}:skew"


class FollowClock:
    """``now_ms`` = the last published time + this service's skew."""

    def __init__(self, redis: aioredis.Redis, key: str, service: str) -> None:
        self.redis = redis
        self.key = key
        self.service = service
        self._base = 0
        self._skew = 0
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None

    def now_ms(self) -> int:
        return self._base + self._skew

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._base + int(seconds * 1000)  # skew moves "now", not the schedule
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        await fut

    async def start(self) -> None:
        """Read the current time once (so ``now_ms`` is valid), then follow it."""
        await self._refresh(None)
        self._task = asyncio.create_task(self._follow(), name="follow-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _set(self, base: int, skew: int) -> None:
        self._base, self._skew = max(self._base, base), skew
        while self._sleepers and self._sleepers[0][0] <= self._base:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    async def _refresh(self, published: bytes | None) -> None:
        raw = published if published is not None else await self.redis.get(self.key)
        skew = await self.redis.hget(skew_key(self.key), self.service)
        self._set(int(raw or 0), int(skew or 0))

    async def _follow(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as channel:
                    await channel.subscribe(self.key)
                    await self._refresh(None)  # whatever was published while away
                    async for message in channel.listen():
                        if message.get("type") == "message":
                            await self._refresh(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarting: reconnect and catch up
                await steady_clock().sleep(0.05)


async def publish_time(redis: aioredis.Redis, key: str, now_ms: int) -> None:
    await redis.set(key, now_ms)
    await redis.publish(key, now_ms)
