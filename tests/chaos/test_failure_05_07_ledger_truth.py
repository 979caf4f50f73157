"""FAILURES #5 and #7.

#5 "position keys incomplete: entry price 0, mark price 0, risk fields missing" —
position written from intentions, not from fills; optional fields silently defaulted.
#7 "ledger drift, sign corruption" — non-atomic read-modify-write; two field-name
conventions.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.decide.position_ledger import FIELDS, LedgerPosition
from quantum_trader.domain.enums import PositionSide, Side
from quantum_trader.domain.orders import Fill
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.services.ledger import RedisLedger
from tests.chaos.conftest import open_position
from tests.integration.apply.rig import ApplyRig


async def test_failure_05_position_hash_is_complete_and_comes_from_the_fill(
    rig: ApplyRig,
) -> None:
    rig.exchange.set_price("ETHUSDT", Decimal("3012.34"))  # the fill, not the plan's 3000
    position = await open_position(rig, "ETHUSDT")
    raw = await rig.redis.hgetall(rig.keys.position("ETHUSDT"))
    stored = {k.decode(): v.decode() for k, v in raw.items()}
    assert set(stored) == set(FIELDS)
    assert all(stored[f] != "" for f in FIELDS if f not in ("stop_order_id",))
    (live,) = [p for p in await rig.exchange.positions() if p.symbol == "ETHUSDT"]
    assert position.entry_price == live.entry_price >= Decimal("3012.34")  # not the plan's
    assert position.qty == live.qty > 0 and position.side is PositionSide.LONG
    assert position.initial_stop > 0 and position.stop_price > 0 and position.stop_order_id
    assert position.leverage == 5 and position.open_client_order_id


async def test_failure_05_a_hash_missing_a_field_is_rejected_never_defaulted(
    rig: ApplyRig,
) -> None:
    position = await open_position(rig, "SOLUSDT")
    full = position.to_hash()
    for name in ("entry_price", "initial_stop", "stop_price"):
        partial = {k: v for k, v in full.items() if k != name}
        with pytest.raises(ValueError, match=name):
            LedgerPosition.from_hash(partial)
    await rig.redis.hdel(rig.keys.position("SOLUSDT"), "entry_price")
    with pytest.raises(ValueError, match="entry_price"):
        await rig.layer.ledger.read("SOLUSDT")


def _fill(n: int, side: Side, qty: str) -> Fill:
    return Fill(
        symbol="BTCUSDT",
        trade_id=f"t{n}",
        exchange_order_id=f"o{n}",
        client_order_id=f"c{n}",
        side=side,
        price=Decimal(60_000 + n),
        qty=Decimal(qty),
        commission=Decimal("0.01"),
        commission_asset="USDT",
        realized_pnl=Decimal(0),
        maker=False,
        reduce_only=False,
        ts=1_700_000_000_000 + n,
    )


async def test_failure_07_concurrent_fills_from_many_writers_give_the_exact_signed_sum(
    redis_server: EmbeddedRedis, keys: Keys
) -> None:
    clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(4)]
    ledgers = [RedisLedger(c, keys) for c in clients]
    fills = [_fill(n, Side.BUY, "0.003") for n in range(30)]
    fills += [_fill(100 + n, Side.SELL, "0.002") for n in range(20)]
    work = [(ledgers[i % 4], f) for i, f in enumerate(fills * 2)]  # every fill twice
    random.Random(7).shuffle(work)
    try:
        outcomes = await asyncio.gather(*(ledger.record_fill(f) for ledger, f in work))
        position = await ledgers[0].read("BTCUSDT")
        raw = await clients[0].hgetall(keys.position("BTCUSDT"))
    finally:
        for c in clients:
            await c.aclose()
    assert sum(o is not None for o in outcomes) == len(fills)  # duplicates were no-ops
    assert position is not None
    assert position.signed_qty == Decimal("0.050")  # 30 × 0.003 − 20 × 0.002
    assert position.side is PositionSide.LONG and position.qty == Decimal("0.050")
    # One field-name convention: exactly the ledger's, qty unsigned, side explicit.
    assert {k.decode() for k in raw} == set(FIELDS)
    assert not raw[b"qty"].startswith(b"-")


async def test_failure_07_a_short_stays_short_with_a_positive_quantity(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    ledger = RedisLedger(redis_client, keys)
    await asyncio.gather(*(ledger.record_fill(_fill(n, Side.SELL, "0.001")) for n in range(25)))
    position = await ledger.read("BTCUSDT")
    assert position is not None and position.side is PositionSide.SHORT
    assert position.qty == Decimal("0.025") and position.signed_qty == Decimal("-0.025")
