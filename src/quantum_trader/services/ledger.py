"""The ledger: the only code that writes ``quantum:position:{SYMBOL}``.

Positions are folded from fills (``decide.position_ledger.apply_fill``) inside an
optimistic Redis transaction (WATCH/MULTI) together with the fill-id dedupe set, so a
fill applied twice, or by two processes at once, changes nothing (FAILURES #7). The
apply layer records its own fills synchronously before it publishes a result, so a
reader never sees an executed result before the position it created; the ledger
service records every fill from the fills stream (a no-op for those already applied).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import FillEvent
from quantum_trader.decide.position_ledger import (
    FillOutcome,
    LedgerPosition,
    apply_fill,
)
from quantum_trader.domain.orders import Fill
from quantum_trader.services.ledger_port import StopAndStage

FILL_DEDUPE_TTL_S = 14 * 86_400


def fill_from_event(event: FillEvent) -> Fill:
    return Fill(
        symbol=event.symbol,
        trade_id=event.trade_id,
        exchange_order_id=event.exchange_order_id,
        client_order_id=event.client_order_id,
        side=event.side,
        price=event.price,
        qty=event.qty,
        commission=event.commission,
        commission_asset=event.commission_asset,
        realized_pnl=event.realized_pnl,
        maker=event.maker,
        reduce_only=event.reduce_only,
        ts=event.ts_event,
    )


def _decode(raw: Any) -> LedgerPosition | None:
    if not raw:
        return None
    return LedgerPosition.from_hash({as_text(k): as_text(v) for k, v in raw.items()})


class RedisLedger(StopAndStage):
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    async def read(self, symbol: str) -> LedgerPosition | None:
        return _decode(await self.client.hgetall(self.keys.position(symbol)))

    async def all(self) -> list[LedgerPosition]:
        symbols = sorted(as_text(s) for s in await self.client.smembers(self.keys.positions))
        out = []
        for symbol in symbols:
            position = await self.read(symbol)
            if position is not None:
                out.append(position)
        return out

    async def record_fill(self, fill: Fill, leverage: int | None = None) -> FillOutcome | None:
        """Fold ``fill`` in; None when this trade id was already applied."""
        pos_key, seen_key = self.keys.position(fill.symbol), self.keys.ledger_fills(fill.symbol)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(pos_key, seen_key)
                    if await pipe.sismember(seen_key, fill.trade_id):
                        await pipe.reset()
                        return None
                    current = _decode(await pipe.hgetall(pos_key))
                    lev = leverage or (current.leverage if current else 1)
                    outcome = apply_fill(current, fill, lev)
                    pipe.multi()
                    self._write(pipe, fill.symbol, outcome.position)
                    pipe.sadd(seen_key, fill.trade_id)
                    pipe.expire(seen_key, FILL_DEDUPE_TTL_S)
                    if outcome.closed is not None:
                        closed_key = self.keys.ledger_closed(fill.symbol)
                        pipe.hset(closed_key, fill.trade_id, json.dumps(outcome.closed.to_hash()))
                        pipe.expire(closed_key, FILL_DEDUPE_TTL_S)
                    await pipe.execute()
                    return outcome
                except WatchError:
                    continue

    def _write(
        self, pipe: aioredis.client.Pipeline, symbol: str, position: LedgerPosition | None
    ) -> None:
        pos_key = self.keys.position(symbol)
        pipe.delete(pos_key)
        if position is None:
            pipe.srem(self.keys.positions, symbol)
        else:
            mapping: dict[Any, Any] = position.to_hash()
            pipe.hset(pos_key, mapping=mapping)
            pipe.sadd(self.keys.positions, symbol)

    async def closed_by(self, symbol: str, trade_id: str) -> LedgerPosition | None:
        """The position ``trade_id`` closed, if it closed one (whoever folded it)."""
        raw = await self.client.hget(self.keys.ledger_closed(symbol), trade_id)
        return LedgerPosition.from_hash(json.loads(raw)) if raw else None

    async def update(
        self,
        symbol: str,
        position_id: str,
        change: Callable[[LedgerPosition], LedgerPosition | None],
    ) -> LedgerPosition | None:
        """Apply ``change`` to the live position if it is still ``position_id``."""
        pos_key = self.keys.position(symbol)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(pos_key)
                    current = _decode(await pipe.hgetall(pos_key))
                    if current is None or current.position_id != position_id:
                        await pipe.reset()
                        return None
                    new = change(current)
                    pipe.multi()
                    self._write(pipe, symbol, new)
                    await pipe.execute()
                    return new
                except WatchError:
                    continue

    async def replace(self, position: LedgerPosition | None, symbol: str) -> None:
        """Reconciler repairs: write the exchange's truth (adopt, correct drift, drop ghost)."""
        async with self.client.pipeline(transaction=True) as pipe:
            self._write(pipe, symbol, position)
            await pipe.execute()
