"""``quantum service watchdog``: in a deployment of separate processes it is what stops
the entries when an exit-path service goes silent, and lifts the stop when it beats
again; two copies agree; it beats itself and ends on SIGTERM with 0."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis

from quantum_trader.bus.codec import encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.schemas import Heartbeat
from quantum_trader.clock import SimClock
from quantum_trader.config import load_settings
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops.watchdog_service import build_watchdog
from quantum_trader.runtime.safety_state import SafetyStore, establish_epoch
from quantum_trader.runtime.supervisor import EXIT_PATH
from tests.integration.ops.run_process import start, stop

T0 = 1_700_000_000_000


async def beat(client: aioredis.Redis, keys: Keys, service: str) -> None:
    heartbeat = Heartbeat(
        msg_id=f"hb-{service}", ts_event=T0, ts_init=T0, source=service, service=service,
        instance="host-a:1", pid=1, status="running", started_at=T0,
    )  # fmt: skip
    await client.set(keys.health(service), encode(heartbeat), px=60_000)


async def fail_safe(client: aioredis.Redis, keys: Keys) -> tuple[str, list[str]] | None:
    raw = await client.get(keys.risk_supervisor)
    if raw is None:
        return None
    data = json.loads(raw)
    return data["mode"], data["reasons"]


async def test_two_watchdogs_stop_entries_when_the_exit_brain_is_silent_and_lift_it(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis, keys: Keys, tmp_path: Path
) -> None:
    settings = load_settings(
        redis_url=redis_server.url, key_prefix=keys.prefix, data_dir=tmp_path / "var"
    )
    store = SafetyStore(settings.data_dir, keys.prefix)
    epoch, lost = await establish_epoch(redis_client, keys, store, "first")
    assert not lost
    timer = SimClock(T0)
    watchdogs = [build_watchdog(settings, redis_client, epoch)[0] for _ in range(2)]
    for watch in watchdogs:
        watch.timer = timer
    for service in EXIT_PATH:
        await beat(redis_client, keys, service)
    for watch in watchdogs:
        assert await watch.check_health() == ()
    assert await fail_safe(redis_client, keys) is None

    await redis_client.delete(keys.health("exit-brain"))  # the exit brain died
    for watch in watchdogs:
        assert await watch.check_health() == ()  # silent, not yet for down_after_ms
    timer.advance(watchdogs[0].down_after_ms / 1000)
    for watch in watchdogs:
        assert await watch.check_health() == ("service_down:exit-brain",)
        assert await fail_safe(redis_client, keys) == (
            "REDUCE_ONLY", ["service_down:exit-brain"],
        )  # fmt: skip

    await beat(redis_client, keys, "exit-brain")  # restarted by its unit
    for watch in watchdogs:
        assert await watch.check_health() == ()
    assert await fail_safe(redis_client, keys) is None


def test_the_process_beats_fails_safe_with_no_exit_path_and_ends_on_sigterm(
    redis_server: EmbeddedRedis, keys: Keys, tmp_path: Path
) -> None:
    env = {
        "QUANTUM_REDIS_URL": redis_server.url,
        "QUANTUM_KEY_PREFIX": keys.prefix,
        "QUANTUM_DATA_DIR": str(tmp_path / "var"),
    }
    proc = start(["service", "watchdog"], env, tmp_path)
    client = redis.Redis.from_url(redis_server.url)
    try:
        deadline = time.monotonic() + 60  # bounded: its first beat, then down_after_ms
        seen_beat = written = False
        while time.monotonic() < deadline and not (seen_beat and written):
            if proc.poll() is not None:
                break
            seen_beat = seen_beat or client.exists(keys.health("watchdog")) == 1
            raw = client.blpop([f"{keys.prefix}never"], timeout=0.2)  # a bounded wait
            assert raw is None
            found = client.get(keys.risk_supervisor)
            written = found is not None
        assert seen_beat, stop(proc)
        assert written, stop(proc)
        reasons = json.loads(client.get(keys.risk_supervisor) or b"{}")["reasons"]
        assert reasons == sorted(f"service_down:{s}" for s in EXIT_PATH)
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, (out, err)
    finally:
        stop(proc)
        client.close()
