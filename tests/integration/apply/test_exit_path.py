"""A position that rises to +3R and then reverses: partials at 1R/2R/3R, stops that only
tighten, a final exit by the exchange-side stop, and a journal that agrees with the fills."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.schemas import FillEvent, MarketBar, derive_id
from quantum_trader.bus.transport import Delivery
from quantum_trader.decide.position_ledger import judgeable
from quantum_trader.domain.enums import OrderType, PlanAction, PositionSide
from quantum_trader.exchange.interface import OrderUpdate
from quantum_trader.services.execution_pump import ExecutionPump
from quantum_trader.services.exit_brain import ExitBrain
from quantum_trader.services.journal import Journal
from quantum_trader.services.ledger_service import LedgerService
from tests.integration.apply.rig import T0, ApplyRig

SYMBOL = "ETHUSDT"


class Path3R:
    def __init__(self, rig: ApplyRig, tmp: Path) -> None:
        self.rig = rig
        effects = RedisEffectStore(rig.redis, rig.keys)
        self.brain = ExitBrain(rig.layer.ledger, effects, rig.bus, rig.clock, rig.layer.instruments)
        self.pump = ExecutionPump(rig.exchange, rig.bus, effects, rig.clock)
        self.journal = Journal(f"sqlite:///{tmp / 'journal.sqlite'}")
        self.ledger_service = LedgerService(
            rig.layer.ledger, self.journal, rig.redis, rig.layer.config.cooldown_ms
        )
        self.apply = rig.consumer("apply")
        self.fills = StreamConsumer(
            rig.bus,
            [rig.keys.fills],
            "ledger",
            "l1",
            self.ledger_service.handle,
            config=ConsumerConfig(block_ms=0),
        )
        self.minute = 0

    async def start(self) -> None:
        await self.apply.start()
        await self.fills.start()

    async def bar(self, o: str, h: str, lo: str, c: str) -> None:
        open_time = T0 + 60_000 * self.minute
        self.minute += 1
        self.rig.clock.set(open_time + 60_000)
        values = [Decimal(x) for x in (o, h, lo, c)]
        self.rig.exchange.on_bar(SYMBOL, open_time, *values, Decimal(100))
        bar = MarketBar(
            msg_id=derive_id("bar", open_time),
            ts_event=open_time + 59_999,
            ts_init=open_time + 59_999,
            source="test",
            symbol=SYMBOL,
            interval="1m",
            open_time=open_time,
            close_time=open_time + 59_999,
            open=values[0],
            high=values[1],
            low=values[2],
            close=values[3],
            volume=Decimal(100),
        )
        await self.settle()
        await self.brain.handle(bar, Delivery("market", "0-1", b""))
        await self.settle()

    async def settle(self) -> None:
        for _ in range(3):
            for event in self.rig.exchange.pending_events():
                if isinstance(event, OrderUpdate) and event.fill is not None:
                    await self.pump.forward(event.fill)
            await self.rig.drain(self.apply, self.fills)


async def test_rise_to_three_r_then_reversal_harvests_the_ladder_and_exits_on_the_stop(
    rig: ApplyRig, tmp_path: Path
) -> None:
    path = Path3R(rig, tmp_path)
    await path.start()
    for _ in range(30):  # a quiet market: ATR ≈ 6, trend flat
        await path.bar("3000", "3003", "2997", "3000")
    plan = rig.open_plan(SYMBOL, 1, qty="1.000", stop="2940.00")  # 1R = 60
    await rig.bus.publish(rig.keys.apply_plan, plan)
    await path.settle()
    opened = await rig.layer.ledger.read(SYMBOL)
    assert opened is not None and opened.initial_stop == Decimal("2940.00")
    entry = opened.entry_price
    stops_seen = [opened.stop_price]
    price = entry
    for step in range(40):  # steady climb to a little past +3R
        price = entry + Decimal(5) * (step + 1)
        await path.bar(str(price - 2), str(price + 1), str(price - 3), str(price))
        live = await rig.layer.ledger.read(SYMBOL)
        if live is not None:
            stops_seen.append(live.stop_price)
    top = price
    while await rig.layer.ledger.read(SYMBOL) is not None and price > entry - 100:
        price -= 4
        await path.bar(str(price + 3), str(price + 4), str(price - 1), str(price))

    results = {r.plan_id: r for r in await rig.results()}
    partials = [r for r in results.values() if r.action is PlanAction.PARTIAL_25]
    assert len(partials) == 3 and all(r.executed for r in partials)
    assert stops_seen == sorted(stops_seen), "a long's stop may only move up"
    assert stops_seen[-1] > entry, "after the first tranche the stop is at least break-even"
    assert top - entry >= 3 * 60

    # The exchange's own history is the ground truth.
    history = rig.exchange.core.history()
    assert sum(f.qty if f.side.value == "BUY" else -f.qty for f in history.fills) == 0
    closing = [o for o in rig.orders() if o.type is OrderType.STOP_MARKET and o.executed_qty > 0]
    assert len(closing) == 1, "the final exit is the exchange-side stop"
    (row,) = path.journal.closed()
    assert row.exit_reason == "trailing_stop" and row.ladder_stage == 3
    exchange_pnl = sum((f.realized_pnl for f in history.fills), Decimal(0))
    assert Decimal(row.realized_pnl) == exchange_pnl
    exchange_fees = sum((f.commission for f in history.fills), Decimal(0))
    assert Decimal(row.fees) == exchange_fees
    assert Decimal(row.r_multiple) > 0
    # The stop-out starts the re-entry cooldown at the stop's fill, as any close does.
    stopped_at = max(f.ts for f in history.fills)
    cooled_until = await rig.redis.get(rig.keys.cooldown_open(SYMBOL))
    assert cooled_until is not None
    assert int(cooled_until) == stopped_at + rig.layer.config.cooldown_ms > stopped_at
    path.journal.close()
    assert isinstance(FillEvent, type)


async def test_an_entry_filled_at_its_stop_is_left_to_that_stop(
    rig: ApplyRig, tmp_path: Path
) -> None:
    """A SHORT whose fill slipped a tick onto its stop (a coarse-ticked symbol): R has no
    unit, so the exit brain proposes nothing for it — every bar, without an error — and
    the exchange-side stop at the entry holds it at no loss."""
    path = Path3R(rig, tmp_path)
    await path.start()
    for _ in range(3):
        await path.bar("3000", "3003", "2997", "3000")
    plan = rig.open_plan(SYMBOL, 1, PositionSide.SHORT, qty="1.000", stop="3060.00")
    await rig.bus.publish(rig.keys.apply_plan, plan)
    await path.settle()
    opened = await rig.layer.ledger.read(SYMBOL)
    assert opened is not None and opened.initial_stop == Decimal("3060.00")
    at_stop = replace(opened, entry_price=opened.initial_stop)  # as if the fill slipped there
    assert judgeable(opened) and not judgeable(at_stop)
    await rig.layer.ledger.replace(at_stop, SYMBOL)
    for _ in range(5):
        await path.bar("3000", "3004", "2996", "2999")
    assert path.brain.proposed == 0
