"""FAILURES #14: "a 15-minute safe mode silently blocking everything; 67k backlog; dedupe
window and lock window both 60 s" — invisible mode with unknown trigger; coupled TTLs."""

from __future__ import annotations

import json
from decimal import Decimal

from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.domain.enums import PositionSide
from quantum_trader.services.entry_gate import GateAnswer, Lease
from quantum_trader.services.risk_guard import RiskGuard, RiskGuardConfig
from tests.integration.apply.rig import ApplyRig


async def test_failure_14_a_blocking_mode_is_written_with_its_reasons_and_announced(
    rig: ApplyRig,
) -> None:
    guard = RiskGuard(
        bus=rig.bus,
        redis=rig.redis,
        exchange=rig.exchange,
        clock=rig.clock,
        config=RiskGuardConfig(risk=RiskConfig()),
    )
    await guard.tick()
    state = json.loads(await rig.redis.get(rig.keys.risk_state))
    assert state["mode"] == "NORMAL" and state["reasons"] == []
    await rig.redis.set(rig.keys.risk_kill_switch, json.dumps({"reason": "drill"}))
    await guard.tick()
    state = json.loads(await rig.redis.get(rig.keys.risk_state))
    assert state["mode"] == "HALT" and state["reasons"] == ["kill_switch"]
    assert state["since"] == rig.clock.now_ms()
    (event,) = [e for e in await rig.events() if e.risk_mode and e.risk_mode.value == "HALT"]
    assert event.kind == "risk_mode_changed" and "kill_switch" in event.detail
    assert event.evidence["added"] == "kill_switch"

    c = rig.consumer("a")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan("ETHUSDT", 1))
    await rig.drain(c)
    (result,) = await rig.results()
    assert (result.executed, result.reason) == (False, "risk_halt")  # says why


async def test_failure_14_the_inflight_lease_is_independent_of_cooldown_and_dedupe(
    rig: ApplyRig,
) -> None:
    limits, apply = GateLimits(), ApplyConfig()
    assert len({limits.lease_ms, apply.cooldown_ms, limits.plan_done_ttl_ms}) == 3
    assert limits.lease_ms > apply.cooldown_ms
    now = rig.clock.now_ms()
    lease = Lease("p1", "qe-1", PositionSide.LONG, Decimal(200), now)
    verdict = await rig.layer.gate.check_and_reserve(
        plan_id="p1",
        symbol="ETHUSDT",
        side=PositionSide.LONG,
        notional=Decimal(200),
        expires_at=now + 30_000,
        lease=lease,
        now=now,
    )
    assert verdict.answer is GateAnswer.ALLOW
    lease_ttl = await rig.redis.pttl(rig.keys.inflight("ETHUSDT"))
    done_ttl = await rig.redis.pttl(rig.keys.plan_done("p1"))
    assert lease_ttl > apply.cooldown_ms  # the lock outlives the cooldown window
    assert done_ttl > lease_ttl  # dedupe outlives the lock: a retry after expiry is seen
    await rig.layer.gate.finish(
        "p1",
        "ETHUSDT",
        "done",
        apply.cooldown_ms,
        (rig.keys.apply_result, b"{}", None),
        now=rig.clock.now_ms(),
    )
    cooldown_ttl = await rig.redis.pttl(rig.keys.cooldown_open("ETHUSDT"))
    assert 0 < cooldown_ttl <= apply.cooldown_ms < lease_ttl
    assert await rig.redis.pttl(rig.keys.plan_done("p1")) > apply.cooldown_ms
