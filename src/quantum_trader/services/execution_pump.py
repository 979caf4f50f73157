"""Exchange execution events → ``quantum:stream:fills``, every fill exactly once.

Fills arrive from the exchange's user-data stream. Events can be dropped or delayed
(a WebSocket drop, a lost packet), so a periodic sweep also asks the exchange for its
own trades on every symbol we hold or recently traded and publishes any fill not yet
seen. Both paths dedupe on the exchange's trade id, so nothing is published twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import encode
from quantum_trader.bus.idempotency import EffectStore, StreamAdd
from quantum_trader.bus.schemas import FillEvent, derive_id
from quantum_trader.clock import Clock
from quantum_trader.domain.orders import Fill
from quantum_trader.exchange.interface import Exchange, OrderUpdate


def fill_event(fill: Fill, now: int, source: str = "exchange") -> FillEvent:
    return FillEvent(
        msg_id=derive_id("fill", fill.symbol, fill.trade_id),
        correlation_id=fill.client_order_id,
        ts_event=fill.ts,
        ts_init=now,
        source=source,
        symbol=fill.symbol,
        trade_id=fill.trade_id,
        exchange_order_id=fill.exchange_order_id,
        client_order_id=fill.client_order_id,
        side=fill.side,
        price=fill.price,
        qty=fill.qty,
        commission=fill.commission,
        commission_asset=fill.commission_asset,
        realized_pnl=fill.realized_pnl,
        maker=fill.maker,
        reduce_only=fill.reduce_only,
    )


@dataclass
class ExecutionPump:
    exchange: Exchange
    bus: Bus
    effects: EffectStore
    clock: Clock
    published: int = 0
    swept: int = 0
    _since: dict[str, int] = field(default_factory=dict)

    async def forward(self, fill: Fill) -> bool:
        event = fill_event(fill, self.clock.now_ms())
        applied = await self.effects.apply_once(
            f"fill:{fill.symbol}:{fill.trade_id}",
            [StreamAdd(self.bus.keys.fills, encode(event), self.bus.maxlen)],
        )
        self._since[fill.symbol] = max(self._since.get(fill.symbol, 0), fill.ts)
        self.published += int(applied)
        return applied

    async def events(self, stop: asyncio.Event) -> None:
        """Forward fills from the execution-event stream until ``stop``."""
        stream = self.exchange.execution_events()
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                nxt = asyncio.ensure_future(anext(stream))
                done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await nxt
                    return
                event = nxt.result()
                if isinstance(event, OrderUpdate) and event.fill is not None:
                    await self.forward(event.fill)
        finally:
            stopper.cancel()

    async def sweep(self, symbols: Iterable[str]) -> int:
        """Publish trades the event stream did not deliver (dropped or delayed events)."""
        found = 0
        for symbol in sorted(set(symbols)):
            since = self._since.get(symbol)
            for fill in await self.exchange.my_trades(symbol, since=since):
                if await self.forward(fill):
                    found += 1
        self.swept += found
        return found
