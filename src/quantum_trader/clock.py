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
from collections.abc import Awaitable, Callable
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


class SteadyClock:
    """Real time for durations — liveness, heartbeats, restart and reconnect backoff.

    The Unix time when it was made, then the monotonic clock: it never jumps when the
    machine's wall clock is set, and it runs at wall speed whatever clock the market
    runs on (a heartbeat's TTL in Redis is real time). Its sleeps are real sleeps.
    """

    def __init__(self) -> None:
        self._origin_ms = int(time.time() * 1000)
        self._at = time.monotonic()

    def now_ms(self) -> int:
        return self._origin_ms + int((time.monotonic() - self._at) * 1000)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


_STEADY = SteadyClock()


def steady_clock() -> Clock:
    """This process's :class:`SteadyClock`: what the supervisor, the service runtime and
    the consumers time liveness and backoff with, unless a test gives them a SimClock."""
    return _STEADY


class VenueClock:
    """The exchange's time, re-read by ``sync`` and run on between reads at wall speed.

    For a real-time paper run against a replaying simulator (its market is in 2024):
    intents, plans and cooldowns then age in the market's time, not the wall's. It never
    goes backwards.
    """

    poll_s = 0.05  # how often a sleeper looks at the clock again

    def __init__(self, read: Callable[[], Awaitable[int]]) -> None:
        self._read = read
        self._base_ms = 0
        self._at = time.monotonic()

    async def sync(self) -> None:
        venue = await self._read()
        self._base_ms, self._at = max(venue, self.now_ms()), time.monotonic()

    def now_ms(self) -> int:
        return self._base_ms + int((time.monotonic() - self._at) * 1000)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of the venue's time: a replay faster than real time moves the
        clock at each ``sync``, so periodic work keeps pace with the market."""
        deadline = self.now_ms() + int(max(0.0, seconds) * 1000)
        while (left := deadline - self.now_ms()) > 0:
            await asyncio.sleep(min(left / 1000, self.poll_s))
        await asyncio.sleep(0)


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


async def pause(clock: Clock, seconds: float, stop: asyncio.Event) -> bool:
    """Sleep ``seconds`` of ``clock``'s time or until ``stop`` is set, whichever comes
    first; True when stopped. A loop that pauses this way ends at once on stop, even on a
    clock that stands still (a simulated one, a stepped run's)."""
    if stop.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
    return stop.is_set()
