"""The reconciler's pure diff: make our ledger equal to the exchange (invariants 3 and 5).

Inputs are our ledger positions, the exchange's positions and open orders (regular and
conditional), and in-flight entry leases. The output is a deterministic list of repair
commands sorted by symbol, and within a symbol in the order a repair must be applied:

    DropGhost → AdoptPosition → CorrectDrift → CancelOrphanOrder → PlaceProtectiveStop
    → ResolveInflight

Rules, per symbol:
  * on the exchange, not in the ledger           → ``AdoptPosition`` (id derived from the
    symbol, side and entry price, so a repeated diff adopts under the same id);
  * in the ledger, not on the exchange           → ``DropGhost(not_on_exchange)``;
  * sides differ                                 → ``DropGhost(side_flipped)`` + adopt;
  * qty or entry price differ                    → ``CorrectDrift(old, new)``;
  * a protective stop is a reduce-only or closePosition STOP_MARKET on the exit side; a
    position without one covering its whole qty → ``PlaceProtectiveStop`` (replacing an
    undersized one at its own trigger price, else at the adoption policy price), unless
    an in-flight lease on the symbol is still young (the apply-layer is placing it);
  * more than one protective stop               → cancel all but the first covering one;
  * reduce-only / closePosition orders with no position → ``CancelOrphanOrder(no_position)``;
  * our own (client id prefix) non-reduce-only orders with no lease → ``CancelOrphanOrder``;
  * a lease older than ``inflight_max_age_ms``   → ``ResolveInflight`` (look the order up
    by client id; its outcome is unknown, never assumed).

Adoption stop policy: ``adopt_stop_pct`` from the worse of entry and mark (long: below
min(entry, mark), short: above max(entry, mark)), rounded to tick away from the price, so
the new stop can never trigger on placement (Binance -2021).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.decide import reasons
from quantum_trader.decide.config_checks import require_fraction, require_positive
from quantum_trader.decide.plan_ids import PLAN_ID_HEX_CHARS
from quantum_trader.domain.enums import OrderType, PositionSide
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ONE, ZERO, round_down, round_up
from quantum_trader.domain.orders import Order, PositionState


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    adopt_stop_pct: Decimal = Decimal("0.02")
    inflight_max_age_ms: int = 30_000
    client_id_prefix: str = "qt"

    def __post_init__(self) -> None:
        require_fraction("adopt_stop_pct", self.adopt_stop_pct)
        if self.adopt_stop_pct >= ONE:
            raise ValueError("adopt_stop_pct must be < 1")
        require_positive("inflight_max_age_ms", self.inflight_max_age_ms)


@dataclass(frozen=True, slots=True)
class LedgerView:
    """Our view of a position (written from fills)."""

    symbol: str
    side: PositionSide
    qty: Decimal
    entry_price: Decimal
    position_id: str
    stop_order_id: str | None = None  # client id of its protective stop


@dataclass(frozen=True, slots=True)
class InflightLease:
    symbol: str
    client_order_id: str
    acquired_at: int


@dataclass(frozen=True, slots=True)
class AdoptPosition:
    symbol: str
    side: PositionSide
    qty: Decimal
    entry_price: Decimal
    position_id: str


@dataclass(frozen=True, slots=True)
class DropGhost:
    symbol: str
    position_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class CorrectDrift:
    symbol: str
    position_id: str
    old_qty: Decimal
    new_qty: Decimal
    old_entry_price: Decimal
    new_entry_price: Decimal


@dataclass(frozen=True, slots=True)
class CancelOrphanOrder:
    symbol: str
    client_order_id: str
    exchange_order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlaceProtectiveStop:
    """Reduce-only STOP_MARKET on ``position_side.exit_side`` for ``qty`` at ``stop_price``."""

    symbol: str
    position_side: PositionSide
    qty: Decimal
    stop_price: Decimal
    replaces_client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResolveInflight:
    symbol: str
    client_order_id: str
    age_ms: int


Repair = (
    DropGhost
    | AdoptPosition
    | CorrectDrift
    | CancelOrphanOrder
    | PlaceProtectiveStop
    | ResolveInflight
)


def adopted_position_id(symbol: str, side: PositionSide, entry_price: Decimal) -> str:
    digest = hashlib.sha256(f"adopt:{symbol}:{side}:{entry_price.normalize()}".encode())
    return digest.hexdigest()[:PLAN_ID_HEX_CHARS]


def adoption_stop_price(
    side: PositionSide, entry: Decimal, mark: Decimal, pct: Decimal, tick: Decimal
) -> Decimal:
    if side is PositionSide.LONG:
        return round_down(min(entry, mark) * (ONE - pct), tick)
    return round_up(max(entry, mark) * (ONE + pct), tick)


def is_protective_stop(order: Order, side: PositionSide) -> bool:
    return (
        order.type is OrderType.STOP_MARKET
        and order.side is side.exit_side
        and (order.reduce_only or order.close_position)
    )


def reconcile(
    ledger: Mapping[str, LedgerView],
    exchange_positions: Iterable[PositionState],
    open_orders: Iterable[Order],
    leases: Iterable[InflightLease],
    instruments: Mapping[str, Instrument],
    config: ReconcileConfig,
    now: int,
) -> list[Repair]:
    """Repairs that make the ledger match the exchange; pure and deterministic."""
    venue = {p.symbol: p for p in exchange_positions if p.qty > ZERO}
    orders_by_symbol: dict[str, list[Order]] = {}
    for order in open_orders:
        orders_by_symbol.setdefault(order.symbol, []).append(order)
    leases_by_symbol: dict[str, list[InflightLease]] = {}
    for lease in leases:
        leases_by_symbol.setdefault(lease.symbol, []).append(lease)
    symbols = sorted(set(ledger) | set(venue) | set(orders_by_symbol) | set(leases_by_symbol))
    repairs: list[Repair] = []
    for symbol in symbols:
        orders = sorted(orders_by_symbol.get(symbol, []), key=lambda o: o.client_order_id)
        symbol_leases = sorted(leases_by_symbol.get(symbol, []), key=lambda x: x.client_order_id)
        young = any(now - x.acquired_at <= config.inflight_max_age_ms for x in symbol_leases)
        repairs.extend(_position_repairs(ledger.get(symbol), venue.get(symbol), young))
        ours = ledger.get(symbol)
        recorded = ours.stop_order_id if ours is not None else None
        repairs.extend(
            _order_repairs(
                symbol, venue.get(symbol), orders, symbol_leases, instruments, config, now,
                recorded,
            )
        )  # fmt: skip
        repairs.extend(
            ResolveInflight(symbol, lease.client_order_id, now - lease.acquired_at)
            for lease in symbol_leases
            if now - lease.acquired_at > config.inflight_max_age_ms
        )
    return repairs


def _position_repairs(
    ours: LedgerView | None, theirs: PositionState | None, entry_in_flight: bool = False
) -> list[Repair]:
    if entry_in_flight:
        # The apply layer holds this symbol's lease and is recording the entry's fill:
        # repairing now would adopt or correct a position it is about to write.
        return []
    if ours is not None and ours.qty <= ZERO:
        ours = None
    if ours is None and theirs is None:
        return []
    if ours is not None and theirs is None:
        return [DropGhost(ours.symbol, ours.position_id, reasons.NOT_ON_EXCHANGE)]
    assert theirs is not None  # narrowed: every other case returned above
    adopt = AdoptPosition(
        theirs.symbol,
        theirs.side,
        theirs.qty,
        theirs.entry_price,
        adopted_position_id(theirs.symbol, theirs.side, theirs.entry_price),
    )
    if ours is None:
        return [adopt]
    if ours.side is not theirs.side:
        return [DropGhost(ours.symbol, ours.position_id, reasons.SIDE_FLIPPED), adopt]
    if ours.qty != theirs.qty or ours.entry_price != theirs.entry_price:
        return [
            CorrectDrift(
                ours.symbol,
                ours.position_id,
                ours.qty,
                theirs.qty,
                ours.entry_price,
                theirs.entry_price,
            )
        ]
    return []


def _order_repairs(
    symbol: str,
    position: PositionState | None,
    orders: list[Order],
    leases: list[InflightLease],
    instruments: Mapping[str, Instrument],
    config: ReconcileConfig,
    now: int,
    recorded_stop: str | None = None,
) -> list[Repair]:
    """``recorded_stop``: the stop the ledger knows; of several covering stops it is the
    one kept (a spare one, e.g. an emergency stop placed while the store was down, goes)."""
    repairs: list[Repair] = []
    young_lease = any(now - x.acquired_at <= config.inflight_max_age_ms for x in leases)
    leased_ids = {x.client_order_id for x in leases}
    stops = [o for o in orders if position is not None and is_protective_stop(o, position.side)]
    for order in orders:
        reduces = order.reduce_only or order.close_position
        if position is None and reduces:
            repairs.append(_cancel(order, reasons.NO_POSITION))
        elif (
            not reduces
            and order.client_order_id.startswith(config.client_id_prefix)
            and order.client_order_id not in leased_ids
        ):
            repairs.append(_cancel(order, reasons.NO_LEASE))
    if position is None:
        return repairs
    covering = [o for o in stops if o.close_position or o.quantity >= position.qty]
    covering.sort(key=lambda o: o.client_order_id != recorded_stop)  # stable: recorded first
    keep = covering[0] if covering else None
    repairs.extend(
        _cancel(o, reasons.DUPLICATE_STOP) for o in stops if keep is not None and o is not keep
    )
    if keep is None and not young_lease:
        repairs.append(_protective_stop(position, stops, instruments, config))
    return repairs


def _protective_stop(
    position: PositionState,
    stops: list[Order],
    instruments: Mapping[str, Instrument],
    config: ReconcileConfig,
) -> PlaceProtectiveStop:
    undersized = stops[0] if stops else None
    if undersized is not None and undersized.stop_price is not None:
        price = undersized.stop_price  # keep the trigger someone chose; fix only the size
    else:
        instrument = instruments.get(position.symbol)
        if instrument is None:
            raise ValueError(f"instruments: no instrument for {position.symbol}")
        tick = instrument.tick_size
        price = adoption_stop_price(
            position.side, position.entry_price, position.mark_price, config.adopt_stop_pct, tick
        )
    return PlaceProtectiveStop(
        position.symbol,
        position.side,
        position.qty,
        price,
        undersized.client_order_id if undersized is not None else None,
    )


def _cancel(order: Order, reason: str) -> CancelOrphanOrder:
    return CancelOrphanOrder(order.symbol, order.client_order_id, order.exchange_order_id, reason)
