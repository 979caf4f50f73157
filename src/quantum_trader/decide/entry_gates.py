"""The entry gate: may this OPEN plan place an order now? ALLOW, or SKIP with a reason.

This is the reference rule. The apply-layer runs the same rule as one atomic Redis Lua
script (check and reserve in a single step, FAILURES #1), and the shared table in
``tests/unit/decide/gate_cases.py`` is run against both, so the snapshot is deliberately
a flat record of scalars that maps one-to-one onto Lua arguments.

Check order is part of the contract (the first failing check gives the reason):
    0. ``state_lost``       - the store no longer holds the system's state (its epoch
                              marker vanished or changed: FLUSHALL, failover to an empty
                              replica, eviction) — nothing else it says can be trusted
    1. ``duplicate_plan``   - this plan id was already seen (redelivery, retry, race)
    2. ``expired``          - ``plan_expires_at < now``
    3. ``risk_halt``        - risk mode HALT
    4. ``risk_reduce_only`` - risk mode REDUCE_ONLY
    4b. ``risk_state_stale`` - the risk guard's mode is older than ``risk_state_max_age_ms``
                              (treated as REDUCE_ONLY: its guard may be dead)
    4c. ``symbol_paused``   - an operator paused entries on this symbol (a lock holding the
                              market time it ends; an unreadable lock counts as held)
    5. ``inflight``         - an entry on this symbol is in progress (its position may
                              not be written yet: the race behind FAILURES #1)
    6. ``position_exists``  - a position on this symbol: always for the opposite side
                              (one-way mode), and for the same side unless pyramiding is
                              allowed and ``adds_count < max_adds``
    7. ``cooldown``         - the symbol's post-entry/post-close cooldown key exists
    8. ``max_positions``    - a NEW position would exceed ``max_open_positions``
                              (an allowed add to an existing position does not count)
    9. ``max_exposure``     - ``gross_exposure + plan_notional > max_gross_exposure``

Exit plans never pass through this gate (invariant 4, FAILURES #13): callers ask
``gate_applies(plan.kind)`` and only OPEN plans are gated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from quantum_trader.decide import reasons
from quantum_trader.domain.enums import PlanKind, PositionSide, RiskMode
from quantum_trader.domain.money import ZERO


@dataclass(frozen=True, slots=True)
class GateLimits:
    """The gate's own caps. ``max_open_positions`` equals the risk guard's (10); the gross
    cap here is an absolute USDT backstop, while the equity-relative one (3 × equity, with
    hysteresis) is the risk guard's. Default sizing keeps a full book at 2.5 × equity, under
    both (``decide.sizing`` module docstring). The in-flight lease outlives the cooldown,
    and a plan's done mark outlives both (FAILURES #14)."""

    allow_pyramiding: bool = False
    max_adds: int = 0
    max_open_positions: int = 10
    max_gross_exposure: Decimal = Decimal("1000000")
    lease_ms: int = 120_000
    plan_done_ttl_ms: int = 7 * 86_400_000
    max_plan_age_ms: int = 120_000  # an entry plan older than this (from created_at) expires
    risk_state_max_age_ms: int = 120_000  # an older risk mode counts as REDUCE_ONLY

    def __post_init__(self) -> None:
        if self.max_adds < 0:
            raise ValueError(f"max_adds must be >= 0, got {self.max_adds}")
        if self.max_open_positions < 1:
            raise ValueError(f"max_open_positions must be >= 1, got {self.max_open_positions}")
        if self.max_gross_exposure <= ZERO:
            raise ValueError(f"max_gross_exposure must be positive, got {self.max_gross_exposure}")
        if self.max_plan_age_ms <= 0:
            raise ValueError(f"max_plan_age_ms must be positive, got {self.max_plan_age_ms}")
        if self.risk_state_max_age_ms <= 0:
            raise ValueError(
                f"risk_state_max_age_ms must be positive, got {self.risk_state_max_age_ms}"
            )
        if not 0 < self.lease_ms < self.plan_done_ttl_ms:
            raise ValueError(
                f"lease_ms must be positive and shorter than plan_done_ttl_ms, got {self.lease_ms}"
            )


@dataclass(frozen=True, slots=True)
class ApplyConfig:
    """The apply layer's cooldown on a symbol after an entry or a close (market time)."""

    cooldown_ms: int = 60_000

    def __post_init__(self) -> None:
        if self.cooldown_ms < 0:
            raise ValueError(f"cooldown_ms must be >= 0, got {self.cooldown_ms}")


GATE_CHECK_ORDER: tuple[str, ...] = (
    reasons.STATE_LOST,
    reasons.DUPLICATE_PLAN,
    reasons.EXPIRED,
    reasons.RISK_HALT,
    reasons.RISK_REDUCE_ONLY,
    reasons.RISK_STATE_STALE,
    reasons.SYMBOL_PAUSED,
    reasons.INFLIGHT,
    reasons.POSITION_EXISTS,
    reasons.COOLDOWN,
    reasons.MAX_POSITIONS,
    reasons.MAX_EXPOSURE,
)


class GateOutcome(StrEnum):
    ALLOW = "ALLOW"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class GateVerdict:
    outcome: GateOutcome
    reason: str | None = None  # None exactly when ALLOW

    @classmethod
    def allow(cls) -> GateVerdict:
        return cls(GateOutcome.ALLOW)

    @classmethod
    def skip(cls, reason: str) -> GateVerdict:
        return cls(GateOutcome.SKIP, reason)


@dataclass(frozen=True, slots=True)
class GateSnapshot:
    """Everything the gate reads, flat. ``position_side`` None means no position."""

    plan_side: PositionSide
    plan_expires_at: int
    plan_notional: Decimal
    plan_seen: bool
    position_side: PositionSide | None
    position_qty: Decimal
    inflight: bool
    cooldown: bool
    risk_mode: RiskMode
    open_positions: int
    gross_exposure: Decimal
    allow_pyramiding: bool
    max_adds: int
    adds_count: int
    max_open_positions: int
    max_gross_exposure: Decimal
    state_intact: bool = True  # the store still holds this system's state (epoch)
    risk_state_stale: bool = False  # the risk mode is older than the gate accepts
    symbol_paused: bool = False  # an operator's entry lock on the symbol is in force


def gate_applies(plan_kind: PlanKind) -> bool:
    """Only entries are gated; an exit must never be blocked by an entry rule."""
    return plan_kind is PlanKind.OPEN


def check_entry_gate(snapshot: GateSnapshot, now: int) -> GateVerdict:
    """Apply the checks in ``GATE_CHECK_ORDER``; the first failure is the SKIP reason."""
    s = snapshot
    if not s.state_intact:
        return GateVerdict.skip(reasons.STATE_LOST)
    if s.plan_seen:
        return GateVerdict.skip(reasons.DUPLICATE_PLAN)
    if s.plan_expires_at < now:
        return GateVerdict.skip(reasons.EXPIRED)
    if s.risk_mode is RiskMode.HALT:
        return GateVerdict.skip(reasons.RISK_HALT)
    if s.risk_mode is RiskMode.REDUCE_ONLY:
        return GateVerdict.skip(reasons.RISK_REDUCE_ONLY)
    if s.risk_state_stale:
        return GateVerdict.skip(reasons.RISK_STATE_STALE)
    if s.symbol_paused:
        return GateVerdict.skip(reasons.SYMBOL_PAUSED)
    if s.inflight:
        return GateVerdict.skip(reasons.INFLIGHT)
    has_position = s.position_side is not None and s.position_qty > ZERO
    if has_position and not _add_allowed(s):
        return GateVerdict.skip(reasons.POSITION_EXISTS)
    if s.cooldown:
        return GateVerdict.skip(reasons.COOLDOWN)
    if not has_position and s.open_positions >= s.max_open_positions:
        return GateVerdict.skip(reasons.MAX_POSITIONS)
    if s.gross_exposure + s.plan_notional > s.max_gross_exposure:
        return GateVerdict.skip(reasons.MAX_EXPOSURE)
    return GateVerdict.allow()


def _add_allowed(s: GateSnapshot) -> bool:
    """Pyramiding: only the same side, only when configured, only up to ``max_adds``."""
    return s.position_side is s.plan_side and s.allow_pyramiding and s.adds_count < s.max_adds


def gate_exposure(positions: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
    """The gross exposure check 9 compares: Σ qty × entry price over the ledger's open
    positions (``(qty, entry_price)`` pairs), as ``entry_gate_reserve.lua`` sums it
    (there, in-flight entries add their planned notional). The risk guard's exposure is
    at mark; the gate's is what the ledger holds, the same in a backtest as live."""
    return sum((qty * price for qty, price in positions), ZERO)
