"""What the metrics service reads from a real Redis: consumer groups' lag and pending
entries with their ages, dead letters by stream and kind of reason, reconcile repairs,
exit latencies, the risk mode made as strict as every key says, heartbeats and restarts —
and a scrape that cannot read Redis says so instead of failing."""

from __future__ import annotations

import json
import socket

import aiohttp
import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import FIELD, RedisTransport
from quantum_trader.bus.schemas import ApplyResult, Event, Heartbeat
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SimClock
from quantum_trader.domain.enums import PlanAction
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.observability.bus_state import server_ms
from quantum_trader.observability.metrics import serve_metrics
from quantum_trader.observability.metrics_redis import RedisCollector
from tests.unit.observability.exposition import samples

T0 = 1_700_000_000_000
SERVICES = ("apply-layer", "exit-brain")


def collector(redis: aioredis.Redis, keys: Keys) -> RedisCollector:
    return RedisCollector(redis, keys, SERVICES)


async def scraped(c: RedisCollector) -> dict[str, float]:
    await c.refresh()
    return samples(c.collect())


async def test_lag_pending_and_their_ages_per_group(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    now = await server_ms(redis_client)
    for n in range(5):  # a minute old
        await redis_client.xadd(keys.market, {FIELD: b"{}"}, id=f"{now - 60_000 + n}-0")
    await redis_client.xgroup_create(keys.market, "signal-engine", id="0")
    await redis_client.xreadgroup("signal-engine", "c1", {keys.market: ">"}, count=2)
    seen = await scraped(collector(redis_client, keys))
    engine = 'group="signal-engine",stream="market"'
    assert seen[f"quantum_consumer_group_pending{{{engine}}}"] == 2
    assert seen[f"quantum_consumer_group_lag{{{engine}}}"] == 3
    assert 59 <= seen[f"quantum_consumer_group_lag_seconds{{{engine}}}"] < 90
    assert 59 <= seen[f"quantum_consumer_group_oldest_pending_seconds{{{engine}}}"] < 90
    assert seen[f"quantum_consumer_group_consumers{{{engine}}}"] == 1
    brain = 'group="exit-brain",stream="market"'  # never created: it would read everything
    assert seen[f"quantum_consumer_group_lag{{{brain}}}"] == 5
    assert seen[f"quantum_consumer_group_consumers{{{brain}}}"] == 0
    fills = 'group="ledger",stream="fills"'  # no stream at all yet
    assert seen[f"quantum_consumer_group_lag{{{fills}}}"] == 0
    assert seen['quantum_stream_length{stream="market"}'] == 5


async def test_dead_letters_repairs_and_exit_latency_are_running_tallies(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    bus = Bus(RedisTransport(redis_client), SimClock(T0), keys)
    c = collector(redis_client, keys)

    async def dead(entry: str, reason: str) -> None:
        delivery = Delivery(keys.fills, entry, b"garbage")
        await bus.dead_letter(delivery, group="ledger", consumer="c", reason=reason, failures=0)

    seen = await scraped(c)
    assert seen['quantum_dead_letters_total{reason="not_json",stream="fills"}'] == 0  # from 0
    assert seen['quantum_reconcile_repairs_total{kind="DropGhost"}'] == 0
    await dead("1-0", "not JSON: unexpected character")
    await dead("2-0", "handler failed 3x: KeyError: 'x'")
    await bus.publish(keys.events, Event(
        msg_id="e1", ts_event=T0, ts_init=T0, source="position-monitor",
        kind="reconcile_repair", evidence={"repair": "DropGhost"},
    ))  # fmt: skip
    await redis_client.hset(keys.exit_latency, "x-close-1", "250")
    await bus.publish(keys.apply_result, ApplyResult(
        msg_id="r1", ts_event=T0, ts_init=T0, source="apply-layer", plan_id="p1",
        symbol="BTCUSDT", action=PlanAction.FULL_CLOSE, executed=True, reason="executed",
        client_order_id="x-close-1",
    ))  # fmt: skip
    seen = await scraped(c)
    assert seen['quantum_dead_letters_total{reason="not_json",stream="fills"}'] == 1
    assert seen['quantum_dead_letters_total{reason="handler_failed",stream="fills"}'] == 1
    assert seen['quantum_reconcile_repairs_total{kind="DropGhost"}'] == 1
    assert seen["quantum_trigger_to_order_seconds_count"] == 1
    assert seen["quantum_trigger_to_order_seconds_sum"] == 0.25
    assert seen['quantum_trigger_to_order_seconds_bucket{le="0.25"}'] == 1
    assert seen['quantum_trigger_to_order_seconds_bucket{le="0.1"}'] == 0
    await dead("3-0", "not JSON: again")
    seen = await scraped(c)  # only the new entry is read
    assert seen['quantum_dead_letters_total{reason="not_json",stream="fills"}'] == 2
    await redis_client.delete(keys.dead)  # Redis lost the stream: the tally starts again
    await scraped(c)
    await dead("4-0", "poison: delivered 5 times without ack")
    seen = await scraped(c)
    assert seen['quantum_dead_letters_total{reason="poison",stream="fills"}'] == 1
    assert seen['quantum_dead_letters_total{reason="not_json",stream="fills"}'] == 0


async def test_the_risk_mode_is_the_strictest_any_key_says(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    c = collector(redis_client, keys)
    halt = json.dumps({"mode": "HALT", "reasons": ["daily_loss_limit"]})
    await redis_client.set(keys.risk_state, halt)
    held = {"mode": "REDUCE_ONLY", "reasons": ["service_down:exit-brain"]}
    await redis_client.set(keys.risk_supervisor, json.dumps(held))
    seen = await scraped(c)
    assert seen['quantum_risk_mode{mode="HALT"}'] == 1  # the fail-safe does not soften it
    assert seen['quantum_risk_reason{reason="daily_loss_limit"}'] == 1
    assert seen['quantum_risk_reason{reason="service_down:exit-brain"}'] == 1
    assert seen['quantum_risk_reason{reason="service_down:apply-layer"}'] == 0
    assert seen["quantum_fail_safe_engaged"] == 1 and seen["quantum_kill_switch_engaged"] == 0
    await redis_client.set(keys.risk_state, json.dumps({"mode": "NORMAL", "reasons": []}))
    seen = await scraped(c)
    assert seen['quantum_risk_mode{mode="REDUCE_ONLY"}'] == 1
    await redis_client.set(keys.risk_kill_switch, json.dumps({"reason": "test"}))
    seen = await scraped(c)
    assert seen['quantum_risk_mode{mode="HALT"}'] == 1 and seen["quantum_kill_switch_engaged"] == 1
    assert seen["quantum_state_marker_missing"] == 1  # no epoch was ever written here


def beat(service: str, instance: str, status: str = "running") -> bytes:
    return encode(Heartbeat(
        msg_id=f"hb-{service}-{instance}", ts_event=T0, ts_init=T0, source=service,
        service=service, instance=instance, pid=1, status=status, started_at=T0, processed=7,
    ))  # fmt: skip


async def test_heartbeats_say_up_how_old_and_a_new_process_is_a_restart(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    c = collector(redis_client, keys)
    await redis_client.set(keys.health("apply-layer"), beat("apply-layer", "h:1"), px=5_000)
    seen = await scraped(c)
    assert seen['quantum_service_up{service="apply-layer"}'] == 1
    assert seen['quantum_service_up{service="exit-brain"}'] == 0
    assert seen['quantum_heartbeat_age_seconds{service="apply-layer"}'] < 1
    assert seen['quantum_messages_processed_total{service="apply-layer"}'] == 7
    assert seen['quantum_service_restarts_total{service="apply-layer"}'] == 0
    await redis_client.set(keys.health("apply-layer"), beat("apply-layer", "h:2"), px=5_000)
    seen = await scraped(c)
    assert seen['quantum_service_restarts_total{service="apply-layer"}'] == 1
    await redis_client.set(keys.health("apply-layer"), beat("apply-layer", "h:2", "stalled"))
    seen = await scraped(c)
    assert seen['quantum_service_up{service="apply-layer"}'] == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_scrape_without_redis_answers_that_redis_is_down(
    own_redis: EmbeddedRedis, own_redis_client: aioredis.Redis
) -> None:
    port = free_port()
    runner = await serve_metrics(collector(own_redis_client, Keys("q:")), port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as reply:
                assert "quantum_redis_up 1.0" in await reply.text()
            own_redis.stop()
            async with http.get(f"http://127.0.0.1:{port}/metrics") as reply:
                text = await reply.text()
                assert reply.status == 200
        assert "quantum_redis_up 0.0" in text
        assert "quantum_service_up" not in text  # nothing stale is served as current
        assert "process_cpu_seconds_total" in text
    finally:
        await runner.cleanup()
