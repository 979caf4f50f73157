"""Instruments with Binance USDⓈ-M filters and leverage brackets.

Field names follow /fapi/v1/exchangeInfo (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE,
MIN_NOTIONAL) and /fapi/v1/leverageBracket so that values can be checked against
recorded exchange data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.domain.money import ZERO, is_multiple, round_down, round_nearest


@dataclass(frozen=True, slots=True)
class LeverageBracket:
    """One notional tier: positions up to ``notional_cap`` may use up to ``max_leverage``."""

    bracket: int
    max_leverage: int
    notional_floor: Decimal
    notional_cap: Decimal
    maint_margin_ratio: Decimal
    cum: Decimal  # maintenance amount: Binance's "cum" fast-path constant


@dataclass(frozen=True, slots=True)
class Instrument:
    """A perpetual contract and the rules an order must satisfy to be accepted."""

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    brackets: tuple[LeverageBracket, ...]
    price_precision: int
    quantity_precision: int

    def round_price(self, price: Decimal) -> Decimal:
        return round_nearest(price, self.tick_size)

    def round_qty_down(self, qty: Decimal) -> Decimal:
        return round_down(qty, self.step_size)

    def price_ok(self, price: Decimal) -> bool:
        return self.min_price <= price <= self.max_price and is_multiple(
            price - self.min_price, self.tick_size
        )

    def qty_ok(self, qty: Decimal, *, market: bool) -> bool:
        step = self.market_step_size if market else self.step_size
        lo = self.market_min_qty if market else self.min_qty
        hi = self.market_max_qty if market else self.max_qty
        return qty > ZERO and lo <= qty <= hi and is_multiple(qty, step)

    def bracket_for(self, notional: Decimal) -> LeverageBracket:
        """The tier whose notional range contains ``notional`` (the last tier caps everything)."""
        for tier in self.brackets:
            if notional <= tier.notional_cap:
                return tier
        return self.brackets[-1]

    def max_notional_at(self, leverage: int) -> Decimal:
        """Largest position notional allowed at ``leverage`` (Binance -2027 above it)."""
        allowed = [t.notional_cap for t in self.brackets if t.max_leverage >= leverage]
        return max(allowed) if allowed else ZERO

    @property
    def max_leverage(self) -> int:
        return max(t.max_leverage for t in self.brackets)

    def maintenance_margin(self, notional: Decimal) -> Decimal:
        tier = self.bracket_for(abs(notional))
        return abs(notional) * tier.maint_margin_ratio - tier.cum
