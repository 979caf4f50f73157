"""The entry-gate contract as data: (name, snapshot, now, expected verdict).

Run against ``quantum_trader.decide.entry_gates.check_entry_gate`` here and against the
apply-layer's atomic Redis Lua gate by its own tests, so both implement one rule. Each
snapshot is flat (``dataclasses.asdict`` gives scalars only: enums are StrEnums, amounts
are Decimals to send as strings). Load it from the repository root with
``from tests.unit.decide.gate_cases import GATE_CASES``.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from typing import NamedTuple

from quantum_trader.decide import reasons
from quantum_trader.decide.entry_gates import GateSnapshot, GateVerdict
from quantum_trader.domain.enums import PositionSide, RiskMode

NOW = 1_760_000_000_000

LONG = PositionSide.LONG
SHORT = PositionSide.SHORT


class GateCase(NamedTuple):
    name: str
    snapshot: GateSnapshot
    now: int
    expected: GateVerdict


# A plan that passes every check: no position, nothing in flight, room under every cap.
CLEAN = GateSnapshot(
    plan_side=LONG,
    plan_expires_at=NOW + 30_000,
    plan_notional=D("1000"),
    plan_seen=False,
    position_side=None,
    position_qty=D("0"),
    inflight=False,
    cooldown=False,
    risk_mode=RiskMode.NORMAL,
    open_positions=2,
    gross_exposure=D("5000"),
    allow_pyramiding=False,
    max_adds=0,
    adds_count=0,
    max_open_positions=5,
    max_gross_exposure=D("10000"),
)

ALLOW = GateVerdict.allow()


def skip(reason: str) -> GateVerdict:
    return GateVerdict.skip(reason)


def case(name: str, expected: GateVerdict, now: int = NOW, **changes: object) -> GateCase:
    return GateCase(name, replace(CLEAN, **changes), now, expected)  # type: ignore[arg-type]


GATE_CASES: list[GateCase] = [
    case("clean_plan_allowed", ALLOW),
    case("clean_short_plan_allowed", ALLOW, plan_side=SHORT),
    # each reason on its own
    case("lost_state_blocks_entry", skip(reasons.STATE_LOST), state_intact=False),
    case(
        "lost_state_comes_before_everything",
        skip(reasons.STATE_LOST),
        state_intact=False,
        plan_seen=True,
        risk_mode=RiskMode.HALT,
    ),
    case("stale_risk_state_blocks_entry", skip(reasons.RISK_STATE_STALE), risk_state_stale=True),
    case(
        "halt_outranks_a_stale_risk_state",
        skip(reasons.RISK_HALT),
        risk_state_stale=True,
        risk_mode=RiskMode.HALT,
    ),
    case("paused_symbol_blocks_entry", skip(reasons.SYMBOL_PAUSED), symbol_paused=True),
    case(
        "reduce_only_outranks_a_paused_symbol",
        skip(reasons.RISK_REDUCE_ONLY),
        risk_mode=RiskMode.REDUCE_ONLY,
        symbol_paused=True,
    ),
    case(
        "stale_risk_state_outranks_a_paused_symbol",
        skip(reasons.RISK_STATE_STALE),
        risk_state_stale=True,
        symbol_paused=True,
    ),
    case(
        "paused_symbol_before_inflight_and_position",
        skip(reasons.SYMBOL_PAUSED),
        symbol_paused=True,
        inflight=True,
        position_side=LONG,
        position_qty=D("1"),
    ),
    case("seen_plan_is_duplicate", skip(reasons.DUPLICATE_PLAN), plan_seen=True),
    case("expired_plan", skip(reasons.EXPIRED), plan_expires_at=NOW - 1),
    case("expiring_exactly_now_still_allowed", ALLOW, plan_expires_at=NOW),
    case("halt_blocks_entry", skip(reasons.RISK_HALT), risk_mode=RiskMode.HALT),
    case(
        "reduce_only_blocks_entry",
        skip(reasons.RISK_REDUCE_ONLY),
        risk_mode=RiskMode.REDUCE_ONLY,
    ),
    case("inflight_entry_blocks", skip(reasons.INFLIGHT), inflight=True),
    case(
        "same_side_position_blocks",
        skip(reasons.POSITION_EXISTS),
        position_side=LONG,
        position_qty=D("0.5"),
    ),
    case(
        "opposite_side_position_blocks",
        skip(reasons.POSITION_EXISTS),
        position_side=SHORT,
        position_qty=D("0.5"),
    ),
    case("zero_qty_position_is_no_position", ALLOW, position_side=LONG, position_qty=D("0")),
    case("cooldown_blocks", skip(reasons.COOLDOWN), cooldown=True),
    case("at_max_positions_blocks", skip(reasons.MAX_POSITIONS), open_positions=5),
    case("above_max_positions_blocks", skip(reasons.MAX_POSITIONS), open_positions=9),
    case("one_below_max_positions_allowed", ALLOW, open_positions=4),
    case("exposure_over_cap_blocks", skip(reasons.MAX_EXPOSURE), gross_exposure=D("9000.01")),
    case("exposure_exactly_at_cap_allowed", ALLOW, gross_exposure=D("9000")),
    # pyramiding
    case(
        "pyramiding_add_allowed_below_max_adds",
        ALLOW,
        position_side=LONG,
        position_qty=D("0.5"),
        allow_pyramiding=True,
        max_adds=2,
        adds_count=1,
    ),
    case(
        "pyramiding_add_blocked_at_max_adds",
        skip(reasons.POSITION_EXISTS),
        position_side=LONG,
        position_qty=D("0.5"),
        allow_pyramiding=True,
        max_adds=2,
        adds_count=2,
    ),
    case(
        "pyramiding_never_adds_to_opposite_side",
        skip(reasons.POSITION_EXISTS),
        position_side=SHORT,
        position_qty=D("0.5"),
        allow_pyramiding=True,
        max_adds=2,
    ),
    case(
        "pyramiding_add_does_not_count_as_new_position",
        ALLOW,
        position_side=LONG,
        position_qty=D("0.5"),
        allow_pyramiding=True,
        max_adds=1,
        open_positions=5,
    ),
    case(
        "pyramiding_add_still_respects_exposure",
        skip(reasons.MAX_EXPOSURE),
        position_side=LONG,
        position_qty=D("0.5"),
        allow_pyramiding=True,
        max_adds=1,
        gross_exposure=D("9500"),
    ),
    case(
        "pyramiding_add_still_respects_cooldown",
        skip(reasons.COOLDOWN),
        position_side=LONG,
        position_qty=D("0.5"),
        allow_pyramiding=True,
        max_adds=1,
        cooldown=True,
    ),
    # check order: the earlier check wins when several fail
    case(
        "duplicate_before_expired",
        skip(reasons.DUPLICATE_PLAN),
        plan_seen=True,
        plan_expires_at=NOW - 1,
    ),
    case(
        "expired_before_halt",
        skip(reasons.EXPIRED),
        plan_expires_at=NOW - 1,
        risk_mode=RiskMode.HALT,
    ),
    case(
        "halt_before_inflight",
        skip(reasons.RISK_HALT),
        risk_mode=RiskMode.HALT,
        inflight=True,
    ),
    case(
        "reduce_only_before_inflight",
        skip(reasons.RISK_REDUCE_ONLY),
        risk_mode=RiskMode.REDUCE_ONLY,
        inflight=True,
    ),
    case(
        "inflight_before_position",
        skip(reasons.INFLIGHT),
        inflight=True,
        position_side=LONG,
        position_qty=D("1"),
    ),
    case(
        "position_before_cooldown",
        skip(reasons.POSITION_EXISTS),
        position_side=LONG,
        position_qty=D("1"),
        cooldown=True,
    ),
    case(
        "cooldown_before_max_positions",
        skip(reasons.COOLDOWN),
        cooldown=True,
        open_positions=5,
    ),
    case(
        "max_positions_before_max_exposure",
        skip(reasons.MAX_POSITIONS),
        open_positions=5,
        gross_exposure=D("20000"),
    ),
    case(
        "everything_failing_reports_duplicate",
        skip(reasons.DUPLICATE_PLAN),
        plan_seen=True,
        plan_expires_at=NOW - 1,
        risk_mode=RiskMode.HALT,
        inflight=True,
        position_side=SHORT,
        position_qty=D("1"),
        cooldown=True,
        open_positions=50,
        gross_exposure=D("1000000"),
    ),
]
