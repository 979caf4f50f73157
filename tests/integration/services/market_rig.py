"""A hand-made BTCUSDT market and a Redis-backed rig for the service tests."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import decode
from quantum_trader.bus.consumer import StreamConsumer
from quantum_trader.bus.idempotency import RedisEffectStore
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.bus.schemas import MarketBar, Message, derive_id
from quantum_trader.clock import SimClock
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.strategies import Bar

MINUTE_MS = 60_000
T0 = 1_700_000_000_000
WICK = Decimal(150)


def closes() -> list[Decimal]:
    """Up-trend, dip (cross down), rally (cross up), dip, rally: crosses at bars 32/38/49/52."""
    series = [Decimal(30000)]
    for count, step in ((30, 60), (6, -150), (8, 300), (6, -150), (8, 300)):
        for _ in range(count):
            series.append(series[-1] + step)
    return series


def market_bars(series: list[Decimal], symbol: str = "BTCUSDT") -> list[MarketBar]:
    bars = []
    prev = series[0]
    for i, close in enumerate(series):
        open_time = T0 + i * MINUTE_MS
        bars.append(
            MarketBar(
                msg_id=derive_id("bar", symbol, "1m", open_time),
                ts_event=open_time + MINUTE_MS - 1,
                ts_init=open_time + MINUTE_MS,
                source="feed",
                symbol=symbol,
                interval="1m",
                open_time=open_time,
                close_time=open_time + MINUTE_MS - 1,
                open=prev,
                high=max(prev, close) + WICK,
                low=min(prev, close) - WICK,
                close=close,
                volume=Decimal(100),
            )
        )
        prev = close
    return bars


def as_strategy_bar(bar: MarketBar) -> Bar:
    return Bar(
        bar.symbol,
        bar.interval,
        bar.open_time,
        float(bar.open),
        float(bar.high),
        float(bar.low),
        float(bar.close),
        float(bar.volume),
    )


@dataclass
class Rig:
    client: aioredis.Redis
    keys: Keys
    clock: SimClock
    bus: Bus
    effects: RedisEffectStore
    exchange: SimExchange

    async def read(self, stream: str) -> list[Message]:
        entries = await self.client.xrange(stream) or []
        return [decode(fields[b"msg"]) for _, fields in entries if fields]

    async def drain(self, consumer: StreamConsumer) -> int:
        total = 0
        while handled := await consumer.poll(0):
            total += handled
        return total


def make_rig(client: aioredis.Redis, keys: Keys, start_ms: int = T0) -> Rig:
    clock = SimClock(start_ms)
    return Rig(
        client=client,
        keys=keys,
        clock=clock,
        bus=Bus(RedisTransport(client), clock, keys),
        effects=RedisEffectStore(client, keys),
        exchange=SimExchange(core=MatchingCore(seed=7, start_ms=start_ms), clock=clock),
    )
