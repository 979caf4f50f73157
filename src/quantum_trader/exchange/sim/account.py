"""Cross-margin USDT account: wallet, one-way net positions, realized PnL and margins.

Positions keep a signed quantity and a signed cost basis (sum of signed qty × price of the
open part) instead of a rounded average price, so a round trip realizes exactly the
hand-computed PnL; the average entry price is derived (cost / qty) only for display.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO

# Binance reports USDT amounts with 8 decimals; only inexact divisions are rounded to it.
USDT_QUANTUM = Decimal("0.00000001")


@dataclass(slots=True)
class Position:
    """One symbol's net position. ``qty`` and ``cost`` are signed (short < 0)."""

    symbol: str
    qty: Decimal = ZERO
    cost: Decimal = ZERO
    # Float mirrors for the per-bar liquidation pre-check; never used for money.
    qty_f: float = 0.0
    cost_f: float = 0.0

    @property
    def entry_price(self) -> Decimal:
        return self.cost / self.qty if self.qty else ZERO

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.qty * mark - self.cost

    def apply_fill(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Add a signed fill at ``price``; returns the PnL it realizes (exact)."""
        realized = ZERO
        if self.qty and (self.qty > 0) != (signed_qty > 0):
            closing_abs = min(abs(signed_qty), abs(self.qty))
            closing = closing_abs if signed_qty > 0 else -closing_abs
            if closing_abs == abs(self.qty):
                removed = self.cost
            else:
                removed = (self.cost * closing_abs / abs(self.qty)).quantize(
                    USDT_QUANTUM, rounding=ROUND_HALF_EVEN
                )
            realized = -(closing * price) - removed
            self.qty += closing
            self.cost -= removed
            signed_qty -= closing
        if signed_qty:
            self.qty += signed_qty
            self.cost += signed_qty * price
        if not self.qty:
            self.cost = ZERO
        self.qty_f = float(self.qty)
        self.cost_f = float(self.cost)
        return realized


@dataclass(slots=True)
class Ledger:
    """Cumulative cash flows, so the wallet can be audited: wallet = start + Σ flows."""

    realized_pnl: Decimal = ZERO
    commission: Decimal = ZERO
    funding: Decimal = ZERO
    insurance: Decimal = ZERO  # bankruptcy losses the insurance fund absorbed


@dataclass(slots=True)
class Account:
    """The USDT wallet and the positions it margins."""

    wallet: Decimal
    default_leverage: int
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)

    def position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def position_qty(self, symbol: str) -> Decimal:
        pos = self.positions.get(symbol)
        return pos.qty if pos is not None else ZERO

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, self.default_leverage)

    def book_trade(self, realized: Decimal, commission: Decimal) -> None:
        self.wallet += realized - commission
        self.ledger.realized_pnl += realized
        self.ledger.commission += commission

    def book_funding(self, amount: Decimal) -> None:
        self.wallet += amount
        self.ledger.funding += amount

    def cover_bankruptcy(self) -> None:
        """After a liquidation the wallet never stays negative: the insurance fund pays."""
        if self.wallet < 0:
            self.ledger.insurance -= self.wallet
            self.wallet = ZERO


def initial_margin(notional: Decimal, leverage: int) -> Decimal:
    """Initial margin of a notional at a leverage, rounded up to Binance's 8 decimals."""
    return (abs(notional) / leverage).quantize(USDT_QUANTUM, rounding=ROUND_UP)


def maintenance_margin(instrument: Instrument, notional: Decimal) -> Decimal:
    return instrument.maintenance_margin(abs(notional))


def liquidation_price(
    instrument: Instrument, pos: Position, mark: Decimal, other_equity: Decimal
) -> Decimal:
    """Mark price at which this position alone would bring the account to maintenance.

    ``other_equity`` is wallet + other positions' unrealized PnL − their maintenance
    margin (cross margin shares one wallet). Uses the bracket at the current notional,
    as Binance's own positionRisk estimate does.
    """
    if not pos.qty:
        return ZERO
    tier = instrument.bracket_for(abs(pos.qty) * mark)
    qty = abs(pos.qty)
    if pos.qty > 0:
        price = (pos.cost - other_equity - tier.cum) / (qty * (1 - tier.maint_margin_ratio))
    else:
        price = (other_equity - pos.cost + tier.cum) / (qty * (1 + tier.maint_margin_ratio))
    if price <= 0:
        return ZERO
    return instrument.round_price(price)
