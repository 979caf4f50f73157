"""Executing an exit plan: what to send, and what to do with the stop once it filled.

The apply layer (live, paper) and the backtest both execute the exit brain's plans
through these two functions, so a plan is refused, sized, labelled and followed up by
one rule in every mode:

* :func:`exit_step` — at execution, against the position as it is now (FAILURES #12):
  ``Skip`` (no position, a different one, an invalid plan), ``MoveStop`` (UPDATE_STOP to
  a new price: place the new stop, then cancel the old) or ``SendClose`` (a reduce-only
  market order for ``close_qty_for`` of the live quantity).
* :func:`after_close` — once the close order's fills are in the ledger: ``cancel_stop``
  when the position is gone, else the ladder stage the plan's harvest tranche reached
  and whether the stop must be re-placed for the remaining quantity.

Each result carries the label the exit's fills close trades with
(:func:`~quantum_trader.decide.exit_labels.exit_label`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from quantum_trader.decide import reasons
from quantum_trader.decide.close_qty import (
    LivePosition,
    StopAdjustment,
    close_qty_for,
    protective_stop_after_close,
)
from quantum_trader.decide.exit_labels import exit_label, tranche_of
from quantum_trader.decide.exit_model import ExitDecision
from quantum_trader.decide.order_requests import exit_order
from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.decide.reasons import Rejection
from quantum_trader.domain.enums import PlanAction
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.orders import OrderRequest

MISSING_STOP_PRICE: Final = "missing_stop_price"
STOP_UNCHANGED: Final = "stop_unchanged"


@dataclass(frozen=True, slots=True)
class ExitRequest:
    """What an exit plan asks for, whichever mode it runs in."""

    plan_id: str
    position_id: str
    action: PlanAction
    new_stop: Decimal | None = None  # UPDATE_STOP
    reason_codes: tuple[str, ...] = ()
    label: str = ""  # the fills' label; "" = from the action and reason codes

    @classmethod
    def of(cls, decision: ExitDecision) -> ExitRequest:
        """The exit brain's decision, as its plan carries it to the apply layer."""
        return cls(
            decision.plan_id,
            decision.position_id,
            decision.action,
            decision.new_stop,
            decision.reason_codes,
        )

    @property
    def fill_label(self) -> str:
        return self.label or exit_label(self.action, self.reason_codes)

    @property
    def tranche(self) -> int:
        """The harvest ladder's tranche this exit takes (0: not a harvest)."""
        return tranche_of(self.reason_codes)


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


@dataclass(frozen=True, slots=True)
class MoveStop:
    stop_price: Decimal
    label: str


@dataclass(frozen=True, slots=True)
class SendClose:
    order: OrderRequest
    label: str
    closes_all: bool


ExitStep = Skip | MoveStop | SendClose


def exit_step(
    request: ExitRequest,
    ours: LedgerPosition | None,
    live_qty: Decimal | None,
    instrument: Instrument,
    price: Decimal,
) -> ExitStep:
    """The exit ``request`` against our position ``ours`` and the quantity the venue holds
    now (``live_qty``; None: no position there), at ``price`` (the mark, or the open)."""
    if ours is None or live_qty is None or live_qty <= 0:
        return Skip(reasons.NO_POSITION)
    if ours.position_id != request.position_id:
        return Skip(reasons.STALE_POSITION)
    if request.action is PlanAction.UPDATE_STOP:
        if request.new_stop is None:
            return Skip(MISSING_STOP_PRICE)
        if request.new_stop == ours.stop_price:
            return Skip(STOP_UNCHANGED)
        return MoveStop(request.new_stop, request.fill_label)
    fraction = request.action.close_fraction
    if fraction is None:
        return Skip(f"not_an_exit:{request.action.value}")
    live = LivePosition(ours.position_id, ours.symbol, ours.side, live_qty)
    close = close_qty_for(live, request.position_id, Decimal(fraction), instrument, price)
    if isinstance(close, Rejection):
        return Skip(close.reason)
    order = exit_order(request.plan_id, ours.symbol, ours.side, close.qty)
    return SendClose(order, request.fill_label, close.closes_all)


@dataclass(frozen=True, slots=True)
class AfterClose:
    """What follows a close order's fills: cancel the stop of a position that is gone, or
    record the ladder stage (0: unchanged) and re-place the stop for what is left."""

    cancel_stop: str = ""  # the client id of the stop to cancel
    ladder_stage: int = 0
    replace_stop: bool = False


def after_close(
    request: ExitRequest, before: LedgerPosition | None, remaining: LedgerPosition | None
) -> AfterClose:
    """``before``: the position when the plan was executed; ``remaining``: after the fills
    (None: flat). The stop covered ``before``'s whole quantity."""
    if remaining is None:
        return AfterClose(cancel_stop=before.stop_order_id if before is not None else "")
    stage = request.tranche
    if remaining.stop_price <= 0:
        return AfterClose(ladder_stage=stage)  # never protected: nothing to resize
    covered = before.qty if before is not None else None
    change = protective_stop_after_close(remaining.qty, covered)
    return AfterClose(ladder_stage=stage, replace_stop=change.adjustment is StopAdjustment.RESIZE)
