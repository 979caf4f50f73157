"""FAILURES #22: "internal stats said 72.7% win rate; the exchange's fills said 7.1%" —
stats computed from intentions, never reconciled with fills."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.domain.enums import PlanAction
from quantum_trader.exchange.interface import OrderUpdate
from quantum_trader.services.execution_pump import ExecutionPump
from quantum_trader.services.journal import Journal
from quantum_trader.services.journal import fills as fills_table
from quantum_trader.services.ledger_service import LedgerService
from tests.chaos.conftest import open_position
from tests.integration.apply.rig import ApplyRig


async def test_failure_22_journal_pnl_and_win_rate_equal_the_exchange_fills(
    rig: ApplyRig, tmp_path: Path
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    pump = ExecutionPump(rig.exchange, rig.bus, RedisEffectStore(rig.redis, rig.keys), rig.clock)
    ledger_service = LedgerService(
        rig.layer.ledger, journal, rig.redis, rig.layer.config.cooldown_ms
    )
    fills = StreamConsumer(
        rig.bus,
        [rig.keys.fills],
        "ledger",
        "l1",
        ledger_service.handle,
        config=ConsumerConfig(block_ms=0),
    )
    await fills.start()
    apply = rig.consumer("apply")
    await apply.start()

    async def settle() -> None:
        for event in rig.exchange.pending_events():
            if isinstance(event, OrderUpdate) and event.fill is not None:
                await pump.forward(event.fill)
        await rig.drain(apply, fills)

    # Three trades the strategy "intended" to win: one wins, two lose on the exchange.
    for symbol, exit_price in (("ETHUSDT", "3030"), ("SOLUSDT", "148"), ("BNBUSDT", "595")):
        position = await open_position(rig, symbol)
        await settle()
        rig.exchange.set_price(symbol, Decimal(exit_price))
        await rig.bus.publish(
            rig.keys.apply_exit,
            rig.close_plan(symbol, position.position_id, PlanAction.FULL_CLOSE),
        )
        await settle()
    await settle()

    history = rig.exchange.core.history()
    rows = journal.closed()
    with journal.engine.connect() as conn:
        journalled_fills = conn.execute(fills_table.select()).all()
    assert len(journalled_fills) == len(history.fills) == 6  # every fill reached it
    assert sorted(r.symbol for r in rows) == ["BNBUSDT", "ETHUSDT", "SOLUSDT"]
    exchange_pnl = {
        s: sum((f.realized_pnl for f in history.fills if f.symbol == s), Decimal(0))
        for s in ("ETHUSDT", "SOLUSDT", "BNBUSDT")
    }
    assert {r.symbol: Decimal(r.realized_pnl) for r in rows} == exchange_pnl
    wins_journal = sum(1 for r in rows if r.realized_pnl - r.fees > 0)
    wins_exchange = sum(
        1
        for s, pnl in exchange_pnl.items()
        if pnl - sum(f.commission for f in history.fills if f.symbol == s) > 0
    )
    assert wins_journal == wins_exchange == 1
    metrics = journal.harvest_metrics()
    assert metrics.realized_pnl == sum(exchange_pnl.values())
    assert metrics.fees == sum((f.commission for f in history.fills), Decimal(0))
    journal.close()
