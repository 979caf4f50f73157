"""Chaos tests: one per line of FAILURES.md, each re-creating the original trigger.

Shared fixtures: a real apply layer on real Redis (``rig``) and a helper that opens a
position through the real entry path.
"""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.decide.position_ledger import LedgerPosition
from tests.integration.apply.rig import ApplyRig, make_rig


@pytest.fixture
async def rig(redis_client: aioredis.Redis, keys: Keys) -> ApplyRig:
    return await make_rig(redis_client, keys)


async def open_position(
    rig: ApplyRig, symbol: str, *, n: int = 1, qty: str | None = None
) -> LedgerPosition:
    """Open ``symbol`` through the real apply layer and return the ledger's position."""
    c = rig.consumer(f"opener-{symbol}-{n}")
    await c.start()
    await rig.bus.publish(rig.keys.apply_plan, rig.open_plan(symbol, n, qty=qty))
    await rig.drain(c)
    position = await rig.layer.ledger.read(symbol)
    assert position is not None, f"{symbol} did not open"
    return position
