"""Every position protected (invariant 3): place, move or resize the exchange-side stop.

A new stop is always placed *before* the old one is cancelled, so there is never a
moment without one. A stop the exchange refuses (e.g. -2021 "would immediately
trigger") leaves the position unprotected, so it is closed at market instead and an
event says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import Event, derive_id
from quantum_trader.clock import Clock
from quantum_trader.decide.order_requests import (
    emergency_exit,
    emergency_stop,
    stop_order,
    unprotected_exit,
)
from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.enums import PositionSide
from quantum_trader.services.ledger import RedisLedger
from quantum_trader.services.order_router import OrderRouter, Refused


@dataclass
class ProtectiveStops:
    router: OrderRouter
    ledger: RedisLedger
    bus: Bus
    clock: Clock
    source: str = "apply-layer"

    async def ensure(
        self, position: LedgerPosition, stop_price: Decimal, label: str | None = None
    ) -> bool:
        """A reduce-only stop for the whole ``position.qty`` at ``stop_price``.

        ``label`` is why the stop is where it is (a moved stop: ``trailing_stop``,
        ``break_even``), recorded against the new stop's id before it is placed, so its
        fill is labelled as the backtest labels it; without one, a stop placed again
        (after a partial close) keeps the label of the one it replaces.
        Returns False when the stop could not be placed and the position was exited.
        """
        # The ledger version makes the id new for every placement that follows a recorded
        # one (a re-place after a hand-cancel), yet the same for a retry after a crash
        # between placing and recording (the exchange then answers -4116 and we find it).
        request = stop_order(position, stop_price)
        coid = request.client_order_id
        await self._label(coid, label, position.stop_order_id)
        placed = await self.router.place(request)
        if isinstance(placed, Refused):
            await self._exit_unprotected(position, stop_price, placed)
            return False
        old = position.stop_order_id
        await self.ledger.set_stop(
            position.symbol, position.position_id, stop_price, coid, self.clock.now_ms()
        )
        if old and old != coid:
            await self.router.cancel_quietly(position.symbol, old)
        return True

    async def _label(self, coid: str, label: str | None, replaced: str) -> None:
        reasons_key = self.bus.keys.exit_reasons
        if label is None and replaced:
            kept = await self.ledger.client.hget(reasons_key, replaced)
            label = as_text(kept) if kept is not None else None
        if label is not None:
            await self.ledger.client.hset(reasons_key, coid, label)

    async def emergency(
        self, symbol: str, side: PositionSide, qty: Decimal, stop_price: Decimal, tag: str
    ) -> bool:
        """A stop straight from the fill, for when the store cannot record it (Redis out
        of memory or gone): nothing here reads or writes Redis, so the position is
        protected whatever the store does. A refused stop exits at market. The
        reconciler later adopts the position and cancels whichever stop is surplus."""
        request = emergency_stop(symbol, side, qty, stop_price, tag)
        placed = await self.router.place(request)
        if not isinstance(placed, Refused):
            return True
        exit_request = emergency_exit(symbol, side, qty, tag)
        await self.router.place(exit_request)
        return False

    async def cancel(self, position: LedgerPosition) -> None:
        if position.stop_order_id:
            await self.router.cancel_quietly(position.symbol, position.stop_order_id)

    async def _exit_unprotected(
        self, position: LedgerPosition, stop_price: Decimal, refusal: Refused
    ) -> None:
        request = unprotected_exit(position)
        placed = await self.router.place(request)
        outcome = "refused" if isinstance(placed, Refused) else "exited"
        if not isinstance(placed, Refused):
            order = await self.router.until_final(placed.order)
            for fill in await self.router.fills_of(order):
                await self.ledger.record_fill(fill)
        now = self.clock.now_ms()
        await self.bus.publish(
            self.bus.keys.events,
            Event(
                msg_id=derive_id("stop-failed", position.position_id, stop_price),
                correlation_id=position.position_id,
                ts_event=now,
                ts_init=now,
                source=self.source,
                kind="protective_stop_failed",
                severity="critical",
                symbol=position.symbol,
                detail=(
                    f"stop at {stop_price} refused ({refusal.code}: {refusal.message}); "
                    f"position {outcome} at market"
                ),
                evidence={"code": str(refusal.code), "exit": outcome},
            ),
        )
