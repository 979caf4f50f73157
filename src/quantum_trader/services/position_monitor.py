"""The position monitor: keeps our ledger equal to the exchange (invariant 5).

Every interval (and at start, before the apply layer takes plans) it fetches the
exchange's positions and open orders with the all-symbols endpoints, diffs them against
the ledger with the pure ``decide.reconcile.reconcile`` and carries out the repairs:
adopt a position opened by hand (and protect it), drop a ghost the exchange no longer
has (FAILURES #19), correct drift, re-place a missing stop, cancel orphaned orders, and
resolve in-flight leases by client order id. Every repair is an event flagged as
reconciliation, and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.schemas import Event, derive_id
from quantum_trader.clock import Clock
from quantum_trader.decide import reconcile as diff
from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import PositionState
from quantum_trader.exchange.interface import Exchange
from quantum_trader.services.entry_gate import Lease
from quantum_trader.services.journal import Journal
from quantum_trader.services.ledger import RedisLedger
from quantum_trader.services.ledger_service import journal_close
from quantum_trader.services.order_router import OrderRouter
from quantum_trader.services.protective_stop import ProtectiveStops


@dataclass
class PositionMonitor:
    exchange: Exchange
    ledger: RedisLedger
    router: OrderRouter
    stops: ProtectiveStops
    bus: Bus
    redis: aioredis.Redis
    clock: Clock
    instruments: Mapping[str, Instrument]
    symbols: Sequence[str]
    journal: Journal | None = None
    config: diff.ReconcileConfig = field(
        default_factory=lambda: diff.ReconcileConfig(client_id_prefix="q")
    )
    repairs: Counter[str] = field(default_factory=Counter)
    rounds: int = 0

    async def reconcile_once(self) -> list[diff.Repair]:
        now = self.clock.now_ms()
        theirs = list(await self.exchange.positions())
        await self._fold_missing_fills(theirs)
        ours = {p.symbol: p for p in await self.ledger.all()}
        orders = list(await self.exchange.open_orders())
        watched = sorted(set(self.symbols) | set(ours) | {p.symbol for p in theirs})
        leases = await self._leases(watched)
        views = {
            s: diff.LedgerView(
                s, p.side, p.qty, p.entry_price, p.position_id, p.stop_order_id or None
            )
            for s, p in ours.items()
        }
        known = {s: i for s, i in self.instruments.items() if s in watched}
        repairs = diff.reconcile(views, theirs, orders, leases, known, self.config, now)
        for repair in repairs:
            await self._carry_out(repair, ours, now)
            self.repairs[type(repair).__name__] += 1
        self.rounds += 1
        return repairs

    async def _fold_missing_fills(self, theirs: Sequence[PositionState]) -> None:
        """Facts before repairs: a ledger that disagrees with the exchange may only be
        behind (a fill still in flight), so fold the exchange's own trades first."""
        live = {p.symbol: p.signed_qty for p in theirs}
        for position in await self.ledger.all():
            if live.get(position.symbol, ZERO) == position.signed_qty:
                continue
            trades = await self.exchange.my_trades(position.symbol, since=position.opened_at)
            for fill in trades:
                outcome = await self.ledger.record_fill(fill)
                if outcome is None:
                    continue
                self.repairs["FoldedFill"] += 1
                if outcome.closed is not None and self.journal is not None:
                    await journal_close(
                        self.journal, self.redis, self.bus.keys, outcome.closed, fill
                    )

    async def _leases(self, symbols: Sequence[str]) -> list[diff.InflightLease]:
        out = []
        for symbol in symbols:
            raw = await self.redis.get(self.bus.keys.inflight(symbol))
            if raw:
                lease = Lease.from_json(raw)
                out.append(diff.InflightLease(symbol, lease.client_order_id, lease.since))
        return out

    async def _carry_out(
        self, repair: diff.Repair, ours: dict[str, LedgerPosition], now: int
    ) -> None:
        detail = ""
        if isinstance(repair, diff.DropGhost):
            gone = ours.get(repair.symbol)
            await self.ledger.replace(None, repair.symbol)
            if gone is not None and self.journal is not None:
                mark = (await self.exchange.mark_price(repair.symbol)).mark_price
                await self.journal.record_close(gone, mark, now, f"ghost:{repair.reason}")
            detail = f"dropped {repair.position_id}: {repair.reason}"
        elif isinstance(repair, diff.AdoptPosition):
            adopted = _adopted(repair, now)
            await self.ledger.replace(adopted, repair.symbol)
            ours[repair.symbol] = adopted
            detail = f"adopted {repair.side} {repair.qty} @ {repair.entry_price}"
        elif isinstance(repair, diff.CorrectDrift):
            await self.ledger.update(
                repair.symbol,
                repair.position_id,
                lambda p: replace(
                    p,
                    qty=repair.new_qty,
                    entry_price=repair.new_entry_price,
                    version=p.version + 1,
                    updated_at=now,
                ),
            )
            detail = f"qty {repair.old_qty} -> {repair.new_qty}"
        elif isinstance(repair, diff.CancelOrphanOrder):
            await self.router.cancel_quietly(repair.symbol, repair.client_order_id)
            detail = f"cancelled {repair.client_order_id}: {repair.reason}"
        elif isinstance(repair, diff.PlaceProtectiveStop):
            position = await self.ledger.read(repair.symbol)
            if position is None:
                return
            sized = replace(
                position,
                qty=repair.qty,
                stop_order_id=repair.replaces_client_order_id or position.stop_order_id,
            )
            await self.stops.ensure(sized, repair.stop_price)
            detail = f"stop {repair.qty} @ {repair.stop_price}"
        else:
            order = await self.router.resolve(repair.symbol, repair.client_order_id)
            if order is not None:
                for fill in await self.router.fills_of(order):
                    await self.ledger.record_fill(fill)
            detail = f"lease {repair.client_order_id}: {'found' if order else 'no order'}"
        await self._announce(repair, detail, now)

    async def _announce(self, repair: diff.Repair, detail: str, now: int) -> None:
        kind = type(repair).__name__
        await self.bus.publish(
            self.bus.keys.events,
            Event(
                msg_id=derive_id("repair", kind, repair.symbol, now, detail),
                ts_event=now,
                ts_init=now,
                source="position-monitor",
                kind="reconcile_repair",
                severity="warning",
                symbol=repair.symbol,
                detail=f"{kind}: {detail}",
                reconciliation=True,
                evidence={"repair": kind},
            ),
        )


def _adopted(repair: diff.AdoptPosition, now: int) -> LedgerPosition:
    return LedgerPosition(
        symbol=repair.symbol,
        side=repair.side,
        qty=repair.qty,
        entry_price=repair.entry_price,
        leverage=1,
        position_id=repair.position_id,
        version=1,
        opened_at=now,
        updated_at=now,
        open_client_order_id="",
        initial_qty=repair.qty,
        initial_stop=ZERO,
        stop_price=ZERO,
        stop_order_id="",
        ladder_stage=0,
        realized_pnl=ZERO,
        fees=Decimal(0),
        source="adopted",
    )
