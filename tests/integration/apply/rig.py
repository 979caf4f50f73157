"""A real apply layer on real Redis against the in-process simulated exchange."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import decode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import ApplyResult, Event, Plan, derive_id
from quantum_trader.clock import SimClock
from quantum_trader.decide.entry_gates import ApplyConfig, GateLimits
from quantum_trader.domain.enums import OrderType, PlanAction, PlanKind, PositionSide
from quantum_trader.domain.orders import Order
from quantum_trader.exchange.sim.core import MatchingCore
from quantum_trader.exchange.sim.exchange import SimExchange
from quantum_trader.services.apply_layer import ApplyLayer
from quantum_trader.services.apply_service import apply_consumer, build_apply_layer
from quantum_trader.services.position_monitor import PositionMonitor

T0 = 1_700_000_040_000
PRICES = {
    "BTCUSDT": "60000",
    "ETHUSDT": "3000",
    "SOLUSDT": "150",
    "XRPUSDT": "0.6",
    "DOGEUSDT": "0.15",
    "BNBUSDT": "600",
}


@dataclass
class ApplyRig:
    exchange: SimExchange
    layer: ApplyLayer
    bus: Bus
    keys: Keys
    redis: aioredis.Redis
    clock: SimClock

    def consumer(self, name: str) -> StreamConsumer:
        return apply_consumer(self.layer, name, ConsumerConfig(batch=10, block_ms=0))

    def open_plan(
        self,
        symbol: str,
        n: int,
        side: PositionSide = PositionSide.LONG,
        qty: str | None = None,
        stop: str | None = None,
    ) -> Plan:
        price = Decimal(PRICES[symbol])
        sign = -1 if side is PositionSide.LONG else 1
        instrument = self.layer.instruments[symbol]
        stop_price = (
            Decimal(stop) if stop else instrument.round_price(price * (1 + sign * Decimal("0.02")))
        )
        amount = Decimal(qty) if qty else instrument.round_qty_down(Decimal(200) / price)
        plan_id = derive_id("plan", symbol, n)
        now = self.clock.now_ms()
        return Plan(
            msg_id=derive_id("msg", plan_id),
            ts_event=now,
            ts_init=now,
            source="test",
            correlation_id=plan_id,
            plan_id=plan_id,
            kind=PlanKind.OPEN,
            symbol=symbol,
            side=side,
            action=PlanAction.OPEN,
            qty=amount,
            stop_price=stop_price,
            reference_price=price,
            leverage=5,
            created_at=now,
            expires_at=now + 30_000,
        )

    def close_plan(
        self,
        symbol: str,
        position_id: str,
        action: PlanAction,
        n: int = 0,
        side: PositionSide = PositionSide.LONG,
        stop: str | None = None,
    ) -> Plan:
        plan_id = derive_id("close", symbol, position_id, action, n)
        now = self.clock.now_ms()
        return Plan(
            msg_id=derive_id("msg", plan_id),
            ts_event=now,
            ts_init=now,
            source="test",
            plan_id=plan_id,
            kind=PlanKind.CLOSE,
            symbol=symbol,
            side=side,
            action=action,
            position_id=position_id,
            stop_price=Decimal(stop) if stop else None,
            created_at=now,
            expires_at=now + 30_000,
        )

    async def results(self) -> list[ApplyResult]:
        return [r for r in await self._read(self.keys.apply_result) if isinstance(r, ApplyResult)]

    async def events(self) -> list[Event]:
        return [e for e in await self._read(self.keys.events) if isinstance(e, Event)]

    async def _read(self, stream: str) -> list[object]:
        return [decode(f[b"msg"]) for _, f in await self.redis.xrange(stream)]

    def orders(self, *, entries_only: bool = False) -> Sequence[Order]:
        orders = self.exchange.core.all_orders()
        if entries_only:
            return [o for o in orders if o.type is OrderType.MARKET and not o.reduce_only]
        return orders

    def monitor(self) -> PositionMonitor:
        """The reconciler over this rig's exchange, ledger and stops."""
        layer = self.layer
        return PositionMonitor(
            self.exchange,
            layer.ledger,
            layer.router,
            layer.stops,
            self.bus,
            self.redis,
            self.clock,
            layer.instruments,
            list(PRICES),
        )

    async def drain(self, *consumers: StreamConsumer) -> None:
        while sum([await c.poll(0) for c in consumers]):
            pass


async def make_rig(
    redis: aioredis.Redis,
    keys: Keys,
    *,
    limits: GateLimits = GateLimits(),
    cooldown_ms: int = 60_000,
    epoch: str | None = None,
) -> ApplyRig:
    clock = SimClock(T0)
    exchange = SimExchange(MatchingCore(seed=7, start_ms=T0), clock=clock)
    for symbol, price in PRICES.items():
        exchange.set_price(symbol, Decimal(price))
    instruments = {i.symbol: i for i in await exchange.instruments()}
    bus = Bus(RedisTransport(redis), clock, keys)
    layer = build_apply_layer(
        exchange=exchange,
        bus=bus,
        redis=redis,
        clock=clock,
        instruments=instruments,
        symbols=list(PRICES),
        limits=limits,
        config=ApplyConfig(cooldown_ms=cooldown_ms),
        epoch=epoch,
    )
    return ApplyRig(exchange, layer, bus, keys, redis, clock)
