"""A fail-safe Redis refuses to store (out of memory) is still in force where it can be:
the supervisor keeps its decision, logs it, serves it on ``/health`` and writes it the
moment Redis takes writes again."""

from __future__ import annotations

import aiohttp
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.clock import SimClock
from quantum_trader.infra.embedded_redis import EmbeddedRedis, free_port
from quantum_trader.observability.metrics import serve_metrics
from quantum_trader.observability.metrics_redis import RedisCollector
from quantum_trader.runtime.supervisor import ServiceSpec, Supervisor
from quantum_trader.services.runtime import ServiceRuntime

SERVICES = ("apply-layer", "exit-brain")


def _never_built() -> ServiceRuntime:
    raise AssertionError("the test checks heartbeats only")


async def test_a_fail_safe_redis_cannot_store_is_logged_served_and_written_later(
    own_redis: EmbeddedRedis, own_redis_client: aioredis.Redis
) -> None:
    redis, keys = own_redis_client, Keys("q:")
    bus = Bus(RedisTransport(redis), SimClock(1_700_000_000_000), keys, 10_000)
    supervisor = Supervisor(
        [ServiceSpec(n, _never_built) for n in SERVICES], redis, bus, down_after_ms=0
    )
    port = free_port()
    runner = await serve_metrics(RedisCollector(redis, keys, SERVICES, supervisor=supervisor), port)
    try:
        await redis.config_set("maxmemory", "1")  # every write now fails: OOM
        with capture_logs() as logs:
            down = await supervisor.check_health()  # no heartbeat: both are down
            await supervisor.check_health()  # the retry fails again, logged once
        assert down == ("service_down:apply-layer", "service_down:exit-brain")
        assert not await redis.exists(keys.risk_supervisor)
        assert [e["event"] for e in logs if e["log_level"] == "error"] == [
            "fail-safe not written to Redis"
        ]
        assert any(e["event"] == "fail-safe REDUCE_ONLY" for e in logs)

        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/health") as reply,
        ):
            health = await reply.json()
            status = reply.status
        assert status == 503
        assert health["risk"]["mode"] == "REDUCE_ONLY"  # Redis itself says nothing
        assert health["fail_safe"] == {"reasons": list(down), "written": False, "state_lost": False}

        await redis.config_set("maxmemory", "0")  # memory back
        await supervisor.check_health()
        assert await redis.exists(keys.risk_supervisor)
        assert supervisor.fail_safe()["written"] is True
        events = await redis.xrange(keys.events)
        assert len(events) == 1  # the mode change, announced once it could be

        own_redis.stop()  # Redis gone: /health still answers, with our own view
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/health") as reply,
        ):
            gone = await reply.json()
            assert reply.status == 503
        assert gone["ok"] is False and "store_error" in gone
        assert gone["fail_safe"]["reasons"] == list(down)
    finally:
        await runner.cleanup()
