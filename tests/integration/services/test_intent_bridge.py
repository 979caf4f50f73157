"""intent-bridge on real Redis and the simulated exchange's universe: exact plans, one per
intent, and a reasoned event for every intent it refuses."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.bus.schemas import Event, Plan, TradeIntent, derive_id
from quantum_trader.decide.intent_policy import IntentPolicyConfig, plan_id_for_intent
from quantum_trader.decide.sizing import SizingConfig
from quantum_trader.domain.enums import OrderType, PlanAction, PlanKind, PositionSide, Side
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.services.intent_bridge import (
    IntentBridge,
    IntentBridgeConfig,
    build_intent_bridge,
)
from quantum_trader.services.sizing_basis import RedisSizingBasis, SizingBasis
from tests.integration.services.market_rig import T0, Rig

ENTRY = Decimal("30000.0")
STOP_DISTANCE = Decimal("850.05")
TP_DISTANCE = Decimal("1700.03")


def trade_intent(
    n: int = 1,
    *,
    side: PositionSide = PositionSide.LONG,
    symbol: str = "BTCUSDT",
    signalled_at: int = T0 - 1_000,
    expires_at: int = T0 + 59_000,
) -> TradeIntent:
    intent_id = f"intent-{n}"
    return TradeIntent(
        msg_id=derive_id("intent", intent_id),
        correlation_id=intent_id,
        causation_id=f"bar-{n}",
        ts_event=signalled_at,
        ts_init=signalled_at,
        source="signal-engine",
        intent_id=intent_id,
        symbol=symbol,
        side=side,
        confidence=0.8,
        strategy="trend_ema",
        interval="1m",
        bar_time=signalled_at - 59_999,
        reference_price=ENTRY,
        stop_distance=STOP_DISTANCE,
        take_profit_distance=TP_DISTANCE,
        expires_at=expires_at,
    )


def bridge(rig: Rig, **overrides: object) -> IntentBridge:
    values: dict[str, object] = {
        "symbols": ("BTCUSDT", "ETHUSDT"),
        "consumer": ConsumerConfig(block_ms=0),
        **overrides,
    }
    return IntentBridge(
        bus=rig.bus,
        effects=rig.effects,
        exchange=rig.exchange,
        clock=rig.clock,
        config=IntentBridgeConfig(**values),  # type: ignore[arg-type]
    )


async def deliver(rig: Rig, ib: IntentBridge, *intents: TradeIntent, name: str = "ib-1") -> None:
    await rig.bus.publish_many(rig.keys.trade_intent, list(intents))
    consumer = ib.consumer(name)
    await consumer.start()
    await rig.drain(consumer)


async def plans(rig: Rig) -> list[Plan]:
    return [m for m in await rig.read(rig.keys.apply_plan) if isinstance(m, Plan)]


async def rejections(rig: Rig) -> list[Event]:
    found = [m for m in await rig.read(rig.keys.events) if isinstance(m, Event)]
    assert all(e.kind == "intent_rejected" for e in found)
    return found


async def test_admitted_long_becomes_one_open_plan_sized_exactly_on_tick_and_step(
    rig: Rig,
) -> None:
    account = await rig.exchange.account()
    assert (account.margin_balance, account.available_balance) == (Decimal(10000),) * 2
    btc = {i.symbol: i for i in await rig.exchange.instruments()}["BTCUSDT"]
    assert (btc.tick_size, btc.market_step_size) == (Decimal("0.10"), Decimal("0.001"))
    ib = bridge(rig)
    intent = trade_intent()

    await deliver(rig, ib, intent)

    [plan] = await plans(rig)
    # By hand: stop 30000 − 850.05 = 29149.95, rounded down to the 0.10 tick = 29149.9;
    # risk 0.5% × 10000 = 50 USDT over the rounded distance 850.1 = 0.058816 BTC, rounded
    # down to the 0.001 step = 0.058 (1740 USDT, under the 25% = 2500 USDT position cap).
    # Take-profit 31700.03 rounded toward entry = 31700.0.
    assert plan.qty == Decimal("0.058")
    assert plan.stop_price == Decimal("29149.9")
    assert plan.take_profit == (Decimal("31700.0"),)
    assert btc.qty_ok(plan.qty, market=True) and btc.price_ok(plan.stop_price)
    assert plan.qty * (ENTRY - plan.stop_price) <= Decimal(50)
    plan_id = plan_id_for_intent(intent.intent_id)
    assert plan.plan_id == plan_id
    assert (plan.kind, plan.action, plan.side) == (
        PlanKind.OPEN,
        PlanAction.OPEN,
        PositionSide.LONG,
    )
    assert plan.leverage == 5 and plan.reference_price == ENTRY
    assert plan.reason_codes == ("trend_ema",)
    assert (plan.created_at, plan.expires_at) == (T0, T0 + 30_000)
    assert plan.msg_id == derive_id("plan", plan_id)
    assert (plan.correlation_id, plan.causation_id) == (intent.intent_id, intent.msg_id)
    assert ib.stats.plans_published == 1 and await rejections(rig) == []


async def test_short_is_mirrored_with_its_stop_above_entry(rig: Rig) -> None:
    await deliver(rig, bridge(rig), trade_intent(side=PositionSide.SHORT))
    [plan] = await plans(rig)
    # 30000 + 850.05 rounded UP (away from entry) = 30850.1; same 850.1 distance and qty.
    assert plan.side is PositionSide.SHORT
    assert plan.stop_price == Decimal("30850.1") > ENTRY
    assert plan.qty == Decimal("0.058")
    assert plan.take_profit == (Decimal("28300.0"),)  # 28299.97 rounded toward entry


async def test_duplicate_intent_yields_no_second_plan_even_after_a_restart(rig: Rig) -> None:
    ib = bridge(rig)
    intent = trade_intent()
    await deliver(rig, ib, intent, intent)
    assert len(await plans(rig)) == 1 and ib.stats.intents_duplicate == 1

    restarted = bridge(rig)  # empty memory: Redis knows the plan exists
    rig.clock.advance(120)  # and the intent has meanwhile expired
    await deliver(rig, restarted, intent, name="ib-2")
    assert len(await plans(rig)) == 1
    assert await rejections(rig) == []  # a redelivered, planned intent is not "rejected"
    assert restarted.stats.intents_duplicate == 1


@pytest.mark.parametrize(
    ("intent", "overrides", "reason"),
    [
        (trade_intent(expires_at=T0 - 1), {}, "expired"),
        (trade_intent(signalled_at=T0 - 61_000, expires_at=T0 + 1), {}, "expired"),
        (trade_intent(symbol="XRPUSDT"), {}, "symbol_not_allowed"),
        (
            trade_intent(symbol="FAKEUSDT"),
            {"symbols": ("BTCUSDT", "FAKEUSDT")},
            "symbol_not_allowed",
        ),
        (trade_intent(symbol="FAKEUSDT"), {"symbols": ("FAKEUSDT",)}, "universe_empty"),
        (
            trade_intent(),
            {"sizing": SizingConfig(max_notional_per_trade=Decimal(50))},
            "below_min_notional",  # 50 USDT caps qty at 0.001 BTC = 30 USDT < 100
        ),
    ],
)
async def test_refused_intent_publishes_one_reasoned_event_and_no_plan(
    rig: Rig, intent: TradeIntent, overrides: dict[str, object], reason: str
) -> None:
    ib = bridge(rig, **overrides)
    await deliver(rig, ib, intent, intent)  # the copy must not repeat the event
    assert await plans(rig) == []
    [event] = await rejections(rig)
    assert event.evidence["reason"] == reason
    assert event.evidence["intent_id"] == intent.intent_id
    assert event.detail.startswith(f"{reason}: ")
    assert event.symbol == intent.symbol and event.correlation_id == intent.intent_id
    assert ib.stats.rejected == {reason: 1}


async def test_stale_universe_fails_closed_until_it_is_refreshed(rig: Rig) -> None:
    ib = bridge(rig, policy=IntentPolicyConfig(universe_max_age_ms=120_000))
    await ib.refresh_universe()
    rig.clock.advance(121)
    late = trade_intent(1, signalled_at=rig.clock.now_ms(), expires_at=rig.clock.now_ms() + 1)
    await deliver(rig, ib, late)
    assert [e.evidence["reason"] for e in await rejections(rig)] == ["universe_stale"]
    await ib.refresh_universe()
    fresh = trade_intent(2, signalled_at=rig.clock.now_ms(), expires_at=rig.clock.now_ms() + 1)
    await deliver(rig, ib, fresh)
    assert [p.correlation_id for p in await plans(rig)] == ["intent-2"]


async def test_factory_wires_the_intent_consumer_and_universe_job(rig: Rig) -> None:
    runtime = build_intent_bridge(
        bus=rig.bus,
        redis=rig.client,
        exchange=rig.exchange,
        clock=rig.clock,
        config=IntentBridgeConfig(),
        consumer_name="ib-1",
    )
    assert runtime.name == "intent-bridge"
    assert [(c.group, list(c.streams)) for c in runtime.consumers] == [
        ("intent-bridge", [rig.keys.trade_intent])
    ]
    assert [(j.name, j.interval_s) for j in runtime.jobs] == [("universe", 60.0)]


async def test_entries_one_close_decided_are_sized_from_one_account_read(rig: Rig) -> None:
    """However the account moves between them (an earlier entry of the same bar filled,
    an exit of it went out), every entry one bar's close decided is sized from the same
    account: the order they arrive in changes no size. The next bar reads afresh."""
    ib = bridge(rig)
    await deliver(rig, ib, trade_intent(1))
    rig.exchange.set_price("ETHUSDT", Decimal(2000))
    await rig.exchange.create_order(
        OrderRequest("ETHUSDT", Side.BUY, OrderType.MARKET, "manual-1", Decimal(10))
    )
    rig.exchange.set_price("ETHUSDT", Decimal(1500))  # −5,000 USDT unrealised
    assert (await rig.exchange.account()).margin_balance < Decimal(5100)

    await deliver(rig, ib, trade_intent(2))  # the same bar
    later = trade_intent(3, signalled_at=T0 + 59_000, expires_at=T0 + 119_000)
    rig.clock.set(T0 + 60_000)
    await deliver(rig, ib, later)

    first, same_bar, next_bar = await plans(rig)
    assert first.qty == same_bar.qty == Decimal("0.058")  # 0.5% of 10,000 over 850.1
    assert next_bar.qty < Decimal("0.030")  # 0.5% of what is left


async def test_entries_are_sized_from_the_feeds_basis_of_their_bar(rig: Rig) -> None:
    """The feed's reading at the bar's close wins over the account now; a basis of
    another bar is not this bar's (the bridge reads the account itself)."""
    basis = RedisSizingBasis(rig.client, rig.keys)
    ib = bridge(rig)
    ib.basis = basis
    first = trade_intent(1)
    await basis.write(SizingBasis(first.bar_time, Decimal(4000), Decimal(4000)))

    await deliver(rig, ib, first)
    await basis.write(SizingBasis(first.bar_time - 60_000, Decimal(1), Decimal(1)))
    later = trade_intent(2, signalled_at=T0 + 59_000, expires_at=T0 + 119_000)
    rig.clock.set(T0 + 60_000)
    await deliver(rig, ib, later)

    sized_by_basis, sized_by_account = await plans(rig)
    assert sized_by_basis.qty == Decimal("0.023")  # 0.5% of 4,000 over 850.1
    assert sized_by_account.qty == Decimal("0.058")  # 0.5% of the account's 10,000
    assert await basis.read(first.bar_time) is None  # the latest basis is another bar's
