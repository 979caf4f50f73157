"""Three apply-layer processes on one consumer group: racing copies of thousands of
plans, one executor SIGSTOPped mid-stream and woken after its liveness expired, another
SIGKILLed — and the exchange's order history shows one entry order per plan at most,
and every plan one result (invariant 1, DESIGN §2).

Real processes (forked from the chaos harness's zygote, as ``quantum service
apply-layer`` would run them), a real redis-server, the simulated exchange over HTTP
through ccxt; market time comes from a Redis key the test moves.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import redis.asyncio as aioredis

from quantum_trader.bus.codec import decode, encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import FIELD
from quantum_trader.bus.schemas import ApplyResult, Plan, derive_id
from quantum_trader.config import load_settings
from quantum_trader.domain.enums import OrderType, PlanAction, PlanKind, PositionSide
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer
from quantum_trader.exchange.sim.http.faults import HttpFaultProfile, HttpFaults
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.ops.service_main import ServiceSetup
from quantum_trader.ops.stepped.processes import ServiceProcesses
from quantum_trader.runtime.follow_clock import publish_time
from quantum_trader.services.entry_gate import EXECUTOR_GROUP
from tests.integration.apply.rig import PRICES

T0 = 1_700_000_040_000
EXECUTORS = ("apply-layer", "apply-layer#2", "apply-layer#3")
PLANS_PER_SYMBOL, COPIES = 25, 12  # 6 symbols: 150 plans, 1,800 copies racing


def plan_for(sim: SimExchange, symbol: str, n: int, now: int) -> Plan:
    instrument = sim.core.instrument(symbol)
    price = Decimal(PRICES[symbol])
    plan_id = derive_id("plan", symbol, n)
    return Plan(
        msg_id=derive_id("msg", plan_id),
        ts_event=now,
        ts_init=now,
        source="test",
        correlation_id=plan_id,
        plan_id=plan_id,
        kind=PlanKind.OPEN,
        symbol=symbol,
        side=PositionSide.LONG if n % 2 else PositionSide.SHORT,
        action=PlanAction.OPEN,
        qty=instrument.round_qty_down(Decimal(200) / price),
        stop_price=instrument.round_price(price * (Decimal("0.98") if n % 2 else Decimal("1.02"))),
        reference_price=price,
        leverage=5,
        created_at=now,
        expires_at=now + 600_000,
    )


async def until(
    redis: aioredis.Redis, keys: Keys, check: object, what: str, timeout_s: float = 60
) -> None:
    """Wait (bounded) for processes we do not drive: look at ``check`` again whenever a
    result is published, or every 20 ms."""
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await redis.xread({keys.apply_result: "$"}, block=20)


async def test_three_executor_processes_with_sigstop_and_sigkill_enter_each_plan_once(
    tmp_path: Path, redis_server: EmbeddedRedis, keys: Keys
) -> None:
    sim = SimExchange(MatchingCore(seed=7, start_ms=T0))
    for symbol, price in PRICES.items():
        sim.set_price(symbol, Decimal(price))
    server = SimHttpServer(sim, weight_limit=10**9)
    url = await server.start()
    redis = aioredis.Redis.from_url(redis_server.url)
    clock_key = f"test:{keys.prefix}clock"
    settings = load_settings(
        redis_url=redis_server.url,
        key_prefix=keys.prefix,
        data_dir=tmp_path / "var",
        trading_symbols=list(PRICES),
        metrics={"base_port": 0},  # three executors on one host: no fixed ports in a test
    )
    setup = ServiceSetup(
        settings=settings,
        exchange_url=url,
        symbols=tuple(PRICES),
        follow_clock=clock_key,
        run_id="executors",
    )
    procs = ServiceProcesses(EXECUTORS, setup)
    now = T0
    try:
        await publish_time(redis, clock_key, now)
        procs.start_all()

        async def all_beating() -> bool:
            found = [
                k async for k in redis.scan_iter(f"{keys.prefix}consumer:alive:{EXECUTOR_GROUP}:*")
            ]
            return len(found) == len(EXECUTORS)

        await until(redis, keys, all_beating, "three executors beating")
        plans = [
            plan_for(sim, symbol, n, now) for n in range(PLANS_PER_SYMBOL) for symbol in PRICES
        ]
        # Every exchange request now takes 300 ms: an entry's reservation is held for a
        # second or more, so owners can be struck mid-order.
        server.faults = HttpFaults(HttpFaultProfile(latency_ms=300), seed=1)
        for plan in plans[: len(PRICES)]:  # the first plan of every symbol, once
            await redis.xadd(keys.apply_plan, {FIELD: encode(plan)})

        async def owners_mid_order() -> list[str]:
            held = []
            async for key in redis.scan_iter(f"{keys.prefix}plan:done:*"):
                value = (await redis.get(key) or b"").decode()
                if value.startswith("reserved:"):
                    owner = str(json.loads(value[len("reserved:") :]).get("owner", ""))
                    held += [n for n, pid in procs.pids.items() if f"-{pid}-" in owner]
            return sorted(set(held))

        async def two_owners_mid_order() -> bool:
            return len(await owners_mid_order()) >= 2

        await until(redis, keys, two_owners_mid_order, "two executors holding a reservation")
        paused, killed = (await owners_mid_order())[:2]
        paused_pid, killed_pid = procs.pids[paused], procs.pids[killed]
        assert procs.pause(paused)  # SIGSTOP mid-order: it holds its reservation
        procs.stop_extra(killed)  # SIGKILL mid-order, not restarted
        for payload in [encode(p) for p in plans for _ in range(COPIES)]:
            await redis.xadd(keys.apply_plan, {FIELD: payload})  # copies race the live one
        struck = [
            k.decode()
            async for k in redis.scan_iter(f"{keys.prefix}consumer:alive:{EXECUTOR_GROUP}:*")
            if any(f"-{pid}-" in k.decode() for pid in (paused_pid, killed_pid))
        ]

        async def struck_gone() -> bool:  # the stopped and the dead owner's keys expire
            return not await redis.exists(*struck)

        await until(redis, keys, struck_gone, "the struck owners' liveness to expire")
        for plan in plans[: len(PRICES)]:  # copies after that: the live one takes over
            await redis.xadd(keys.apply_plan, {FIELD: encode(plan)})
        now += settings.reclaim_interval_ms  # market time moves: what is pending is adopted
        await publish_time(redis, clock_key, now)
        procs.resume(paused)  # it wakes holding a reservation that may be gone

        async def all_answered() -> bool:
            pending = await redis.xpending(keys.apply_plan, EXECUTOR_GROUP)
            results = await redis.xlen(keys.apply_result)
            return bool(pending["pending"] == 0 and results >= len(plans))

        await until(redis, keys, all_answered, "every plan answered", timeout_s=120)
        results = [decode(f[FIELD]) for _, f in await redis.xrange(keys.apply_result)]
    finally:
        await asyncio.to_thread(procs.stop_all)
        await redis.aclose()
        await server.stop()

    entries = [
        o
        for o in sim.core.all_orders()
        if o.type is OrderType.MARKET and not o.reduce_only and o.client_order_id.startswith("qe")
    ]
    placed = Counter(o.client_order_id for o in entries)
    assert placed and max(placed.values()) == 1, placed.most_common(3)
    assert len(entries) <= len(PRICES)  # one position per symbol, whoever executed
    answered = Counter(r.plan_id for r in results if isinstance(r, ApplyResult))
    assert answered == Counter({p.plan_id: 1 for p in plans})
    executed = [r for r in results if isinstance(r, ApplyResult) and r.executed]
    assert len(executed) == len(entries)
    for symbol in PRICES:
        held = [p for p in sim.core.positions() if p.symbol == symbol and p.qty]
        assert len(held) <= 1
