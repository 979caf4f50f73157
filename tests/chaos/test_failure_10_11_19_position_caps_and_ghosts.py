"""FAILURES #10, #11 and #19.

#10 "margin exhausted by 20+ positions (Binance -2019)" — no exposure / position caps.
#11 "'20/20 positions' blocked all entries with nothing open" — closed trades never
removed from an in-memory list.
#19 "ghost positions stayed after the exchange closed them" — no reconciliation against
the exchange.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.decide.entry_gates import GateLimits
from quantum_trader.domain.enums import PlanAction
from quantum_trader.services.position_monitor import PositionMonitor
from tests.chaos.conftest import open_position
from tests.integration.apply.rig import PRICES, ApplyRig, make_rig


def monitor(rig: ApplyRig) -> PositionMonitor:
    return rig.monitor()


async def test_failure_10_position_and_exposure_caps_stop_entries_before_margin_runs_out(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    capped = await make_rig(redis_client, keys, limits=GateLimits(max_open_positions=3))
    c = capped.consumer("a")
    await c.start()
    await capped.bus.publish_many(capped.keys.apply_plan, [capped.open_plan(s, 1) for s in PRICES])
    await capped.drain(c)
    results = await capped.results()
    assert sum(r.executed for r in results) == 3
    assert sorted(r.reason for r in results if not r.executed) == ["max_positions"] * 3
    assert len(capped.exchange.core.all_orders()) == 6  # 3 entries + 3 protective stops

    exposure = await make_rig(
        redis_client,
        Keys(prefix=keys.prefix + "x:"),
        limits=GateLimits(max_open_positions=20, max_gross_exposure=Decimal("450")),
    )
    c2 = exposure.consumer("a")
    await c2.start()
    await exposure.bus.publish_many(
        exposure.keys.apply_plan, [exposure.open_plan(s, 1) for s in PRICES]
    )
    await exposure.drain(c2)
    results = await exposure.results()
    assert sum(r.executed for r in results) == 2  # ≈200 USDT each, 450 allowed
    assert {r.reason for r in results if not r.executed} == {"max_exposure"}
    account = await exposure.exchange.account()
    assert account.available_balance > 0


async def test_failure_11_closed_positions_free_their_slots_for_new_entries(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    rig = await make_rig(redis_client, keys, limits=GateLimits(max_open_positions=2))
    eth = await open_position(rig, "ETHUSDT")
    await open_position(rig, "SOLUSDT")
    c = rig.consumer("a")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan("BTCUSDT", 1))
    await rig.drain(c)
    assert (await rig.results())[-1].reason == "max_positions"  # "2/2 positions"

    # One closed by a plan, one closed by hand on the exchange and reconciled.
    await rig.bus.publish(
        rig.keys.apply_exit, rig.close_plan("ETHUSDT", eth.position_id, PlanAction.FULL_CLOSE)
    )
    await rig.drain(c)
    rig.exchange.close_position_by_hand("SOLUSDT")
    await monitor(rig).reconcile_once()
    assert not await rig.layer.ledger.all() and not await rig.exchange.positions()

    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan("BTCUSDT", 2))
    await rig.drain(c)
    last = (await rig.results())[-1]
    assert last.symbol == "BTCUSDT" and last.executed, last.reason


async def test_failure_19_positions_the_exchange_closed_or_never_had_are_dropped(
    rig: ApplyRig,
) -> None:
    doge = await open_position(rig, "DOGEUSDT")
    await open_position(rig, "XRPUSDT")
    rig.exchange.close_position_by_hand("XRPUSDT")  # closed behind our back
    await rig.layer.ledger.replace(
        replace(doge, symbol="BNBUSDT", position_id="BNBUSDT:never"), "BNBUSDT"
    )  # a ledger entry the exchange never had
    reconciler = monitor(rig)
    await reconciler.reconcile_once()
    assert await rig.layer.ledger.read("XRPUSDT") is None
    assert await rig.layer.ledger.read("BNBUSDT") is None
    assert await rig.layer.ledger.read("DOGEUSDT") is not None
    assert [p.symbol for p in await rig.layer.ledger.all()] == ["DOGEUSDT"]
    assert await rig.exchange.open_orders("XRPUSDT") == []  # its orphaned stop went too
    assert await reconciler.reconcile_once() == []  # converged
    repairs = [e for e in await rig.events() if e.kind == "reconcile_repair"]
    assert repairs and all(e.reconciliation for e in repairs)
