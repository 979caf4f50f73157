"""Risk-mode hysteresis: a limit trips at the limit, releases only below ``release_ratio`` ×
the limit and after ``min_dwell_ms`` of market time, and a repeated mode emits nothing."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.decide import reasons
from quantum_trader.decide.risk_guard import (
    DAY_MS,
    LATCHED_REASONS,
    REASON_SEVERITY,
    AccountSnapshot,
    RiskConfig,
    RiskInput,
    RiskModeChanged,
    RiskState,
    step_risk,
)
from quantum_trader.domain.enums import RiskMode

DWELL = 60_000
CONFIG = RiskConfig(
    max_open_positions=10,
    max_gross_exposure_ratio=D("3"),
    max_margin_utilisation=D("0.8"),
    daily_loss_limit_pct=D("0.05"),
    max_drawdown_pct=D("0.15"),
    release_ratio=D("0.9"),
    min_dwell_ms=DWELL,
)
DAY0 = 20_000 * DAY_MS
T0 = DAY0 + 3_600_000
EQUITY = "10000"


def snap(
    ts: int, gross: str = "1000", positions: int = 1, margin: str = "0.1", equity: str = EQUITY
) -> AccountSnapshot:
    return AccountSnapshot(D(equity), positions, D(gross), D(margin), ts)


def run(
    events: Sequence[tuple[RiskInput | None, int]],
    state: RiskState | None = None,
    config: RiskConfig = CONFIG,
) -> tuple[RiskState, list[RiskModeChanged]]:
    current = state or RiskState()
    emitted: list[RiskModeChanged] = []
    for event, now in events:
        current, changes = step_risk(current, event, config, now)
        emitted.extend(changes)
    return current, emitted


def healthy(config: RiskConfig = CONFIG) -> RiskState:
    state, _ = run([(snap(T0), T0)], config=config)
    assert state.mode is RiskMode.NORMAL
    return state


def gross_at(ratio: str) -> str:
    return str(D(EQUITY) * D(ratio))


def test_gross_exposure_hovering_at_the_cap_no_longer_flaps() -> None:
    # The demo's pattern: marks wobbling either side of 3× every tick.
    ticks = [
        (snap(T0 + i * 1000, gross_at("3.01" if i % 2 else "2.99")), T0 + i * 1000)
        for i in range(1, 200)
    ]
    state, events = run(ticks, healthy())
    assert [(e.previous_mode, e.mode) for e in events] == [(RiskMode.NORMAL, RiskMode.REDUCE_ONLY)]
    assert state.reasons == (reasons.MAX_GROSS_EXPOSURE,)


def test_without_hysteresis_the_same_wobble_flaps_every_tick() -> None:
    # release_ratio 1 and no dwell is the old behaviour: the regression this guards against.
    bare = RiskConfig(release_ratio=D("1"), min_dwell_ms=0)
    ticks = [
        (snap(T0 + i * 1000, gross_at("3.01" if i % 2 else "2.99")), T0 + i * 1000)
        for i in range(1, 21)
    ]
    _, events = run(ticks, healthy(bare), bare)
    assert len(events) == 20


def test_gross_exposure_releases_only_below_the_release_level_and_after_the_dwell() -> None:
    tripped_at = T0 + 1000
    state, events = run([(snap(tripped_at, gross_at("3")), tripped_at)], healthy())
    assert state.mode is RiskMode.REDUCE_ONLY and len(events) == 1
    late = tripped_at + 10 * DWELL
    # Long past the dwell but still above 2.7×: held.
    state, events = run([(snap(late, gross_at("2.7")), late)], state)
    assert state.reasons == (reasons.MAX_GROSS_EXPOSURE,) and events == []
    # Below 2.7× and past the dwell: released, one event.
    state, events = run([(snap(late + 1, gross_at("2.6999")), late + 1)], state)
    assert state.mode is RiskMode.NORMAL and state.reasons == ()
    assert [e.removed for e in events] == [(reasons.MAX_GROSS_EXPOSURE,)]


def test_the_dwell_holds_a_reason_even_when_the_measure_falls_well_below() -> None:
    tripped_at = T0 + 1000
    state, _ = run([(snap(tripped_at, gross_at("3.2")), tripped_at)], healthy())
    inside = tripped_at + DWELL - 1
    state, events = run([(snap(inside, "0", positions=0), inside)], state)
    assert state.mode is RiskMode.REDUCE_ONLY and events == []
    state, events = run([(None, tripped_at + DWELL)], state)
    assert state.mode is RiskMode.NORMAL and len(events) == 1


def test_re_tripping_inside_the_band_restarts_nothing_and_emits_nothing() -> None:
    tripped_at = T0 + 1000
    state, _ = run([(snap(tripped_at, gross_at("3.1")), tripped_at)], healthy())
    raised = dict(state.reason_since)[reasons.MAX_GROSS_EXPOSURE]
    ticks = [
        (snap(tripped_at + i, gross_at("2.8" if i % 2 else "3.3")), tripped_at + i)
        for i in range(1, 50)
    ]
    state, events = run(ticks, state)
    assert events == []
    assert dict(state.reason_since)[reasons.MAX_GROSS_EXPOSURE] == raised == tripped_at


@pytest.mark.parametrize(
    ("trip", "hold", "release"),
    [
        (  # margin: trips at 0.8, held at 0.72 (0.9 × 0.8), released just below
            {"margin": "0.8"},
            {"margin": "0.72"},
            {"margin": "0.7199"},
        ),
        (  # open positions (a count): trips at 10, released at 9 once the dwell is over
            {"positions": 10},
            {"positions": 10},
            {"positions": 9},
        ),
    ],
)
def test_other_account_limits_latch_the_same_way(
    trip: dict[str, object], hold: dict[str, object], release: dict[str, object]
) -> None:
    state, _ = run([(snap(T0 + 1, **trip), T0 + 1)], healthy())  # type: ignore[arg-type]
    assert state.mode is RiskMode.REDUCE_ONLY
    later = T0 + 1 + DWELL
    state, events = run([(snap(later, **hold), later)], state)  # type: ignore[arg-type]
    assert state.mode is RiskMode.REDUCE_ONLY and events == []
    state, events = run([(snap(later + 1, **release), later + 1)], state)  # type: ignore[arg-type]
    assert state.mode is RiskMode.NORMAL and len(events) == 1


def test_daily_loss_halt_releases_below_ninety_percent_of_the_limit() -> None:
    state, _ = run([(snap(T0 + 1, equity="9500"), T0 + 1)], healthy())  # -5 %
    assert state.mode is RiskMode.HALT
    later = T0 + 1 + DWELL
    state, events = run([(snap(later, equity="9550"), later)], state)  # -4.5 %: held
    assert state.mode is RiskMode.HALT and events == []
    state, events = run([(snap(later + 1, equity="9551"), later + 1)], state)  # -4.49 %
    assert state.mode is RiskMode.NORMAL and len(events) == 1


def test_the_day_rollover_releases_a_daily_loss_whatever_the_latch() -> None:
    # FAILURES #23: yesterday's loss cannot block today, even inside the dwell.
    just_before_midnight = DAY0 + DAY_MS - 10
    state, _ = run([(snap(just_before_midnight, equity="9000"), just_before_midnight)], healthy())
    assert reasons.DAILY_LOSS_LIMIT in state.reasons
    state, events = run([(None, DAY0 + DAY_MS)], state)
    assert reasons.DAILY_LOSS_LIMIT not in state.reasons
    assert events and events[-1].removed == (reasons.DAILY_LOSS_LIMIT,)


def test_operator_and_liveness_reasons_are_not_latched() -> None:
    assert reasons.EQUITY_STALE not in LATCHED_REASONS
    assert reasons.KILL_SWITCH not in LATCHED_REASONS
    assert reasons.CONSECUTIVE_LOSSES not in LATCHED_REASONS
    assert LATCHED_REASONS.issubset(REASON_SEVERITY)
    # A stale equity clears the moment a fresh snapshot arrives, dwell or not.
    state, _ = run([(None, T0 + 30_001)], healthy())
    assert state.reasons == (reasons.EQUITY_STALE,)
    state, events = run([(snap(T0 + 30_002), T0 + 30_002)], state)
    assert state.mode is RiskMode.NORMAL and len(events) == 1


def test_a_restored_state_without_raise_times_is_not_held_by_the_dwell() -> None:
    restored = RiskState(
        mode=RiskMode.REDUCE_ONLY,
        reasons=(reasons.MAX_GROSS_EXPOSURE,),
        since=T0,
        equity=D(EQUITY),
        equity_at=T0,
    )
    state, _ = run([(snap(T0 + 1, "0"), T0 + 1)], restored)
    assert state.mode is RiskMode.NORMAL


def test_a_repeated_same_mode_and_reasons_emits_nothing() -> None:
    state, events = run([(snap(T0 + 1, gross_at("3.5")), T0 + 1)], healthy())
    assert len(events) == 1
    ticks = [(snap(T0 + 1 + i * 1000, gross_at("3.5")), T0 + 1 + i * 1000) for i in range(1, 100)]
    ticks += [(None, T0 + 100_000 + i) for i in range(10)]  # timer ticks, equity fresh
    after, events = run(ticks, state)
    assert events == []
    assert (after.mode, after.reasons, after.since) == (state.mode, state.reasons, state.since)


def test_a_reason_change_under_the_same_mode_is_not_a_mode_change() -> None:
    state, _ = run([(snap(T0 + 1, gross_at("3.5")), T0 + 1)], healthy())
    state, events = run([(snap(T0 + 2, gross_at("3.5"), margin="0.9"), T0 + 2)], state)
    [event] = events
    assert event.mode is event.previous_mode is RiskMode.REDUCE_ONLY
    assert not event.mode_changed and event.added == (reasons.MARGIN_UTILISATION,)


@pytest.mark.parametrize(
    ("field", "value"),
    [("release_ratio", D("0")), ("release_ratio", D("1.1")), ("min_dwell_ms", -1)],
)
def test_bad_hysteresis_config_raises_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RiskConfig(**{field: value})  # type: ignore[arg-type]


# --- the property: the pure machine equals a two-line latch model -------------------------

RATIOS = st.sampled_from(["0", "2", "2.6", "2.69", "2.7", "2.8", "2.99", "3", "3.01", "3.5"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(RATIOS, st.integers(min_value=1, max_value=90_000)), max_size=60))
def test_gross_exposure_follows_the_latch_model(steps: list[tuple[str, int]]) -> None:
    state = healthy()
    now = T0
    latched, raised = False, 0
    changes = 0
    for ratio, gap in steps:
        now += gap
        gross = D(EQUITY) * D(ratio)
        if gross >= D(EQUITY) * 3:
            if not latched:
                latched, raised = True, now
                changes += 1
        elif latched and gross < D(EQUITY) * D("2.7") and now - raised >= DWELL:
            latched = False
            changes += 1
        state, events = step_risk(state, snap(now, str(gross)), CONFIG, now)
        assert (state.mode is RiskMode.REDUCE_ONLY) == latched
        assert (reasons.MAX_GROSS_EXPOSURE in state.reasons) == latched
        assert len(events) <= 1
        if events:
            assert events[0].mode_changed
        changes -= len(events)
    assert changes == 0  # one event per real change, none otherwise
