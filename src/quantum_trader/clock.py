"""Time as a dependency: a ``Clock`` interface, the system clock and a simulated clock.

Nothing in ``domain/`` or ``decide/`` reads the wall clock; services receive a Clock and
pass ``now`` into decisions, so the same code runs live, in paper at ×N speed and in a
backtest, and tests are exact (after trio's MockClock).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Wall-clock time, optionally sped up ×``speed`` from a chosen origin (paper mode)."""

    def __init__(self, speed: float = 1.0, origin_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._wall0 = time.time()
        self._origin_ms = origin_ms if origin_ms is not None else int(self._wall0 * 1000)

    def now_ms(self) -> int:
        return self._origin_ms + int((time.time() - self._wall0) * 1000 * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class SimClock:
    """A simulated clock that moves only when told to.

    ``advance`` / ``set`` move time and wake every sleeper whose deadline has passed,
    in deadline order. ``sleep`` parks the caller until the clock reaches its deadline.
    """

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ms(self) -> int:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + int(seconds * 1000), next(self._seq), fut))
        await fut

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a simulated clock never goes backwards")
        self._now = now_ms
        while self._sleepers and self._sleepers[0][0] <= now_ms:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def advance(self, seconds: float) -> None:
        self.set(self._now + int(seconds * 1000))

    def next_deadline(self) -> int | None:
        """Earliest pending sleeper deadline, for a driver that runs 'as fast as events allow'."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None
