"""The risk guard's durable memory: what a restart keeps, exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.decide.risk_guard import RiskState
from quantum_trader.domain.enums import RiskMode
from quantum_trader.runtime.safety_state import SafetyStore
from quantum_trader.services.risk_memory import (
    REMEMBERED,
    RiskMemory,
    state_from_json,
    state_to_json,
)

HALTED = RiskState(
    mode=RiskMode.HALT,
    reasons=("daily_loss_limit", "max_drawdown"),
    since=1_700_000_000_000,
    reason_since=(("daily_loss_limit", 1_700_000_000_000), ("max_drawdown", 1_700_000_060_000)),
    equity=Decimal("9400.12"),
    day_index=19_675,
    day_start_equity=Decimal("10000.00"),
    drawdown_window_index=2_810,
    peak_equity=Decimal("10250.5"),
    loss_streak=2,
    last_loss_at=1_699_999_000_000,
    loss_lockout_until=None,
)


def test_what_a_restart_keeps_round_trips_exactly_through_json() -> None:
    restored = state_from_json(json.loads(json.dumps(state_to_json(HALTED))))
    assert {n: getattr(restored, n) for n in REMEMBERED} == {
        n: getattr(HALTED, n) for n in REMEMBERED
    }
    assert restored.equity is None  # account facts are read anew, never remembered


def test_the_memory_writes_only_changes_and_refuses_an_unreadable_file(tmp_path: Path) -> None:
    store = SafetyStore(tmp_path, "q:")
    memory = RiskMemory(store)
    memory.remember(HALTED)
    first = store.path.stat().st_mtime_ns
    memory.remember(HALTED)  # nothing changed: no write
    assert store.path.stat().st_mtime_ns == first
    assert RiskMemory(store).restore().mode is RiskMode.HALT
    store.path.write_text("{not json")
    with pytest.raises(RuntimeError, match="fix or move the safety file"):
        RiskMemory(store).restore()  # never a cold start that would lift a HALT
