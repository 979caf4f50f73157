"""Redis out of memory between an entry's fill and its recording: the protective stop
must not wait for the store (invariant 3). A real redis-server of its own, its
``maxmemory`` dropped to one byte the moment the exchange has filled the entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quantum_trader.bus.keys import Keys
from quantum_trader.domain.enums import OrderStatus, OrderType
from quantum_trader.domain.orders import OrderRequest
from tests.integration.apply.rig import ApplyRig, make_rig

KEYS = Keys("qo:")


@pytest.fixture
async def client(own_redis_client: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    yield own_redis_client
    await own_redis_client.config_set("maxmemory", "0")


def open_stops(rig: ApplyRig, symbol: str) -> list[Any]:
    return [
        o
        for o in rig.orders()
        if o.symbol == symbol
        and o.type is OrderType.STOP_MARKET
        and o.reduce_only
        and o.status is OrderStatus.NEW
    ]


async def test_an_entry_filled_while_redis_is_out_of_memory_gets_its_stop_at_once(
    client: aioredis.Redis,
) -> None:
    rig = await make_rig(client, KEYS, cooldown_ms=0)
    plan = rig.open_plan("SOLUSDT", 1)
    place = rig.exchange.create_order

    async def fill_then_oom(request: OrderRequest) -> Any:
        order = await place(request)
        if request.type is OrderType.MARKET and not request.reduce_only:
            await client.config_set("maxmemory", "1")  # every write now fails: OOM
        return order

    rig.exchange.create_order = fill_then_oom  # type: ignore[method-assign]
    with pytest.raises(RedisError, match="maxmemory"):
        await rig.layer.open(plan)
    (stop,) = open_stops(rig, "SOLUSDT")  # protected before anything was recorded
    assert stop.quantity == plan.qty and stop.stop_price == plan.stop_price

    await client.config_set("maxmemory", "0")  # memory back: the plan is redelivered
    rig.exchange.create_order = place  # type: ignore[method-assign]
    outcome = await rig.layer.open(plan)
    assert outcome.executed
    assert len(rig.orders(entries_only=True)) == 1
    position = await rig.layer.ledger.read("SOLUSDT")
    assert position is not None and position.qty == plan.qty
    monitor = rig.monitor()
    rig.clock.advance(monitor.stop_grace_ms / 1000 + 1)  # a young spare stop is left alone
    await monitor.reconcile_once()
    (kept,) = open_stops(rig, "SOLUSDT")  # the spare stop is cancelled, the recorded kept
    assert kept.client_order_id == position.stop_order_id and kept.quantity == position.qty


async def test_a_position_opened_by_hand_while_redis_is_out_of_memory_is_protected_at_once(
    client: aioredis.Redis,
) -> None:
    """The reconciler finds a naked position while Redis refuses every write: it cannot
    record the adoption, so it places the stop straight from the repair (the position
    had no stop for 80 s before) and records the position once Redis takes writes."""
    from decimal import Decimal

    from quantum_trader.domain.enums import Side

    rig = await make_rig(client, KEYS, cooldown_ms=0)
    rig.exchange.open_position_by_hand("SOLUSDT", Side.BUY, Decimal("3"))
    reconciler = rig.monitor()
    await client.config_set("maxmemory", "1")
    with pytest.raises(RedisError, match="maxmemory"):
        await reconciler.reconcile_once()  # the round's own record fails last
    (stop,) = open_stops(rig, "SOLUSDT")
    assert stop.quantity == Decimal("3") and stop.side is Side.SELL
    assert await rig.layer.ledger.read("SOLUSDT") is None  # nothing could be written
    assert reconciler.repairs["StoreRefused"] >= 1

    await client.config_set("maxmemory", "0")
    for _ in range(3):  # adopt and re-protect, then the spare stop goes
        await reconciler.reconcile_once()
    adopted = await rig.layer.ledger.read("SOLUSDT")
    assert adopted is not None and adopted.qty == Decimal("3")
    assert len(open_stops(rig, "SOLUSDT")) == 1
