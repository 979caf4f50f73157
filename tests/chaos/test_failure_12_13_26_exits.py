"""FAILURES #12, #13 and #26.

#12 "close plans with close_qty=0 for positions that no longer existed, marked EXECUTE" —
plans not checked against the live position at execution.
#13 "every exit blocked while equity fell 8,100 → 4,150" — an entry-style risk gate
(kill score ≥ threshold) also applied to exits.
#26 "PARTIAL_25 treated as a full close by one service and as 75% by another" — action
semantics defined in several places.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import quantum_trader
from quantum_trader.domain.enums import OrderType, PlanAction
from tests.chaos.conftest import open_position
from tests.integration.apply.rig import ApplyRig

SRC = Path(quantum_trader.__file__).parent


async def test_failure_12_close_for_a_position_gone_from_the_exchange_is_a_skip_with_no_order(
    rig: ApplyRig,
) -> None:
    position = await open_position(rig, "ETHUSDT")
    rig.exchange.close_position_by_hand("ETHUSDT")  # ledger still believes it is open
    orders_before = len(rig.orders())
    c = rig.consumer("a")
    await c.start()
    plans = [
        rig.close_plan("ETHUSDT", position.position_id, action, n)
        for n, action in enumerate(
            (PlanAction.FULL_CLOSE, PlanAction.PARTIAL_25, PlanAction.PARTIAL_75)
        )
    ]
    plans.append(rig.close_plan("SOLUSDT", "SOLUSDT:never", PlanAction.FULL_CLOSE, 9))
    await rig.bus.publish_many(rig.keys.apply_exit, plans)
    await rig.drain(c)
    results = [r for r in await rig.results() if r.action is not PlanAction.OPEN]
    assert len(results) == 4
    assert all((r.executed, r.reason, r.filled_qty) == (False, "no_position", 0) for r in results)
    assert len(rig.orders()) == orders_before


async def test_failure_13_exits_run_through_halt_kill_switch_reduce_only_circuit_and_cooldown(
    rig: ApplyRig,
) -> None:
    position = await open_position(rig, "SOLUSDT")
    rig.exchange.set_price("SOLUSDT", Decimal("148"))  # equity falling, stop not hit yet
    await rig.redis.set(rig.keys.risk_state, json.dumps({"mode": "HALT", "reasons": ["x"]}))
    await rig.redis.set(rig.keys.risk_kill_switch, json.dumps({"reason": "operator"}))
    await rig.redis.set(rig.keys.risk_supervisor, json.dumps({"mode": "REDUCE_ONLY"}))
    await rig.redis.set(rig.keys.risk_circuit, "tripped")
    await rig.redis.set(rig.keys.cooldown_open("SOLUSDT"), "x")
    c = rig.consumer("a")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan("ETHUSDT", 1))
    plan = rig.close_plan("SOLUSDT", position.position_id, PlanAction.FULL_CLOSE)
    plan = type(plan)(
        **{
            **{f: getattr(plan, f) for f in plan.__struct_fields__},
            "reason_codes": ("kill_score",),
            "kill_score": 0.97,
        }
    )
    await rig.bus.publish(rig.keys.apply_exit, plan)
    await rig.drain(c)
    by_action = {r.action: r for r in await rig.results()}
    assert by_action[PlanAction.FULL_CLOSE].executed
    assert by_action[PlanAction.FULL_CLOSE].filled_qty == position.qty
    assert by_action[PlanAction.OPEN].reason == "risk_halt"
    assert not [p for p in await rig.exchange.positions() if p.symbol == "SOLUSDT"]
    assert await rig.layer.ledger.read("SOLUSDT") is None


async def test_failure_26_partial_25_closes_exactly_a_quarter_of_the_live_position(
    rig: ApplyRig,
) -> None:
    position = await open_position(rig, "ETHUSDT", qty="0.800")
    c = rig.consumer("a")
    await c.start()
    await rig.bus.publish(
        rig.keys.apply_exit,
        rig.close_plan("ETHUSDT", position.position_id, PlanAction.PARTIAL_25),
    )
    await rig.drain(c)
    (result,) = [r for r in await rig.results() if r.action is PlanAction.PARTIAL_25]
    assert result.executed and result.filled_qty == Decimal("0.200")
    after = await rig.layer.ledger.read("ETHUSDT")
    assert after is not None and after.qty == Decimal("0.600")
    (live,) = [p for p in await rig.exchange.positions() if p.symbol == "ETHUSDT"]
    assert live.qty == Decimal("0.600")
    (stop,) = [o for o in await rig.exchange.open_orders("ETHUSDT")]
    assert stop.type is OrderType.STOP_MARKET and stop.quantity == Decimal("0.600")

    await rig.bus.publish(
        rig.keys.apply_exit,
        rig.close_plan("ETHUSDT", position.position_id, PlanAction.PARTIAL_75, 1),
    )
    await rig.drain(c)
    after = await rig.layer.ledger.read("ETHUSDT")
    assert after is not None and after.qty == Decimal("0.150")  # 75% of the live 0.600


def test_failure_26_close_fraction_is_defined_in_one_place_only() -> None:
    assert {a: a.close_fraction for a in PlanAction} == {
        PlanAction.OPEN: None,
        PlanAction.PARTIAL_25: "0.25",
        PlanAction.PARTIAL_50: "0.50",
        PlanAction.PARTIAL_75: "0.75",
        PlanAction.FULL_CLOSE: "1",
        PlanAction.UPDATE_STOP: None,
        PlanAction.HOLD: None,
    }
    # A second definition would map an action to a number: {PARTIAL_25: 0.25}, or
    # `if action is PARTIAL_25: fraction = ...`, or its own close_fraction table.
    mapping = re.compile(
        r"PARTIAL_\d+[\"']?\s*:\s*(?:Decimal\()?[\"']?\d*\.?\d+"
        r"|PARTIAL_\d+\s*(?:==|is)[^\n]*\d*\.\d+"
        r"|_CLOSE_FRACTION|def close_fraction"
    )
    offenders = [
        f"{p.relative_to(SRC)}: {m.group(0)}"
        for p in SRC.rglob("*.py")
        if p.relative_to(SRC).as_posix() != "domain/enums.py"
        for m in mapping.finditer(p.read_text())
    ]
    assert offenders == []
