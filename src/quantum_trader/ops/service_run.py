"""What every ``quantum service`` process does the same way: find the system's state
marker, and run its loops until a stop, its exit code telling whoever runs it whether
to restart it."""

from __future__ import annotations

import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.config import Settings
from quantum_trader.infra.data_dir import new_run_id
from quantum_trader.runtime.safety_state import SafetyStore, establish_epoch
from quantum_trader.services.runtime import ServiceRuntime


async def system_epoch(redis: aioredis.Redis, keys: Keys, settings: Settings, name: str) -> str:
    """A service started on its own (a multi-host deployment) finds the system's marker
    (or, the system's first process, writes it)."""
    store = SafetyStore(settings.data_dir, keys.prefix)
    epoch, lost = await establish_epoch(redis, keys, store, new_run_id())
    if lost:
        print(f"{name}: Redis lost this system's state: entries halted until a reconcile "
              "round and `quantum state confirm`", flush=True)  # fmt: skip
    return epoch


async def run_loops(runtime: ServiceRuntime, name: str) -> int:
    """Run ``runtime`` (its signal handlers installed): 0 after a requested stop, 1 when
    a loop died — a non-zero exit, so the unit or the runner restarts the process."""
    try:
        await runtime.run()
    except Exception as exc:
        print(f"{name}: {type(exc).__name__}: {exc}", flush=True)
        return 1
    return 0
