"""Inputs and outputs of the exit brain: the open position, market features, exit state
and the exit decisions it proposes.

A decision's ``fraction`` is always ``PlanAction.close_fraction`` of its action, the one
definition of how much an action closes (FAILURES #26), as a fraction of the LIVE
position at execution time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.decide.config_checks import (
    require_non_empty,
    require_non_negative,
    require_positive,
)
from quantum_trader.decide.plan_ids import PLAN_ID_HEX_CHARS
from quantum_trader.domain.enums import PlanAction, PositionSide
from quantum_trader.domain.money import ZERO


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """An open position as the ledger derived it from fills. ``qty`` > 0 while open."""

    position_id: str
    symbol: str
    side: PositionSide
    entry_price: Decimal
    initial_stop: Decimal
    qty: Decimal
    initial_qty: Decimal
    opened_at: int
    leverage: int = 1
    fees_paid: Decimal = ZERO  # USDT paid on the entry fills so far (0 = unknown)

    def __post_init__(self) -> None:
        require_non_empty("position_id", self.position_id)
        require_non_empty("symbol", self.symbol)
        require_positive("entry_price", self.entry_price)
        require_positive("initial_stop", self.initial_stop)
        require_non_negative("qty", self.qty)
        require_positive("initial_qty", self.initial_qty)
        require_positive("leverage", self.leverage)
        require_non_negative("fees_paid", self.fees_paid)
        if self.side.sign * (self.entry_price - self.initial_stop) <= ZERO:
            raise ValueError(
                f"initial_stop {self.initial_stop} must be on the loss side of entry "
                f"{self.entry_price} for a {self.side} position"
            )


@dataclass(frozen=True, slots=True)
class MarketFeatures:
    """What the market looks like now for this symbol.

    ``regime``: +1 up-trend, −1 down-trend, 0 range. ``signal_strength`` values in [0, 1].
    ``volatility_ratio``: current ATR ÷ its baseline (1 = normal).
    """

    price: Decimal
    atr: Decimal
    regime: int
    signal_strength: Decimal
    signal_strength_at_entry: Decimal
    volatility_ratio: Decimal

    def __post_init__(self) -> None:
        require_positive("price", self.price)
        require_non_negative("atr", self.atr)
        if self.regime not in (-1, 0, 1):
            raise ValueError(f"regime must be -1, 0 or +1, got {self.regime}")
        require_non_negative("signal_strength", self.signal_strength)
        require_non_negative("signal_strength_at_entry", self.signal_strength_at_entry)
        require_non_negative("volatility_ratio", self.volatility_ratio)


@dataclass(frozen=True, slots=True)
class ExitState:
    """What the exit brain remembers per position between evaluations."""

    ladder_stage: int  # number of tranches already proposed
    current_stop: Decimal
    best_price: Decimal  # most favourable price since entry
    trailing_active: bool = False
    close_attempts: int = 0
    last_close_proposed_at: int | None = None

    @classmethod
    def opening(cls, position: OpenPosition) -> ExitState:
        return cls(
            ladder_stage=0, current_stop=position.initial_stop, best_price=position.entry_price
        )


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """One proposed exit command for the apply-layer (a CLOSE plan)."""

    plan_id: str
    position_id: str
    symbol: str
    side: PositionSide
    action: PlanAction
    fraction: Decimal | None  # of the live position; None for UPDATE_STOP
    new_stop: Decimal | None  # set for UPDATE_STOP
    reason_codes: tuple[str, ...]
    kill_score: Decimal
    kill_components: tuple[tuple[str, Decimal], ...]
    r_multiple: Decimal
    r_net: Decimal
    created_at: int

    def __post_init__(self) -> None:
        expected = self.action.close_fraction
        if expected is None and self.action is not PlanAction.UPDATE_STOP:
            raise ValueError(f"action {self.action} is not an exit")
        if (expected is None) != (self.fraction is None) or (
            expected is not None and self.fraction != Decimal(expected)
        ):
            raise ValueError(f"fraction {self.fraction} does not match action {self.action}")
        if (self.action is PlanAction.UPDATE_STOP) != (self.new_stop is not None):
            raise ValueError("new_stop is required for UPDATE_STOP and only for it")


def exit_plan_id(position_id: str, purpose: str) -> str:
    """Deterministic CLOSE plan id per (position, purpose) so a step is never proposed twice."""
    digest = hashlib.sha256(f"exit:{position_id}:{purpose}".encode()).hexdigest()
    return digest[:PLAN_ID_HEX_CHARS]
