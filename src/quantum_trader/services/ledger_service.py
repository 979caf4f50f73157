"""The ledger service: folds every fill from ``quantum:stream:fills`` into the position
keys (a no-op for fills the apply layer already recorded) and journals fills and closed
positions with their exit reason."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import FillEvent, Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.services.journal import Journal, exit_reason_for
from quantum_trader.services.ledger import RedisLedger, fill_from_event
from quantum_trader.services.runtime import RedisHealthWriter, ServiceRuntime


@dataclass
class LedgerService:
    ledger: RedisLedger
    journal: Journal
    redis: aioredis.Redis
    closed: int = 0

    async def handle(self, message: Message, delivery: Delivery) -> None:
        if not isinstance(message, FillEvent):
            raise TypeError(f"ledger got {type(message).__name__}")
        fill = fill_from_event(message)
        before = await self.ledger.read(fill.symbol)
        outcome = await self.ledger.record_fill(fill)
        await self.journal.record_fill(fill)
        # The apply layer may have folded this fill already; the close is journalled
        # from whichever state shows the position going flat on this fill.
        closing = outcome.closed if outcome is not None else None
        if closing is None and before is not None and outcome is None:
            now = await self.ledger.read(fill.symbol)
            if now is None or now.position_id != before.position_id:
                closing = before
        if closing is not None:
            planned = await self.redis.hget(self.ledger.keys.exit_reasons, fill.client_order_id)
            reason = exit_reason_for(
                fill.client_order_id, closing, as_text(planned) if planned else None
            )
            await self.journal.record_close(closing, fill.price, fill.ts, reason)
            self.closed += 1


def build_ledger_service(
    service: LedgerService, bus: Bus, consumer_name: str, **runtime: float
) -> ServiceRuntime:
    consumer = StreamConsumer(
        bus,
        [bus.keys.fills],
        "ledger",
        consumer_name,
        service.handle,
        expect={bus.keys.fills: (FillEvent,)},
        config=ConsumerConfig(batch=100),
    )
    return ServiceRuntime(
        "ledger",
        bus.clock,
        bus.keys,
        RedisHealthWriter(service.redis),
        consumers=[consumer],
        **runtime,  # type: ignore[arg-type]
    )
