"""How a market order's fill price is formed: half-spread plus size impact, on the tick.

Deterministic given the seeded ``random.Random`` the core owns: the only random part is
an optional uniform jitter of whole ticks, so two runs with one seed fill identically.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.domain.enums import Side
from quantum_trader.domain.instruments import Instrument


@dataclass(frozen=True, slots=True)
class SlippageModel:
    """Ticks a taker pays beyond the reference (last) price."""

    half_spread_ticks: int = 1
    impact_notional_per_tick: Decimal = Decimal(250_000)  # one more tick per this notional
    jitter_ticks: int = 0  # uniform 0..jitter extra ticks from the seeded generator

    def ticks(self, notional: Decimal, rng: random.Random) -> int:
        impact = int(notional / self.impact_notional_per_tick) if notional > 0 else 0
        jitter = rng.randint(0, self.jitter_ticks) if self.jitter_ticks else 0
        return self.half_spread_ticks + impact + jitter

    def fill_price(
        self,
        instrument: Instrument,
        reference: Decimal,
        side: Side,
        qty: Decimal,
        rng: random.Random,
        *,
        on_tick: bool = True,
    ) -> Decimal:
        """``on_tick`` False (continuous prices): the reference is neither rounded to the
        tick nor held inside the instrument's price filter."""
        base = instrument.round_price(reference) if on_tick else reference
        offset = self.ticks(base * qty, rng) * instrument.tick_size
        if not on_tick:
            return base + offset if side is Side.BUY else base - offset
        if side is Side.BUY:
            return min(base + offset, instrument.max_price)
        return max(base - offset, instrument.min_price)


NO_SLIPPAGE = SlippageModel(half_spread_ticks=0, impact_notional_per_tick=Decimal("1E+30"))
