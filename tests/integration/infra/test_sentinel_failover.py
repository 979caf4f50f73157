"""Redis fails over under a running system, twice, and every component rides through.

A real primary (AOF) with one replica and three sentinels (quorum 2, each with its own
password), all redis-server processes. The system connects only through the settings
(``redis.sentinels``, ``master_name``, ``password``, ``sentinel_password``,
``wait_replicas``, ``wait_timeout_ms``) and the one connection factory. The primary is
SIGKILLed; Sentinel promotes the replica; then the old primary comes back as a replica
and the new one is killed in turn. Throughout:

* the bus consumers carry on: what was acknowledged after a successful WAIT survives,
  entries a consumer that died with the primary left pending are reclaimed
  (XAUTOCLAIM) on the new primary, a group the new primary lacks is re-created (at 0:
  the replay changes nothing, each effect happens once);
* the apply layer's entry gate reserves atomically on the new primary, its Lua scripts
  re-loaded after NOSCRIPT; with the only replica gone, WAIT comes back short and the
  entry is not placed (``not_durable``);
* a ``quantum service watchdog`` process configured with the sentinels beats on every
  primary in turn and never exits.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import RedisEffectStore, SetKey
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import Message, Plan
from quantum_trader.bus.transport import Delivery, TransportClosed
from quantum_trader.clock import SystemClock
from quantum_trader.config import Settings, load_settings
from quantum_trader.decide import reasons
from quantum_trader.domain.enums import PlanAction, PlanKind, PositionSide
from quantum_trader.infra.redis_connect import master_client
from quantum_trader.services.durability import Durability
from tests.integration.apply.rig import ApplyRig, make_rig
from tests.integration.infra.sentinel_rig import (
    MASTER,
    PASSWORD,
    SENTINEL_PASSWORD,
    Node,
    Topology,
    poll,
)
from tests.integration.ops.run_process import start, stop

KEYS = Keys("fo:")
SERVICE_KEYS = Keys("fo-svc:")
FAST = ConsumerConfig(block_ms=100, reclaim_idle_ms=600_000, reclaim_interval_ms=100)


def plan(n: int) -> Plan:
    return Plan(
        msg_id=f"m{n}", ts_event=n, ts_init=n, source="test", plan_id=f"plan-{n}",
        kind=PlanKind.OPEN, symbol="ETHUSDT", side=PositionSide.SHORT,
        action=PlanAction.OPEN, qty=Decimal("0.01"), stop_price=Decimal("3100"),
        created_at=n, expires_at=n + 60_000,
    )  # fmt: skip


@dataclass
class Handled:
    """What a consumer's handler did: each plan's effect once, however often delivered."""

    effects: RedisEffectStore
    applied: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)

    async def handle(self, message: Message, delivery: Delivery) -> None:
        assert isinstance(message, Plan)
        effect = f"{delivery.stream}:{message.plan_id}"
        self.delivered[effect] += 1
        if await self.effects.apply_once(effect, [SetKey(KEYS.prefix + f"done:{effect}", "1")]):
            self.applied[effect] += 1

    def has(self, stream: str, plans: Sequence[Plan]) -> bool:
        return all(self.applied[f"{stream}:{p.plan_id}"] for p in plans)


@pytest.fixture
async def topology(tmp_path: Path) -> AsyncIterator[Topology]:
    topo = Topology(tmp_path / "redis")
    try:
        await topo.start()
        yield topo
    finally:
        topo.stop()


def sentinel_settings(topo: Topology, tmp_path: Path) -> Settings:
    return load_settings(
        key_prefix=KEYS.prefix,
        data_dir=tmp_path / "var",
        redis={
            "sentinels": topo.addresses,
            "master_name": MASTER,
            "password": PASSWORD,
            "sentinel_password": SENTINEL_PASSWORD,
            "wait_replicas": 1,
            "wait_timeout_ms": 500,
        },
    )


async def publish(bus: Bus, stream: str, plans: Sequence[Plan]) -> None:
    """Publish once the primary takes writes (a retry may add an entry twice: the
    consumers' effects are idempotent, which is the point)."""

    async def attempt() -> bool | None:
        try:
            await bus.publish_many(stream, list(plans))
        except (TransportClosed, RedisError):
            return None
        return True

    await poll(f"publish to {stream}", attempt)


async def durable(durability: Durability) -> str | None:
    """WAIT's verdict once a primary answers it (None while none does)."""
    try:
        return "durable" if await durability.confirm("test") else "short"
    except RedisError:
        return None


def watchdog(topo: Topology, tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        "QUANTUM_REDIS__SENTINELS": topo.addresses,
        "QUANTUM_REDIS__MASTER_NAME": MASTER,
        "QUANTUM_REDIS__PASSWORD": PASSWORD,
        "QUANTUM_REDIS__SENTINEL_PASSWORD": SENTINEL_PASSWORD,
        "QUANTUM_KEY_PREFIX": SERVICE_KEYS.prefix,
        "QUANTUM_DATA_DIR": str(tmp_path / "service"),
        "QUANTUM_METRICS__BASE_PORT": "0",
    }
    return start(["service", "watchdog"], env, tmp_path)


async def beats_on(node: Node, proc: subprocess.Popen[str]) -> None:
    """The watchdog writes its heartbeat to ``node`` (the primary now): the key removed
    there comes back, and the process never exited meanwhile."""
    key = SERVICE_KEYS.health("watchdog")
    with node.client() as c:
        c.delete(key)

    async def back() -> bool:
        assert proc.poll() is None, stop(proc)
        with node.client() as c:
            return bool(c.exists(key))

    await poll(f"the watchdog beats on {node.name}", back)


async def gate_reserves_atomically(rig: ApplyRig, node: Node, n: int) -> None:
    """Scripts flushed (a primary that never loaded them): two entries race for one
    symbol; the gate lets exactly one through, and it is placed and protected."""
    with node.client() as c:
        c.script_flush()
    first, second = rig.open_plan("SOLUSDT", n), rig.open_plan("SOLUSDT", n + 1)
    outcomes = await asyncio.gather(rig.layer.open(first), rig.layer.open(second))
    assert sorted(o.executed for o in outcomes) == [False, True], outcomes
    refused = next(o for o in outcomes if not o.executed)
    assert refused.reason in (reasons.INFLIGHT, reasons.POSITION_EXISTS), refused
    assert len(rig.orders(entries_only=True)) == 1 + n // 10  # one entry per round
    closed = await rig.layer.ledger.read("SOLUSDT")
    assert closed is not None
    await rig.layer.ledger.replace(None, "SOLUSDT")  # flat again for the next round
    await rig.redis.delete(rig.keys.cooldown_open("SOLUSDT"))


async def test_every_component_rides_through_two_failovers(
    topology: Topology, tmp_path: Path
) -> None:
    settings = sentinel_settings(topology, tmp_path)
    client: aioredis.Redis = master_client(settings, socket_connect_timeout=1.0)
    clock = SystemClock()
    bus = Bus(RedisTransport(client), clock, KEYS)
    handled = Handled(RedisEffectStore(client, KEYS))
    wait = Durability(
        client, KEYS.durability_fence, settings.redis.wait_replicas, settings.redis.wait_timeout_ms
    )
    plans_c = StreamConsumer(bus, [KEYS.apply_plan], "apply-layer", "live", handled.handle,
                             config=FAST)  # fmt: skip
    fills_c = StreamConsumer(bus, [KEYS.fills], "ledger", "live", handled.handle, config=FAST)
    rig = await make_rig(client, Keys("fo-gate:"), cooldown_ms=0)
    rig.layer.durability = Durability(
        client, rig.keys.durability_fence, settings.redis.wait_replicas, 500
    )
    proc = watchdog(topology, tmp_path)
    stop_all = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        # A consumer of the plan group takes five entries and dies with the primary.
        await plans_c.start()
        await publish(bus, KEYS.apply_plan, [plan(i) for i in range(5)])
        orphaned = await bus.transport.read([KEYS.apply_plan], "apply-layer", "dead", 10, 0)
        assert len(orphaned) == 5
        tasks = [asyncio.create_task(c.run(stop_all)) for c in (plans_c, fills_c)]
        batch_a = [plan(i) for i in range(5, 40)]
        await publish(bus, KEYS.apply_plan, batch_a)
        await publish(bus, KEYS.fills, batch_a)
        await poll("batch A handled", lambda: handled.has(KEYS.apply_plan, batch_a))
        await poll("batch A handled", lambda: handled.has(KEYS.fills, batch_a))
        await gate_reserves_atomically(rig, topology.data["a"], 0)
        await beats_on(topology.data["a"], proc)
        assert await wait.confirm("batch A") is True  # on the replica: it must survive

        # -- failover 1: the primary dies, the replica is promoted ----------------------
        topology.data["a"].kill()
        batch_b = [plan(i) for i in range(40, 70)]
        await publish(bus, KEYS.apply_plan, batch_b)
        await topology.promoted("b")
        b = topology.data["b"]
        with b.client() as c:
            for p in batch_a:  # acknowledged with WAIT: nothing of it was lost
                assert c.exists(KEYS.effect(f"{KEYS.apply_plan}:{p.plan_id}"))
            c.xgroup_destroy(KEYS.fills, "ledger")  # a group this primary never got
        plans_c.config.reclaim_idle_ms = 300  # the dead consumer's entries are idle now
        await publish(bus, KEYS.fills, batch_b)
        await poll("batch B handled on b", lambda: handled.has(KEYS.apply_plan, batch_b))
        await poll("batch B handled on b", lambda: handled.has(KEYS.fills, batch_b))
        orphans = [plan(i) for i in range(5)]
        await poll("orphans reclaimed on b", lambda: handled.has(KEYS.apply_plan, orphans))
        assert plans_c.stats.reclaimed >= 5
        with b.client() as c:
            groups = [g["name"] for g in c.xinfo_groups(KEYS.fills)]
        assert groups == [b"ledger"]  # re-created, and it replayed the stream from 0
        assert sum(handled.delivered.values()) > sum(handled.applied.values())
        # The only replica is gone: WAIT is short, and no entry order goes out.
        assert await poll("WAIT answered on b", lambda: durable(wait)) == "short"
        lonely = await rig.layer.open(rig.open_plan("BNBUSDT", 1))
        assert (lonely.executed, lonely.reason) == (False, reasons.NOT_DURABLE)
        assert not [o for o in rig.orders(entries_only=True) if o.symbol == "BNBUSDT"]
        assert not await client.exists(rig.keys.inflight("BNBUSDT"))  # released
        await beats_on(b, proc)

        # -- the old primary returns as a replica; failover 2 goes back to it -----------
        topology.data["a"].start()
        await topology.in_sync("a", timeout_s=60)
        assert await poll("WAIT answered", lambda: durable(wait)) == "durable"
        await gate_reserves_atomically(rig, b, 10)
        b.kill()
        batch_c = [plan(i) for i in range(70, 100)]
        await publish(bus, KEYS.apply_plan, batch_c)
        await publish(bus, KEYS.fills, batch_c)
        await topology.promoted("a")
        await poll("batch C handled on a", lambda: handled.has(KEYS.apply_plan, batch_c))
        await poll("batch C handled on a", lambda: handled.has(KEYS.fills, batch_c))
        await beats_on(topology.data["a"], proc)
        for task in tasks:
            assert not task.done()  # no loop died
    finally:
        stop_all.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        stop(proc)
        await client.aclose()
    expected = {f"{KEYS.apply_plan}:{p.plan_id}" for p in (*orphans, *batch_a, *batch_b, *batch_c)}
    expected |= {f"{KEYS.fills}:{p.plan_id}" for p in (*batch_a, *batch_b, *batch_c)}
    assert handled.applied == Counter(expected)  # each effect exactly once, none lost
    assert plans_c.stats.reconnects >= 2 and fills_c.stats.reconnects >= 2
