"""The entry gate: every reason, the check order, and exits never gated."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest

from quantum_trader.decide import reasons
from quantum_trader.decide.entry_gates import (
    GATE_CHECK_ORDER,
    GateOutcome,
    GateSnapshot,
    check_entry_gate,
    gate_applies,
)
from quantum_trader.domain.enums import PlanKind

from .gate_cases import GATE_CASES, GateCase


@pytest.mark.parametrize("gate_case", GATE_CASES, ids=[c.name for c in GATE_CASES])
def test_gate_table(gate_case: GateCase) -> None:
    assert check_entry_gate(gate_case.snapshot, gate_case.now) == gate_case.expected


def test_every_reason_in_the_check_order_has_a_case() -> None:
    covered = {c.expected.reason for c in GATE_CASES}
    assert set(GATE_CHECK_ORDER) <= covered


def test_check_order_lists_each_reason_once() -> None:
    assert len(GATE_CHECK_ORDER) == len(set(GATE_CHECK_ORDER)) == 12
    assert GATE_CHECK_ORDER[0] == reasons.STATE_LOST
    assert GATE_CHECK_ORDER[1] == reasons.DUPLICATE_PLAN


def test_allow_carries_no_reason_and_skip_always_does() -> None:
    for c in GATE_CASES:
        verdict = check_entry_gate(c.snapshot, c.now)
        assert (verdict.outcome is GateOutcome.ALLOW) == (verdict.reason is None)


def test_snapshot_is_flat_for_the_lua_twin() -> None:
    flat = asdict(GATE_CASES[0].snapshot)
    assert set(flat) == {f.name for f in fields(GateSnapshot)}
    assert all(
        isinstance(v, str | int | bool | type(None)) or hasattr(v, "is_finite")
        for v in flat.values()
    )


def test_only_open_plans_are_gated() -> None:
    assert gate_applies(PlanKind.OPEN) is True
    assert gate_applies(PlanKind.CLOSE) is False
