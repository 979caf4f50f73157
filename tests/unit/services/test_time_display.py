"""Times for people: ISO-8601 UTC with an age, in ``quantum status`` and
``quantum kill-switch status`` (pure formatting, ``now`` passed in)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.cli.kill_switch import status_lines
from quantum_trader.cli.kill_switch import with_iso_times as cli_iso_times
from quantum_trader.domain.timefmt import (
    age,
    at_with_age,
    describe,
    duration,
    epoch_ms,
    iso_or_none,
    iso_utc,
)
from quantum_trader.observability.status import risk_lines, system_running, with_iso_times

SEVEN_AM = 1_704_092_400_000  # 2024-01-01T07:00:00Z
NOW = SEVEN_AM + 192_000  # 3m 12s later


def test_the_example_from_the_brief() -> None:
    assert at_with_age(SEVEN_AM, NOW) == "2024-01-01T07:00:00Z (3m 12s ago)"


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (0, "0s"),
        (999, "0s"),
        (42_000, "42s"),
        (192_000, "3m 12s"),
        (7_500_000, "2h 5m"),
        (3 * 86_400_000 + 4 * 3_600_000 + 59_000, "3d 4h"),
        (-5_000, "0s"),
    ],
)
def test_duration_shows_two_units_at_most(ms: int, shown: str) -> None:
    assert duration(ms) == shown


def test_iso_is_utc_floored_to_the_second() -> None:
    assert iso_utc(SEVEN_AM + 999) == "2024-01-01T07:00:00Z"
    assert iso_utc(1) == "1970-01-01T00:00:00Z"


def test_a_future_time_reads_in() -> None:
    assert age(NOW + 5_000, NOW) == "in 5s"
    assert age(NOW, NOW) == "0s ago"


@pytest.mark.parametrize("value", [None, 0, -1, True, 1.5, "5", {"x": 1}])
def test_values_that_are_not_times_are_unknown(value: object) -> None:
    assert epoch_ms(value) is None and iso_or_none(value) is None
    assert describe(value, NOW) == "unknown"
    assert describe(value, NOW, unknown="never") == "never"


@given(st.integers(min_value=1, max_value=4_102_444_800_000))  # up to 2100
def test_iso_round_trips_through_the_standard_library(ms: int) -> None:
    from datetime import UTC, datetime

    parsed = datetime.strptime(iso_utc(ms), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert int(parsed.timestamp()) == ms // 1000


def test_kill_switch_status_lines_show_iso_times_with_age() -> None:
    switch = {"reason": "drill", "at": SEVEN_AM}
    risk = {"mode": "HALT", "reasons": ["kill_switch"], "since": SEVEN_AM, "updated_at": NOW}
    breaker = {"reason": "errors", "evidence": {}, "at": SEVEN_AM}
    lines = status_lines(switch, risk, breaker, NOW)
    assert lines[0].startswith("circuit breaker: TRIPPED (errors: {}, at 2024-01-01T07:00:00Z")
    assert lines[1] == "kill switch: ON (drill, since 2024-01-01T07:00:00Z (3m 12s ago))"
    assert lines[2] == (
        "risk mode: HALT since 2024-01-01T07:00:00Z (3m 12s ago) "
        "(reasons: kill_switch; updated 2024-01-01T07:03:12Z (0s ago))"
    )
    assert all(str(SEVEN_AM) not in line for line in lines)  # no epoch ms on screen


def test_a_risk_state_normal_since_its_guard_started_does_not_say_1970() -> None:
    risk = {"mode": "NORMAL", "reasons": [], "since": 0, "updated_at": NOW}
    [_, line] = status_lines(None, risk, None, NOW)
    assert "since the risk guard started" in line and "1970" not in line


def test_json_keeps_the_ms_and_adds_an_iso_field() -> None:
    risk = {"mode": "HALT", "since": SEVEN_AM, "updated_at": NOW}
    shown = cli_iso_times(risk, ("since", "updated_at"))
    assert shown == {
        **risk,
        "since_iso": "2024-01-01T07:00:00Z",
        "updated_at_iso": "2024-01-01T07:03:12Z",
    }
    assert cli_iso_times(None, ("at",)) is None
    assert with_iso_times({"reason": "x", "at": SEVEN_AM}) == {
        "reason": "x",
        "at": SEVEN_AM,
        "at_iso": "2024-01-01T07:00:00Z",
    }
    assert with_iso_times("raw") == "raw"


def test_status_risk_header_names_every_override_with_its_time() -> None:
    risk = {
        "state": {"mode": "HALT", "reasons": ["kill_switch"], "since": SEVEN_AM, "updated_at": NOW},
        "kill_switch": {"reason": "news", "at": SEVEN_AM},
        "supervisor": {"mode": "REDUCE_ONLY", "reasons": ["service_down:ledger"], "since": NOW},
        "circuit": None,
    }
    lines = risk_lines(risk, NOW)
    assert lines[0] == "risk mode [bold]HALT[/] kill_switch (+ kill_switch, supervisor)"
    assert lines[1] == (
        "  since 2024-01-01T07:00:00Z (3m 12s ago); updated 2024-01-01T07:03:12Z (0s ago)"
    )
    assert lines[2] == "  kill switch ON: news since 2024-01-01T07:00:00Z (3m 12s ago)"
    assert lines[3] == (
        "  supervisor REDUCE_ONLY: service_down:ledger since 2024-01-01T07:03:12Z (0s ago)"
    )


def test_an_empty_redis_is_not_a_running_system() -> None:
    empty = {"services": {}, "risk": {"state": None, "kill_switch": None}}
    assert not system_running(empty)
    assert system_running({**empty, "services": {"ledger": {}}})
    assert system_running({"services": {}, "risk": {"state": {"mode": "NORMAL"}}})
