"""A plan has a maximum age from its creation, whatever lifetime it claims."""

from __future__ import annotations

import msgspec

from tests.integration.apply.rig import ApplyRig


async def test_an_hour_old_plan_with_a_day_long_expiry_is_not_traded(rig: ApplyRig) -> None:
    c = rig.consumer("a1")
    await c.start()
    fresh = rig.open_plan("ETHUSDT", 1)
    stale = msgspec.structs.replace(
        rig.open_plan("SOLUSDT", 2),
        created_at=fresh.created_at - 3_600_000,
        expires_at=fresh.created_at + 86_400_000,
    )
    await rig.bus.publish(rig.keys.apply_plan, stale)
    await rig.bus.publish(rig.keys.apply_plan, fresh)
    await rig.drain(c)
    outcome = {r.plan_id: (r.executed, r.reason) for r in await rig.results()}
    assert outcome[stale.plan_id] == (False, "expired")
    assert outcome[fresh.plan_id] == (True, "executed")
    assert [
        o.symbol for o in rig.exchange.core.all_orders() if o.client_order_id.startswith("qe-")
    ] == ["ETHUSDT"]
