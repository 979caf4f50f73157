"""``quantum service watchdog``: the fail-safe of a deployment of separate processes.

Inside ``quantum run`` the supervisor watches the heartbeats of the services the exits
depend on (apply layer, exit brain, position monitor); a deployment of ``quantum service``
units has no supervisor, so nobody would stop the entries when the exit brain dies. The
watchdog is that half of the supervisor on its own: every ``watch_interval_s`` it reads
the heartbeats and writes ``quantum:risk:supervisor`` = REDUCE_ONLY with the reasons
``service_down:<name>`` once one has been silent for ``down_after_ms`` (the apply layer's
entry gate reads it), lifts it when they beat again, and checks the state marker (a
Redis that lost the system's state halts entries until ``quantum state confirm``).

It restarts nothing (whatever runs the units does) and needs no exchange. Two copies on
two hosts are safe: both derive the same key from the same heartbeats, so they agree;
each writes its own heartbeat (``watchdog``), so a dead one is seen too.
"""

from __future__ import annotations

import contextlib

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.clock import SystemClock
from quantum_trader.config import SERVICE_NAMES, Settings
from quantum_trader.infra.redis_connect import master_client
from quantum_trader.ops.service_run import run_loops, system_epoch, systemd_notify
from quantum_trader.runtime.safety_state import SafetyStore, StateGuard
from quantum_trader.runtime.supervisor import ServiceSpec, Supervisor
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime

NAME = "watchdog"


def _not_built() -> ServiceRuntime:
    raise RuntimeError("the watchdog watches services; it runs none")


def build_watchdog(
    settings: Settings, redis: aioredis.Redis, epoch: str
) -> tuple[Supervisor, ServiceRuntime]:
    """The heartbeat watch (a supervisor that starts nothing) and the runtime that runs
    it every ``watch_interval_s`` and beats for it."""
    keys = Keys(settings.key_prefix)
    clock = SystemClock()
    bus = Bus(RedisTransport(redis), clock, keys, settings.stream_maxlen)
    store = SafetyStore(settings.data_dir, keys.prefix)
    watch = Supervisor(
        [ServiceSpec(name, _not_built) for name in SERVICE_NAMES],
        redis,
        bus,
        guard=StateGuard(redis, bus, store, epoch),
    )

    async def check() -> None:
        await watch.check_health()

    runtime = ServiceRuntime(
        NAME,
        clock,
        keys,
        RedisHealthWriter(redis),
        jobs=[PeriodicJob("heartbeat-watch", watch.watch_interval_s, check)],
        heartbeat_interval_s=settings.heartbeat_interval_ms / 1000,
        heartbeat_ttl_ms=settings.heartbeat_ttl_ms,
    )
    return watch, runtime


async def run_watchdog_service(settings: Settings, epoch: str = "") -> int:
    """Watch until SIGTERM / SIGINT: 0 then, 1 when its loop died.
    ``settings.redis_url`` is the resolved one; ``epoch``: the state marker its
    orchestrator established ("": find it, or write it as the system's first process)."""
    assert settings.redis_url, "the watchdog needs a resolved redis_url"
    redis = master_client(settings)
    try:
        epoch = epoch or await system_epoch(redis, Keys(settings.key_prefix), settings, NAME)
        _, runtime = build_watchdog(settings, redis, epoch)
        runtime.install_signal_handlers()
        return await run_loops(runtime, NAME, systemd_notify(settings))
    finally:
        with contextlib.suppress(Exception):
            await redis.aclose()
