"""Building a dashboard for a target: the system ``quantum dashboard`` finds (a running
paper run's namespace, else the configured one) or the parts of a paper run it is
embedded in (``quantum run --dashboard PORT``), and its logins."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from quantum_trader.bootstrap.parts import SystemParts
from quantum_trader.bus.keys import Keys
from quantum_trader.clock import SystemClock
from quantum_trader.config import Settings
from quantum_trader.dashboard.auth import PasswordBook
from quantum_trader.dashboard.context import DashboardContext
from quantum_trader.infra.connect import resolve_target
from quantum_trader.infra.redis_connect import master_client, uses_sentinel


class MarketTimeClock:
    """A paper run's market time as seen from outside it: the close of the last bar
    observed, run on at wall speed until the next (a stepped run's market clock is not
    shared; its bars are). Used to stamp and time actions on such a run."""

    def __init__(self) -> None:
        self._base, self._at = 0, time.monotonic()

    def observe(self, ms: int) -> None:
        if ms > self.now_ms():
            self._base, self._at = ms, time.monotonic()

    def now_ms(self) -> int:
        if self._base == 0:
            return SystemClock().now_ms()
        return self._base + int((time.monotonic() - self._at) * 1000)

    async def sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)


def logins(settings: Settings) -> tuple[PasswordBook, str | None]:
    """The configured users; none configured: one ``admin`` with a generated password
    (returned, to be shown once to whoever started the dashboard)."""
    if settings.dashboard.users:
        return PasswordBook.from_settings(settings.dashboard), None
    book, password = PasswordBook.generated()
    return book, password


def for_target(settings: Settings) -> DashboardContext:
    """The system `quantum status` would show: a running paper run's own namespace
    (its times are market time), else the configured namespace (wall clock)."""
    target = resolve_target(settings)
    client = master_client(settings, target.url, socket_connect_timeout=2.0)
    keys = Keys(target.shown_prefix)
    if target.run_prefix:
        label = f"paper run {target.run_id} (market time)"
        clock: MarketTimeClock | SystemClock = MarketTimeClock()
    else:
        label, clock = f"system {settings.mode.value} ({keys.prefix})", SystemClock()
    return DashboardContext(
        settings=settings,
        redis=client,
        keys=keys,
        clock=clock,
        control=tuple(Keys(p) for p in target.prefixes),
        run_id=target.run_id,
        label=label,
    )


def for_parts(parts: SystemParts, run_id: str) -> DashboardContext:
    """A paper run's own dashboard: its namespace, its market clock, its instruments;
    a connection pool of its own on the run's Redis."""
    if uses_sentinel(parts.settings):  # a pool of its own that follows a failover too
        client = master_client(parts.settings)
    else:
        kwargs = dict(parts.redis.connection_pool.connection_kwargs)
        client = aioredis.Redis(connection_pool=aioredis.ConnectionPool(**kwargs))
    return DashboardContext(
        settings=parts.settings,
        redis=client,
        keys=parts.bus.keys,
        clock=parts.clock,
        run_id=run_id,
        instruments=dict(parts.instruments),
        label=f"paper run {run_id} (market time)",
    )
