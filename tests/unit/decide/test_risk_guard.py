"""Risk mode state machine: each trigger, windows that expire, severity, events on change."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from quantum_trader.decide import reasons
from quantum_trader.decide.risk_guard import (
    DAY_MS,
    AccountSnapshot,
    CircuitBreakerCleared,
    CircuitBreakerTripped,
    KillSwitch,
    RiskConfig,
    RiskInput,
    RiskModeChanged,
    RiskState,
    ServiceHealth,
    TradeClosed,
    account_snapshot,
    step_risk,
)
from quantum_trader.domain.enums import RiskMode

CONFIG = RiskConfig(
    equity_max_age_ms=30_000,
    daily_loss_limit_pct=D("0.05"),
    max_drawdown_pct=D("0.15"),
    drawdown_window_ms=7 * DAY_MS,
    consecutive_loss_limit=3,
    loss_streak_window_ms=DAY_MS,
    loss_lockout_ms=60 * 60_000,
    max_open_positions=5,
    max_gross_exposure_ratio=D("3"),
    max_margin_utilisation=D("0.8"),
)
DAY0 = 20_000 * DAY_MS  # a UTC midnight
T0 = DAY0 + 3_600_000


def snap(
    equity: str, ts: int, positions: int = 1, gross: str = "1000", margin: str = "0.1"
) -> AccountSnapshot:
    return AccountSnapshot(D(equity), positions, D(gross), D(margin), ts)


def run(
    events: Sequence[tuple[RiskInput | None, int]], state: RiskState | None = None
) -> tuple[RiskState, list[RiskModeChanged]]:
    current = state or RiskState()
    emitted: list[RiskModeChanged] = []
    for event, now in events:
        current, changes = step_risk(current, event, CONFIG, now)
        emitted.extend(changes)
    return current, emitted


def healthy() -> RiskState:
    state, _ = run([(snap("10000", T0), T0)])
    assert state.mode is RiskMode.NORMAL and state.reasons == ()
    return state


def test_cold_start_without_equity_is_reduce_only() -> None:
    state, events = run([(None, T0)])
    assert state.mode is RiskMode.REDUCE_ONLY
    assert state.reasons == (reasons.EQUITY_STALE,)
    assert events[0].added == (reasons.EQUITY_STALE,)


def test_fresh_snapshot_clears_stale_and_emits_once() -> None:
    _, events = run([(None, T0), (snap("10000", T0), T0), (None, T0 + 1000)])
    assert [e.mode for e in events] == [RiskMode.REDUCE_ONLY, RiskMode.NORMAL]
    assert events[1].removed == (reasons.EQUITY_STALE,)


def test_equity_older_than_max_age_is_stale_at_now() -> None:
    state, _ = run([(None, T0 + 30_000)], healthy())
    assert state.mode is RiskMode.NORMAL
    state, events = run([(None, T0 + 30_001)], healthy())
    assert state.reasons == (reasons.EQUITY_STALE,)
    assert events[0].previous_mode is RiskMode.NORMAL


def test_out_of_order_snapshot_is_ignored() -> None:
    state, _ = run([(snap("9000", T0 - 10), T0 + 5)], healthy())
    assert state.equity == D("10000")


def test_daily_loss_limit_halts() -> None:
    state, events = run([(snap("9500", T0 + 1000), T0 + 1000)], healthy())
    assert state.mode is RiskMode.HALT
    assert reasons.DAILY_LOSS_LIMIT in state.reasons
    assert events[-1].mode is RiskMode.HALT
    assert state.since == T0 + 1000


def test_day_rollover_resets_daily_loss() -> None:
    state, _ = run([(snap("9400", T0 + 1000), T0 + 1000)], healthy())
    assert state.mode is RiskMode.HALT
    next_day = DAY0 + DAY_MS + 1000
    # Even without a new snapshot the old day's loss stops counting at midnight.
    state_tick, _ = run([(None, DAY0 + DAY_MS)], state)
    assert reasons.DAILY_LOSS_LIMIT not in state_tick.reasons
    state, events = run([(snap("9400", next_day), next_day)], state)
    assert state.day_start_equity == D("9400")
    assert state.mode is RiskMode.NORMAL
    assert events[-1].mode is RiskMode.NORMAL


def test_restored_state_from_an_earlier_day_cannot_block() -> None:
    # FAILURES #23: a counter persisted across a restart must not block a new day.
    halted, _ = run([(snap("9000", T0 + 1000), T0 + 1000)], healthy())
    later = DAY0 + 3 * DAY_MS
    state, _ = run([(snap("9000", later), later)], halted)
    assert reasons.DAILY_LOSS_LIMIT not in state.reasons


def test_drawdown_from_peak_halts() -> None:
    state, _ = run(
        [
            (snap("12000", T0 + 1000), T0 + 1000),
            (snap("12000", DAY0 + DAY_MS + 1000), DAY0 + DAY_MS + 1000),  # new day start
            (snap("10150", DAY0 + DAY_MS + 2000), DAY0 + DAY_MS + 2000),  # -15.4% from peak
        ],
        healthy(),
    )
    assert reasons.MAX_DRAWDOWN in state.reasons
    assert state.mode is RiskMode.HALT
    assert state.peak_equity == D("12000")


def test_drawdown_peak_resets_in_next_window() -> None:
    state = RiskState(
        equity=D("8000"),
        equity_at=T0,
        day_index=T0 // DAY_MS,
        day_start_equity=D("8000"),
        drawdown_window_index=T0 // CONFIG.drawdown_window_ms,
        peak_equity=D("12000"),
    )
    state, _ = run([(None, T0)], state)
    assert reasons.MAX_DRAWDOWN in state.reasons
    next_window = (T0 // CONFIG.drawdown_window_ms + 1) * CONFIG.drawdown_window_ms
    state, _ = run([(snap("8000", next_window), next_window)], state)
    assert reasons.MAX_DRAWDOWN not in state.reasons


def test_consecutive_losses_lock_out_then_clear_by_themselves() -> None:
    state = healthy()
    losses = [(TradeClosed(D("-10"), T0 + i), T0 + i) for i in range(1, 4)]
    state, _ = run(losses[:2], state)
    assert state.mode is RiskMode.NORMAL
    state, events = run([losses[2], (snap("10000", T0 + 10), T0 + 10)], state)
    assert state.reasons == (reasons.CONSECUTIVE_LOSSES,)
    assert state.mode is RiskMode.REDUCE_ONLY
    lockout_end = T0 + 3 + CONFIG.loss_lockout_ms
    state, _ = run([(snap("10000", lockout_end - 1), lockout_end - 1)], state)
    assert state.reasons == (reasons.CONSECUTIVE_LOSSES,)
    state, events = run([(snap("10000", lockout_end), lockout_end)], state)
    assert state.mode is RiskMode.NORMAL
    assert events[-1].removed == (reasons.CONSECUTIVE_LOSSES,)


def test_a_winner_breaks_the_losing_streak() -> None:
    trades = [D("-1"), D("-1"), D("5"), D("-1"), D("-1")]
    state, _ = run([(TradeClosed(p, T0 + i), T0 + i) for i, p in enumerate(trades)], healthy())
    assert reasons.CONSECUTIVE_LOSSES not in state.reasons
    assert state.loss_streak == 2


def test_losses_far_apart_do_not_make_a_streak() -> None:
    times = [T0 + 1, T0 + 2, T0 + 2 + DAY_MS + 1]
    state = healthy()
    for t in times:
        state, _ = step_risk(state, TradeClosed(D("-1"), t), CONFIG, T0 + 3)
    assert state.loss_streak == 1
    assert state.loss_lockout_until is None


@pytest.mark.parametrize(
    ("snapshot", "reason"),
    [
        (snap("10000", T0 + 1, positions=5), reasons.MAX_OPEN_POSITIONS),
        (snap("10000", T0 + 1, gross="30000"), reasons.MAX_GROSS_EXPOSURE),
        (snap("10000", T0 + 1, margin="0.8"), reasons.MARGIN_UTILISATION),
    ],
)
def test_exposure_triggers_reduce_only(snapshot: AccountSnapshot, reason: str) -> None:
    state, _ = run([(snapshot, T0 + 1)], healthy())
    assert state.reasons == (reason,)
    assert state.mode is RiskMode.REDUCE_ONLY


def test_exposure_just_below_limits_is_normal() -> None:
    state, _ = run(
        [(snap("10000", T0 + 1, positions=4, gross="29999", margin="0.79"), T0 + 1)], healthy()
    )
    assert state.mode is RiskMode.NORMAL


def test_kill_switch_halts_until_switched_off() -> None:
    state, events = run([(KillSwitch(True, "operator: news event"), T0 + 1)], healthy())
    assert state.mode is RiskMode.HALT and state.reasons == (reasons.KILL_SWITCH,)
    assert state.kill_switch_reason == "operator: news event"
    state, events = run([(KillSwitch(False), T0 + 2)], state)
    assert state.mode is RiskMode.NORMAL and events[-1].removed == (reasons.KILL_SWITCH,)


def test_service_down_reason_set_and_cleared_by_supervisor() -> None:
    state, _ = run([(ServiceHealth("apply-layer", healthy=False), T0 + 1)], healthy())
    assert state.reasons == ("service_down:apply-layer",)
    assert state.mode is RiskMode.REDUCE_ONLY
    state, _ = run([(ServiceHealth("apply-layer", healthy=True), T0 + 2)], state)
    assert state.mode is RiskMode.NORMAL


def test_circuit_breaker_only_cleared_by_an_operator() -> None:
    state, _ = run([(CircuitBreakerTripped("exchange errors"), T0 + 1)], healthy())
    assert state.mode is RiskMode.HALT and state.reasons == (reasons.CIRCUIT_BREAKER,)
    state, _ = run([(snap("10000", T0 + 5), T0 + 5), (None, T0 + 10 * DAY_MS)], state)
    assert reasons.CIRCUIT_BREAKER in state.reasons
    state, _ = run([(CircuitBreakerCleared("alice"), T0 + 6)], healthy())
    assert state.mode is RiskMode.NORMAL
    with pytest.raises(ValueError, match="operator"):
        CircuitBreakerCleared("")


def test_most_severe_reason_wins_and_mode_steps_down_when_it_clears() -> None:
    state, _ = run(
        [
            (ServiceHealth("exit-brain", healthy=False), T0 + 1),
            (KillSwitch(True, "ops"), T0 + 2),
        ],
        healthy(),
    )
    assert state.mode is RiskMode.HALT
    assert state.reasons == (reasons.KILL_SWITCH, "service_down:exit-brain")
    state, events = run([(KillSwitch(False), T0 + 3)], state)
    assert state.mode is RiskMode.REDUCE_ONLY
    assert events[-1].previous_mode is RiskMode.HALT
    assert state.since == T0 + 3


def test_events_only_on_change() -> None:
    state = healthy()
    _, events = run([(snap("10000", T0 + i), T0 + i) for i in range(1, 20)], state)
    assert events == []
    # reason set change with the same mode still emits
    state, _ = run([(ServiceHealth("a", healthy=False), T0 + 1)], state)
    since = state.since
    state, events = run([(ServiceHealth("b", healthy=False), T0 + 2)], state)
    assert len(events) == 1 and events[0].mode is events[0].previous_mode
    assert events[0].added == ("service_down:b",)
    assert state.since == since  # mode did not change
    _, events = run([(ServiceHealth("b", healthy=False), T0 + 3)], state)
    assert events == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("daily_loss_limit_pct", D("0")),
        ("max_drawdown_pct", D("2")),
        ("consecutive_loss_limit", 0),
        ("equity_max_age_ms", 0),
        ("max_margin_utilisation", D("1.2")),
    ],
)
def test_bad_risk_config_raises_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RiskConfig(**{field: value})  # type: ignore[arg-type]


def test_an_account_reading_is_stepped_with_its_margin_use_and_no_equity_counts_as_full() -> None:
    snap = account_snapshot(D("8000"), D("2000"), 3, D("12000"), 5)
    assert snap == AccountSnapshot(D("8000"), 3, D("12000"), D("0.25"), 5)
    assert account_snapshot(D("0"), D("0"), 0, D("0"), 5).margin_utilisation == D("1")
    assert account_snapshot(D("-10"), D("50"), 1, D("900"), 5).margin_utilisation == D("1")
