"""Close quantity at execution time, against the LIVE position (invariant 4, FAILURES #12).

    close_qty = round_down(fraction × live_qty, step)

* position gone (None or qty 0)        → SKIP ``no_position``
* a different position on the symbol   → SKIP ``stale_position`` (the plan was for one
                                          that has since been closed and re-opened)
* fraction outside (0, 1]              → SKIP ``invalid_fraction``
* the part is below minQty             → close ALL (``partial_below_min``): the position
                                          is too small to split, and reducing risk is safe
* the remainder would be below minQty, or below min notional at ``price``
                                        → close ALL (``remainder_below_min``): never leave
                                          dust the exchange would refuse to close later
The result is never 0 and never more than the live qty. Closes are MARKET reduce-only
orders, so the MARKET_LOT_SIZE step and minimum apply.

After a partial close the protective stop must cover exactly the remaining qty:
``protective_stop_after_close`` says keep, resize or cancel.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from quantum_trader.decide import reasons
from quantum_trader.decide.reasons import Rejection
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ONE, ZERO, round_down


@dataclass(frozen=True, slots=True)
class LivePosition:
    """The position as the ledger holds it at execution time."""

    position_id: str
    symbol: str
    side: PositionSide
    qty: Decimal


@dataclass(frozen=True, slots=True)
class CloseOrder:
    """Quantity to send as a reduce-only market order on ``side.exit_side``."""

    side: PositionSide
    qty: Decimal
    remaining_qty: Decimal
    closes_all: bool
    note: str | None = None  # why a partial was widened to a full close


def close_qty_for(
    live: LivePosition | None,
    plan_position_id: str,
    fraction: Decimal,
    instrument: Instrument,
    price: Decimal,
) -> CloseOrder | Rejection:
    if live is None or live.qty <= ZERO:
        return Rejection(reasons.NO_POSITION, "no live position")
    if live.position_id != plan_position_id:
        return Rejection(
            reasons.STALE_POSITION,
            f"plan for {plan_position_id}, live position is {live.position_id}",
        )
    if not ZERO < fraction <= ONE:
        return Rejection(reasons.INVALID_FRACTION, f"fraction {fraction} not in (0, 1]")
    if fraction == ONE:
        return CloseOrder(live.side, live.qty, ZERO, closes_all=True)
    step, min_qty = instrument.market_step_size, instrument.market_min_qty
    qty = round_down(fraction * live.qty, step)
    if qty <= ZERO or qty < min_qty:
        return _close_all(live, reasons.PARTIAL_BELOW_MIN)
    remainder = live.qty - qty
    if remainder < min_qty or remainder * price < instrument.min_notional:
        return _close_all(live, reasons.REMAINDER_BELOW_MIN)
    return CloseOrder(live.side, qty, remainder, closes_all=False)


def _close_all(live: LivePosition, note: str) -> CloseOrder:
    return CloseOrder(live.side, live.qty, ZERO, closes_all=True, note=note)


class StopAdjustment(StrEnum):
    KEEP = "KEEP"
    RESIZE = "RESIZE"
    CANCEL = "CANCEL"


@dataclass(frozen=True, slots=True)
class ProtectiveStopChange:
    adjustment: StopAdjustment
    qty: Decimal  # the stop's quantity afterwards (0 when cancelled)


def protective_stop_after_close(
    remaining_qty: Decimal, stop_qty: Decimal | None, *, close_position: bool = False
) -> ProtectiveStopChange:
    """New stop qty = remaining qty; nothing left → cancel. A ``closePosition`` stop
    already covers whatever remains, so it is kept until the position is gone."""
    if remaining_qty <= ZERO:
        return ProtectiveStopChange(StopAdjustment.CANCEL, ZERO)
    if close_position or stop_qty == remaining_qty:
        return ProtectiveStopChange(StopAdjustment.KEEP, remaining_qty)
    return ProtectiveStopChange(StopAdjustment.RESIZE, remaining_qty)
