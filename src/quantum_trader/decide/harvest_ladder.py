"""The harvest ladder: partial take-profits on an R ladder, break-even and trailing stops.

Tranches: each rung closes ``action.close_fraction`` of the LIVE position when R reaches
``at_r`` (FAILURES #26 — the action alone defines the fraction). The default ladder is
PARTIAL_25 at +1R, +2R and +3R; since each closes 25% of what is left, it takes 25%,
18.75% and 14.06% of the initial size and trails the remaining ~42%.

Leverage scaling (``scale_by_leverage``): above ``reference_leverage`` a rung triggers
earlier, at ``at_r × max(min_leverage_scale, sqrt(reference_leverage / leverage))`` —
at 20× with the 5× reference, +1R/+2R/+3R become +0.5R/+1R/+1.5R. The square root
tempers the effect; rungs never move later than configured.

Stops only ever tighten (``tighten``): after the first tranche the stop goes to the
fee-inclusive break-even price, and from ``trail_activation_r`` (R at the best price
since entry) an ATR trailing stop follows the best price at ``trail_atr_multiple`` ATR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from quantum_trader.decide.config_checks import require_positive
from quantum_trader.decide.r_multiple import break_even_price
from quantum_trader.domain.enums import PlanAction, PositionSide
from quantum_trader.domain.money import round_down, round_up


@dataclass(frozen=True, slots=True)
class Tranche:
    at_r: Decimal
    action: PlanAction

    def __post_init__(self) -> None:
        require_positive("at_r", self.at_r)
        if self.action.close_fraction is None or self.action is PlanAction.FULL_CLOSE:
            raise ValueError(f"action must be a PARTIAL_* exit, got {self.action}")


def _default_tranches() -> tuple[Tranche, ...]:
    return (
        Tranche(Decimal("1"), PlanAction.PARTIAL_25),
        Tranche(Decimal("2"), PlanAction.PARTIAL_25),
        Tranche(Decimal("3"), PlanAction.PARTIAL_25),
    )


@dataclass(frozen=True, slots=True)
class HarvestConfig:
    tranches: tuple[Tranche, ...] = field(default_factory=_default_tranches)
    scale_by_leverage: bool = False
    reference_leverage: int = 5
    min_leverage_scale: Decimal = Decimal("0.5")
    break_even_after_first_tranche: bool = True
    trail_activation_r: Decimal = Decimal("1.5")
    trail_atr_multiple: Decimal = Decimal("2")

    def __post_init__(self) -> None:
        rungs = [t.at_r for t in self.tranches]
        if rungs != sorted(set(rungs)):
            raise ValueError("tranches must have strictly increasing at_r")
        require_positive("reference_leverage", self.reference_leverage)
        require_positive("min_leverage_scale", self.min_leverage_scale)
        if self.min_leverage_scale > 1:
            raise ValueError("min_leverage_scale must be <= 1")
        require_positive("trail_activation_r", self.trail_activation_r)
        require_positive("trail_atr_multiple", self.trail_atr_multiple)


def leverage_scale(leverage: int, config: HarvestConfig) -> Decimal:
    if not config.scale_by_leverage or leverage <= config.reference_leverage:
        return Decimal(1)
    scale = (Decimal(config.reference_leverage) / Decimal(leverage)).sqrt()
    return max(config.min_leverage_scale, scale)


def trigger_r(tranche: Tranche, leverage: int, config: HarvestConfig) -> Decimal:
    return tranche.at_r * leverage_scale(leverage, config)


def due_tranche(
    stage: int, r: Decimal, leverage: int, config: HarvestConfig
) -> tuple[int, Tranche] | None:
    """The next untaken rung if R has reached it. One rung per evaluation: a gap over
    several rungs takes them on successive evaluations, each against the live qty."""
    if stage >= len(config.tranches):
        return None
    tranche = config.tranches[stage]
    return (stage, tranche) if r >= trigger_r(tranche, leverage, config) else None


def tighten(side: PositionSide, current: Decimal, candidate: Decimal) -> Decimal:
    """The tighter of two stops: a stop may move toward profit, never back."""
    return max(current, candidate) if side is PositionSide.LONG else min(current, candidate)


def break_even_stop(
    side: PositionSide, entry: Decimal, taker_fee_rate: Decimal, tick: Decimal
) -> Decimal:
    """Break-even plus round-trip fees, rounded to tick on the profit side (at least BE)."""
    price = break_even_price(side, entry, taker_fee_rate)
    return round_up(price, tick) if side is PositionSide.LONG else round_down(price, tick)


def trailing_stop(
    side: PositionSide, best_price: Decimal, atr: Decimal, config: HarvestConfig, tick: Decimal
) -> Decimal:
    """ATR trail behind the best price, rounded to tick away from the price (gives room)."""
    distance = atr * config.trail_atr_multiple
    if side is PositionSide.LONG:
        return round_down(best_price - distance, tick)
    return round_up(best_price + distance, tick)
