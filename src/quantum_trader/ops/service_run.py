"""What every ``quantum service`` process does the same way: find the system's state
marker, run its loops until a stop, its exit code telling whoever runs it whether
to restart it, and tell its systemd unit (if any) that it is ready, alive, stopping.

The unit's watchdog is fed from the heartbeat loop, at each beat it writes: a beat is
only written while every consumer loop turns (``ServiceRuntime``), so a hung or stalled
loop stops feeding the watchdog, and systemd restarts the process. ``READY=1`` goes out
with the first beat, i.e. once the loops are proven to run, not when the process starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.config import Settings
from quantum_trader.infra.data_dir import new_run_id
from quantum_trader.runtime.safety_state import SafetyStore, establish_epoch
from quantum_trader.runtime.sd_notify import SystemdNotify
from quantum_trader.services.runtime import HealthWriter, ServiceRuntime


async def system_epoch(redis: aioredis.Redis, keys: Keys, settings: Settings, name: str) -> str:
    """A service started on its own (a multi-host deployment) finds the system's marker
    (or, the system's first process, writes it)."""
    store = SafetyStore(settings.data_dir, keys.prefix)
    epoch, lost = await establish_epoch(redis, keys, store, new_run_id())
    if lost:
        print(f"{name}: Redis lost this system's state: entries halted until a reconcile "
              "round and `quantum state confirm`", flush=True)  # fmt: skip
    return epoch


def systemd_notify(settings: Settings) -> SystemdNotify:
    """The process's unit, as systemd described it (a no-op without ``NOTIFY_SOCKET``)."""
    return SystemdNotify(settings.notify_socket, settings.watchdog_usec)


class NotifyingHealth:
    """A heartbeat writer that also feeds the unit: ``READY=1`` at the first beat of a
    running service, ``WATCHDOG=1`` at every later one (sent before the write, so a
    Redis that refuses it does not get a working process killed; the alert on the
    stale heartbeat is the metrics' job)."""

    def __init__(self, inner: HealthWriter, runtime: ServiceRuntime, unit: SystemdNotify):
        self.inner, self.runtime, self.unit = inner, runtime, unit
        self.ready = False

    async def write(self, key: str, payload: bytes, ttl_ms: int) -> None:
        if self.runtime.status == "running":
            if not self.ready:
                self.ready = self.unit.ready(f"{self.runtime.name}: running")
            self.unit.watchdog()
        await self.inner.write(key, payload, ttl_ms)


def _check_pace(name: str, interval_s: float, unit: SystemdNotify) -> None:
    watchdog_s = unit.watchdog_s
    if watchdog_s is not None and interval_s > watchdog_s / 2:
        print(f"{name}: heartbeat_interval_ms ({interval_s * 1000:.0f}) is more than half "
              f"the unit's WatchdogSec ({watchdog_s:g}s): systemd may restart a healthy "
              "process; lower it or render the units again", flush=True)  # fmt: skip


async def run_loops(runtime: ServiceRuntime, name: str, unit: SystemdNotify | None = None) -> int:
    """Run ``runtime`` (its signal handlers installed): 0 after a requested stop, 1 when
    a loop died — a non-zero exit, so the unit or the runner restarts the process.
    ``unit``: its systemd unit, told READY / WATCHDOG from the heartbeat, then STOPPING."""
    announce: asyncio.Task[None] | None = None
    if unit is not None and unit.enabled:
        _check_pace(name, runtime.heartbeat_interval_s, unit)
        runtime.health = NotifyingHealth(runtime.health, runtime, unit)
        announce = asyncio.create_task(_stopping(runtime.stop_event, unit, name))
    try:
        await runtime.run()
    except Exception as exc:
        print(f"{name}: {type(exc).__name__}: {exc}", flush=True)
        if unit is not None:
            unit.stopping(f"{name}: loop died: {type(exc).__name__}")
        return 1
    finally:
        if announce is not None:
            announce.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announce
        if unit is not None:
            unit.close()
    return 0


async def _stopping(stop: asyncio.Event, unit: SystemdNotify, name: str) -> None:
    await stop.wait()  # SIGTERM (or a loop that ended): say so at once, not after cleanup
    unit.stopping(f"{name}: stopping")


async def keep_alive(
    unit: SystemdNotify,
    name: str,
    interval_s: float,
    stop: asyncio.Event,
    alive: Callable[[], Awaitable[bool]],
) -> None:
    """For a process with no heartbeat loop of its own (the metrics service, the
    dashboard): READY=1 at once, then WATCHDOG=1 every ``interval_s`` while ``alive()``
    says its work goes on, until ``stop``; then STOPPING=1. A blocked event loop stops
    the pings (its server is blocked too), and so does a dead server (``alive`` False:
    it returns before ``stop``). Without a unit it only watches ``alive``."""
    pace = min(interval_s, unit.watchdog_s / 3) if unit.watchdog_s else interval_s
    unit.ready(f"{name}: running")
    try:
        while not stop.is_set():
            if not await alive():
                return
            unit.watchdog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pace)
    finally:
        unit.stopping(f"{name}: stopping")
        unit.close()
