"""The ledger service: folds every fill from ``quantum:stream:fills`` into the position
keys (a no-op for fills the apply layer already recorded), journals fills and closed
positions with their exit reason, and starts the symbol's re-entry cooldown when a fill
closed a position — whatever closed it: the exchange's stop, a take-profit, an exit plan
or a hand on the exchange (``decide.position_close``, which the backtester follows too)."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from quantum_trader.bus import groups
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import FillEvent, Message
from quantum_trader.bus.transport import Delivery
from quantum_trader.decide.position_close import position_closed
from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.orders import Fill
from quantum_trader.services.journal import Journal, exit_reason_for
from quantum_trader.services.ledger import RedisLedger, fill_from_event
from quantum_trader.services.runtime import RedisHealthWriter, ServiceRuntime

# The cooldown key holds the market time it ends (the entry gate compares it with the
# plan's time); a close only ever extends it. The wall-clock TTL just cleans it up.
EXTEND_COOLDOWN = """
local ends = tonumber(ARGV[1])
if ends > (tonumber(redis.call('GET', KEYS[1]) or '0') or 0) then
  redis.call('SET', KEYS[1], ends, 'PX', ARGV[2])
end
return 1
"""


@dataclass
class LedgerService:
    ledger: RedisLedger
    journal: Journal
    redis: aioredis.Redis
    cooldown_ms: int  # the apply layer's re-entry cooldown (``apply.cooldown_ms``)
    closed: int = 0

    def __post_init__(self) -> None:
        self._extend_cooldown = self.redis.register_script(EXTEND_COOLDOWN)

    async def handle(self, message: Message, delivery: Delivery) -> None:
        if not isinstance(message, FillEvent):
            raise TypeError(f"ledger got {type(message).__name__}")
        fill = fill_from_event(message)
        await self.ledger.record_fill(fill)
        await self.journal.record_fill(fill)
        # The apply layer or the reconciler may have folded this fill first; the ledger
        # kept what it closed under the trade id, so the close is journalled either way.
        closing = await self.ledger.closed_by(fill.symbol, fill.trade_id)
        if closing is not None:
            after = position_closed(closing, fill.ts, self.cooldown_ms)
            if after.cooldown_until:
                await self._extend_cooldown(
                    keys=[self.ledger.keys.cooldown_open(fill.symbol)],
                    args=[after.cooldown_until, self.cooldown_ms],
                )
            await journal_close(self.journal, self.redis, self.ledger.keys, closing, fill)
            self.closed += 1


async def journal_close(
    journal: Journal, redis: aioredis.Redis, keys: Keys, closing: LedgerPosition, fill: Fill
) -> None:
    """Journal a position that ``fill`` closed, with the reason the closing order had."""
    planned = await redis.hget(keys.exit_reasons, fill.client_order_id)
    reason = exit_reason_for(fill.client_order_id, closing, as_text(planned) if planned else None)
    latency = await redis.hget(keys.exit_latency, fill.client_order_id)
    await journal.record_close(
        closing, fill.price, fill.ts, reason, int(as_text(latency)) if latency else None
    )


def build_ledger_service(
    service: LedgerService,
    bus: Bus,
    consumer_name: str,
    heartbeat_interval_s: float = 1.0,
    config: ConsumerConfig | None = None,
) -> ServiceRuntime:
    consumer = StreamConsumer(
        bus,
        [bus.keys.fills],
        groups.LEDGER,
        consumer_name,
        service.handle,
        expect={bus.keys.fills: (FillEvent,)},
        config=config or ConsumerConfig(batch=100),
    )
    return ServiceRuntime(
        "ledger",
        bus.clock,
        bus.keys,
        RedisHealthWriter(service.redis),
        consumers=[consumer],
        heartbeat_interval_s=heartbeat_interval_s,
    )
