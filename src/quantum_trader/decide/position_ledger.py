"""The ledger's pure fold: position state derived from fills, never from intentions.

``apply_fill`` turns (position, fill) into the new position; a fill whose trade id was
already applied changes nothing. Every field is required and exact (FAILURES #5: no
entry price 0, no silently defaulted risk field). The position is stored as a Redis hash
of strings with one field-name convention, defined here (FAILURES #7).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from quantum_trader.decide.exit_model import OpenPosition
from quantum_trader.domain.enums import PositionSide, Side
from quantum_trader.domain.money import ZERO, fmt
from quantum_trader.domain.order_ids import is_entry
from quantum_trader.domain.orders import Fill

FIELDS = (
    "symbol",
    "side",
    "qty",
    "entry_price",
    "leverage",
    "position_id",
    "version",
    "opened_at",
    "updated_at",
    "open_client_order_id",
    "initial_qty",
    "initial_stop",
    "stop_price",
    "stop_order_id",
    "ladder_stage",
    "realized_pnl",
    "fees",
    "source",
    "entry_orders",
    "last_entry_order_id",
)


@dataclass(frozen=True, slots=True)
class LedgerPosition:
    """Our record of one open net position. ``qty`` > 0; the side gives direction."""

    symbol: str
    side: PositionSide
    qty: Decimal
    entry_price: Decimal
    leverage: int
    position_id: str
    version: int
    opened_at: int
    updated_at: int
    open_client_order_id: str
    initial_qty: Decimal
    initial_stop: Decimal  # 0 until the first protective stop is acknowledged
    stop_price: Decimal
    stop_order_id: str
    ladder_stage: int
    realized_pnl: Decimal
    fees: Decimal
    source: str  # "plan" (opened by us) or "adopted" (found on the exchange)
    entry_orders: int = 1  # distinct orders that opened or added: the pyramiding count
    last_entry_order_id: str = ""

    def to_hash(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in FIELDS:
            value = getattr(self, name)
            out[name] = fmt(value) if isinstance(value, Decimal) else str(value)
        return out

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> LedgerPosition:
        missing = [f for f in FIELDS if f not in data]
        if missing:
            raise ValueError(f"position hash lacks {', '.join(missing)}")
        d = {k: data[k] for k in FIELDS}
        return cls(
            symbol=d["symbol"],
            side=PositionSide(d["side"]),
            qty=Decimal(d["qty"]),
            entry_price=Decimal(d["entry_price"]),
            leverage=int(d["leverage"]),
            position_id=d["position_id"],
            version=int(d["version"]),
            opened_at=int(d["opened_at"]),
            updated_at=int(d["updated_at"]),
            open_client_order_id=d["open_client_order_id"],
            initial_qty=Decimal(d["initial_qty"]),
            initial_stop=Decimal(d["initial_stop"]),
            stop_price=Decimal(d["stop_price"]),
            stop_order_id=d["stop_order_id"],
            ladder_stage=int(d["ladder_stage"]),
            realized_pnl=Decimal(d["realized_pnl"]),
            fees=Decimal(d["fees"]),
            source=d["source"],
            entry_orders=int(d["entry_orders"]),
            last_entry_order_id=d["last_entry_order_id"],
        )

    @property
    def signed_qty(self) -> Decimal:
        return self.qty * self.side.sign


def position_id_for(symbol: str, client_order_id: str) -> str:
    """Deterministic id of a position: the symbol and the order that opened it."""
    return f"{symbol}:{client_order_id}"


@dataclass(frozen=True, slots=True)
class FillOutcome:
    """What a fill did: the new position (None = flat) and a closed-trade record if any."""

    position: LedgerPosition | None
    closed: LedgerPosition | None  # the position as it was when it went flat
    realized_pnl: Decimal


def apply_fill(position: LedgerPosition | None, fill: Fill, leverage: int) -> FillOutcome:
    """Fold one fill into the net position (one-way mode, average entry price)."""
    fee = fill.commission
    signed = fill.qty if fill.side is Side.BUY else -fill.qty
    if position is None and fill.reduce_only:
        # A reduce-only fill cannot open a position on the venue: the ledger is behind
        # (the position was already dropped); the reconciler settles it, never a phantom.
        return FillOutcome(None, None, ZERO)
    if position is None:
        side = PositionSide.LONG if signed > 0 else PositionSide.SHORT
        opened = LedgerPosition(
            symbol=fill.symbol,
            side=side,
            qty=fill.qty,
            entry_price=fill.price,
            leverage=leverage,
            position_id=position_id_for(fill.symbol, fill.client_order_id),
            version=1,
            opened_at=fill.ts,
            updated_at=fill.ts,
            open_client_order_id=fill.client_order_id,
            initial_qty=fill.qty,
            initial_stop=ZERO,
            stop_price=ZERO,
            stop_order_id="",
            ladder_stage=0,
            realized_pnl=ZERO,
            fees=fee,
            source=_source(fill.client_order_id),
            entry_orders=1,
            last_entry_order_id=fill.client_order_id,
        )
        return FillOutcome(opened, None, ZERO)
    current = position.signed_qty
    new_signed = current + signed
    if (current > 0) == (signed > 0):  # adding to the position: average the entry
        qty = abs(new_signed)
        entry = (position.entry_price * position.qty + fill.price * fill.qty) / qty
        new_order = fill.client_order_id != position.last_entry_order_id
        grown = replace(
            position,
            qty=qty,
            entry_price=entry,
            version=position.version + 1,
            updated_at=fill.ts,
            fees=position.fees + fee,
            entry_orders=position.entry_orders + (1 if new_order else 0),
            last_entry_order_id=fill.client_order_id,
        )
        return FillOutcome(grown, None, ZERO)
    closed_qty = min(fill.qty, position.qty)
    pnl = (fill.price - position.entry_price) * closed_qty * position.side.sign
    realized = position.realized_pnl + pnl
    if new_signed == 0:
        final = replace(
            position,
            qty=ZERO,
            version=position.version + 1,
            updated_at=fill.ts,
            realized_pnl=realized,
            fees=position.fees + fee,
        )
        return FillOutcome(None, final, pnl)
    if (new_signed > 0) == (current > 0):  # reduced, same direction
        reduced = replace(
            position,
            qty=abs(new_signed),
            version=position.version + 1,
            updated_at=fill.ts,
            realized_pnl=realized,
            fees=position.fees + fee,
        )
        return FillOutcome(reduced, None, pnl)
    # Flipped through zero: the old position closed, a new one opened with the rest.
    final = replace(
        position,
        qty=ZERO,
        version=position.version + 1,
        updated_at=fill.ts,
        realized_pnl=realized,
        fees=position.fees + fee,
    )
    rest = abs(new_signed)
    flipped = LedgerPosition(
        symbol=fill.symbol,
        side=PositionSide.LONG if new_signed > 0 else PositionSide.SHORT,
        qty=rest,
        entry_price=fill.price,
        leverage=leverage,
        position_id=position_id_for(fill.symbol, fill.client_order_id),
        version=1,
        opened_at=fill.ts,
        updated_at=fill.ts,
        open_client_order_id=fill.client_order_id,
        initial_qty=rest,
        initial_stop=ZERO,
        stop_price=ZERO,
        stop_order_id="",
        ladder_stage=0,
        realized_pnl=ZERO,
        fees=ZERO,
        source="plan",
        entry_orders=1,
        last_entry_order_id=fill.client_order_id,
    )
    return FillOutcome(flipped, final, pnl)


def _source(client_order_id: str) -> str:
    """Who opened it: our orders carry ``q<purpose>-`` ids; anything else was a person."""
    return "plan" if is_entry(client_order_id) else "adopted"


def judgeable(position: LedgerPosition) -> bool:
    """Can the exit brain judge it? Its protective stop is placed (``initial_stop`` set)
    and on the loss side of the entry fill, so R has a unit. An entry that filled at or
    through its stop (a fill that slipped a tick on a coarse-ticked symbol) is left to
    that stop, which already locks it at no loss."""
    return (
        position.initial_stop > ZERO
        and position.side.sign * (position.entry_price - position.initial_stop) > ZERO
    )


def as_open_position(position: LedgerPosition) -> OpenPosition:
    """The exit brain's view of a ledger position (one conversion for service and backtest)."""
    return OpenPosition(
        position_id=position.position_id,
        symbol=position.symbol,
        side=position.side,
        entry_price=position.entry_price,
        initial_stop=position.initial_stop,
        qty=position.qty,
        initial_qty=position.initial_qty,
        opened_at=position.opened_at,
        leverage=position.leverage,
        fees_paid=position.fees,
    )


def with_stop(
    position: LedgerPosition, stop_price: Decimal, stop_order_id: str, now: int
) -> LedgerPosition:
    """Record the protective stop now working on the exchange (the first one sets R's unit)."""
    initial = position.initial_stop if position.initial_stop > ZERO else stop_price
    return replace(
        position,
        stop_price=stop_price,
        stop_order_id=stop_order_id,
        initial_stop=initial,
        version=position.version + 1,
        updated_at=now,
    )


def with_ladder_stage(position: LedgerPosition, stage: int, now: int) -> LedgerPosition:
    return replace(
        position,
        ladder_stage=max(stage, position.ladder_stage),
        version=position.version + 1,
        updated_at=now,
    )
