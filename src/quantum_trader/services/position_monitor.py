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

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

import redis.asyncio as aioredis
import structlog

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import store_refuses
from quantum_trader.bus.schemas import Event, derive_id
from quantum_trader.clock import Clock
from quantum_trader.decide import reconcile as diff
from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import PositionState
from quantum_trader.exchange.interface import (
    Exchange,
    ExchangeError,
    OrderNotFound,
    OrderOutcomeUnknown,
    RetryableError,
)
from quantum_trader.services.entry_gate import Lease
from quantum_trader.services.journal import Journal
from quantum_trader.services.ledger_port import Ledger
from quantum_trader.services.ledger_service import journal_close
from quantum_trader.services.order_router import OrderRouter, OutcomeUnresolved
from quantum_trader.services.protective_stop import ProtectiveStops

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass
class PositionMonitor:
    exchange: Exchange
    ledger: Ledger
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
    fold_window_ms: int = 3_600_000  # how far back trades explain an unknown position
    stop_grace_ms: int = 120_000
    read_attempts: int = 5  # a spare stop younger than this may be mid-move
    repairs: Counter[str] = field(default_factory=Counter)
    unrecorded: set[str] = field(default_factory=set)  # this round: Redis refused it
    rounds: int = 0

    async def reconcile_once(self) -> list[diff.Repair]:
        """One round. Snapshots are taken in a fixed order — leases, then the ledger, then
        the exchange — so anything the apply layer does meanwhile shows up as in flight
        (a lease) or as the exchange being ahead (explained by its own fills), never as a
        ghost of a position that was opened a moment ago."""
        now = self.clock.now_ms()
        self.unrecorded = set()  # symbols whose repair Redis refused to record this round
        leases = await self._leases(sorted(set(self.symbols)))
        ours = {p.symbol: p for p in await self.ledger.all()}
        # Orders before positions: a stop seen without its position is then really an
        # orphan (its position closed), never the stop of an entry made a moment ago.
        orders = list(await self._read(self.exchange.open_orders))
        theirs = list(await self._read(self.exchange.positions))
        await self._fold_missing_fills(ours, theirs, now)
        views = {
            s: diff.LedgerView(
                s, p.side, p.qty, p.entry_price, p.position_id, p.stop_order_id or None
            )
            for s, p in ours.items()
        }
        watched = set(self.symbols) | set(ours) | {p.symbol for p in theirs}
        known = {s: i for s, i in self.instruments.items() if s in watched}
        repairs = diff.reconcile(views, theirs, orders, leases, known, self.config, now)
        for repair in repairs:
            # One failed repair (a transient exchange error) must not cost the others:
            # a position opened by hand still gets its stop this round.
            try:
                if await self._overtaken(repair):
                    self.repairs["Overtaken"] += 1
                    continue
                await self._carry_out(repair, ours, now)
            except (ExchangeError, OutcomeUnresolved) as exc:
                self.repairs["Failed"] += 1
                log.warning(
                    "repair failed; next round retries",
                    repair=type(repair).__name__,
                    symbol=repair.symbol,
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            except Exception as exc:
                if not store_refuses(exc):
                    raise
                # Redis cannot record it (out of memory, read-only): the exchange is
                # still acted on — a naked position gets its stop below — and the record
                # follows in a round once Redis takes writes.
                self.unrecorded.add(repair.symbol)
                self.repairs["StoreRefused"] += 1
                log.warning(
                    "repair not recorded: redis refuses writes",
                    repair=type(repair).__name__,
                    symbol=repair.symbol,
                )
                continue
            self.repairs[type(repair).__name__] += 1
        self.rounds += 1
        # Proof of a completed round, for stepped time (and operators): market ms + round.
        await self.redis.set(self.bus.keys.reconcile_last, f"{now}:{self.rounds}")
        return repairs

    async def _fold_missing_fills(
        self, ours: dict[str, LedgerPosition], theirs: Sequence[PositionState], now: int
    ) -> None:
        """Facts before repairs: a ledger that disagrees with the exchange may only be
        behind (a fill in flight), so fold the exchange's own recent trades first and
        update ``ours`` with what they made of the position."""
        live = {p.symbol: p.signed_qty for p in theirs}
        for symbol in sorted(set(live) | set(ours)):
            mine = ours[symbol].signed_qty if symbol in ours else ZERO
            if live.get(symbol, ZERO) == mine:
                continue
            since = ours[symbol].opened_at if symbol in ours else now - self.fold_window_ms
            for fill in await self._read(self.exchange.my_trades, symbol, since):
                try:
                    outcome = await self.ledger.record_fill(fill)
                except Exception as exc:
                    if not store_refuses(exc):
                        raise
                    self.unrecorded.add(symbol)
                    break
                if outcome is None:
                    continue
                self.repairs["FoldedFill"] += 1
                if outcome.closed is not None and self.journal is not None:
                    await journal_close(
                        self.journal, self.redis, self.bus.keys, outcome.closed, fill
                    )
            # Re-read even when nothing was folded here: another process (apply layer,
            # ledger service) may have folded the same fills since our ledger snapshot.
            current = await self.ledger.read(symbol)
            if current is None:
                ours.pop(symbol, None)
            else:
                ours[symbol] = current

    async def _read(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Reads are idempotent: retry transient failures (wall-clock backoff)."""
        for attempt in range(self.read_attempts):
            try:
                return await call(*args)
            except (RetryableError, OrderOutcomeUnknown):
                if attempt + 1 == self.read_attempts:
                    raise
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")

    async def _overtaken(self, repair: diff.Repair) -> bool:
        """Live facts just before a stop repair: skip it if the apply layer got there first
        (an entry now in flight, a covering stop already working, the position back)."""
        if isinstance(repair, diff.PlaceProtectiveStop):
            raw = await self.redis.get(self.bus.keys.inflight(repair.symbol))
            if raw:
                # Only a young lease means the apply layer is placing this stop right now;
                # one left by a killed executor must not keep the position unprotected.
                age = self.clock.now_ms() - Lease.from_json(raw).since
                if age <= self.config.inflight_max_age_ms:
                    return True
            exit_side = repair.position_side.exit_side
            live = await self._read(self.exchange.open_orders, repair.symbol)
            return any(
                o.type is OrderType.STOP_MARKET
                and o.side is exit_side
                and (o.close_position or o.quantity >= repair.qty)
                and o.client_order_id != repair.replaces_client_order_id
                for o in live
            )
        if isinstance(repair, diff.CancelOrphanOrder) and repair.reason == "no_position":
            positions = await self._read(self.exchange.positions)
            return any(p.symbol == repair.symbol and p.qty > 0 for p in positions)
        if isinstance(repair, diff.CancelOrphanOrder) and repair.reason == "duplicate_stop":
            # Two stops are normal while a stop moves (new placed, old about to go): never
            # cancel the one the ledger records, nor a young one. A spare stop is harmless.
            position = await self.ledger.read(repair.symbol)
            if position is not None and position.stop_order_id == repair.client_order_id:
                return True
            try:
                order = await self.exchange.fetch_order(repair.symbol, repair.client_order_id)
            except OrderNotFound:
                return True
            return self.clock.now_ms() - order.created_at < self.stop_grace_ms
        return False

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
                mark = (await self._read(self.exchange.mark_price, repair.symbol)).mark_price
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
            if position is None and repair.symbol in self.unrecorded:
                # The adoption could not be recorded: protect the exchange's position
                # straight from the repair, as the apply layer does for an entry fill.
                tag = f"reconcile:{repair.symbol}:{repair.qty}:{repair.stop_price}"
                await self.stops.emergency(
                    repair.symbol, repair.position_side, repair.qty, repair.stop_price, tag
                )
                detail = f"emergency stop {repair.qty} @ {repair.stop_price} (not recorded)"
                await self._announce(repair, detail, now)
                return
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
