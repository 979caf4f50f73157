"""Sharded, the intent bridge and the exit brain put each plan on its symbol's shard lane
(``apply.plan.{k}`` / ``apply.exit.{k}``); unsharded, on ``apply.plan`` / ``apply.exit``
exactly as before."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.bus.schemas import Plan
from quantum_trader.decide.exit_model import ExitDecision
from quantum_trader.decide.shards import shard_of
from quantum_trader.domain.enums import PlanAction, PositionSide
from quantum_trader.services.exit_brain import ExitBrain
from quantum_trader.services.ledger import RedisLedger
from tests.integration.services.market_rig import Rig
from tests.integration.services.test_intent_bridge import bridge, deliver, trade_intent


async def plans_on(rig: Rig, stream: str) -> list[Plan]:
    return [m for m in await rig.read(stream) if isinstance(m, Plan)]


async def test_the_bridge_puts_each_entry_plan_on_its_symbols_shard_lane(rig: Rig) -> None:
    await deliver(
        rig,
        bridge(rig, shards=2),
        trade_intent(1, symbol="BTCUSDT"),
        trade_intent(2, symbol="ETHUSDT"),
    )
    assert await plans_on(rig, rig.keys.apply_plan) == []
    for symbol in ("BTCUSDT", "ETHUSDT"):
        lane = rig.keys.apply_plan_shard(shard_of(symbol, 2))
        assert [p.symbol for p in await plans_on(rig, lane)] == [symbol]
    assert shard_of("BTCUSDT", 2) != shard_of("ETHUSDT", 2)


async def test_unsharded_the_bridge_writes_apply_plan_as_before(rig: Rig) -> None:
    await deliver(rig, bridge(rig), trade_intent(1, symbol="BTCUSDT"))
    assert [p.symbol for p in await plans_on(rig, rig.keys.apply_plan)] == ["BTCUSDT"]
    assert not await rig.client.exists(rig.keys.apply_plan_shard(0), rig.keys.apply_plan_shard(1))


def decision(symbol: str, n: int) -> ExitDecision:
    return ExitDecision(
        plan_id=f"kill-{symbol}-{n}",
        position_id=f"{symbol}:p{n}",
        symbol=symbol,
        side=PositionSide.LONG,
        action=PlanAction.FULL_CLOSE,
        fraction=Decimal(1),
        new_stop=None,
        reason_codes=("kill_score",),
        kill_score=Decimal("0.9"),
        kill_components=(),
        r_multiple=Decimal("-0.3"),
        r_net=Decimal("-0.3"),
        created_at=1_700_000_000_000,
    )


async def test_the_exit_brain_puts_each_exit_plan_on_its_symbols_shard_lane(rig: Rig) -> None:
    ledger = RedisLedger(rig.client, rig.keys)
    sharded = ExitBrain(ledger, rig.effects, rig.bus, rig.clock, {}, shards=2)
    for n, symbol in enumerate(("BTCUSDT", "ETHUSDT")):
        await sharded.propose(decision(symbol, n), "bar", 1_700_000_000_000)
    assert await plans_on(rig, rig.keys.apply_exit) == []
    for symbol in ("BTCUSDT", "ETHUSDT"):
        lane = rig.keys.exit_lane(symbol, 2)
        assert lane == rig.keys.apply_exit_shard(shard_of(symbol, 2))
        assert [p.symbol for p in await plans_on(rig, lane)] == [symbol]
    plain = ExitBrain(ledger, rig.effects, rig.bus, rig.clock, {})
    await plain.propose(decision("SOLUSDT", 9), "bar", 1_700_000_000_000)
    assert [p.symbol for p in await plans_on(rig, rig.keys.apply_exit)] == ["SOLUSDT"]
