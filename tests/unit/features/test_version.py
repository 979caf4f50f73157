"""FEATURE_VERSION is derived from the definitions: any parameter, formula or order change
moves it; rebuilding the same definitions, in this process or another, does not."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest

from quantum_trader.features import (
    DEFAULT_SPEC,
    FEATURE_NAMES,
    FEATURE_VERSION,
    FeatureSpec,
    HigherTimeframe,
    catalog,
    feature_names,
    feature_version,
)

CHANGES = {
    "a return horizon": replace(DEFAULT_SPEC, return_horizons=(1, 4, 15, 60, 240)),
    "the ATR period": replace(DEFAULT_SPEC, atr_period=15),
    "the slope lag (names unchanged)": replace(DEFAULT_SPEC, slope_lag=6),
    "the MACD signal span": replace(DEFAULT_SPEC, macd_spans=(12, 26, 10)),
    "the funding period (names unchanged)": replace(DEFAULT_SPEC, funding_period_hours=4),
    "a higher timeframe's EMA span": replace(
        DEFAULT_SPEC,
        higher_timeframes=(HigherTimeframe("5m"), HigherTimeframe("15m", ema_span=22)),
    ),
    "the order of the timeframes": replace(
        DEFAULT_SPEC, higher_timeframes=DEFAULT_SPEC.higher_timeframes[::-1]
    ),
    "the cross-section": replace(DEFAULT_SPEC, cross_section=("ret_60",)),
}


def test_the_version_is_the_default_definitions_and_stable() -> None:
    assert FEATURE_VERSION == feature_version(FeatureSpec()) == feature_version(DEFAULT_SPEC)
    assert FEATURE_VERSION.startswith("fv-") and len(FEATURE_VERSION) == 19
    assert feature_names(FeatureSpec()) == FEATURE_NAMES
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == 53
    assert FEATURE_NAMES[:3] == ("ret_1", "ret_5", "ret_15")
    assert FEATURE_NAMES[-1] == "htf_1h_rsi_14"


def test_the_version_is_the_same_in_another_process() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # str hashes differ; sha256 does not
    script = "from quantum_trader.features import FEATURE_VERSION; print(FEATURE_VERSION)"
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == FEATURE_VERSION


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_changing_a_definition_changes_the_version(change: str) -> None:
    assert feature_version(CHANGES[change]) != FEATURE_VERSION


def test_every_change_gives_its_own_version() -> None:
    versions = {feature_version(spec) for spec in CHANGES.values()}
    assert len(versions) == len(CHANGES)


def test_a_new_revision_of_the_operations_changes_the_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(catalog, "DEFINITION_REVISION", catalog.DEFINITION_REVISION + 1)
    assert feature_version(DEFAULT_SPEC) != FEATURE_VERSION
    assert feature_names(DEFAULT_SPEC) == FEATURE_NAMES


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        FeatureSpec(rsi_period=0)
    with pytest.raises(ValueError, match="repeat"):
        FeatureSpec(ema_gap_spans=(9, 9))
    with pytest.raises(ValueError, match="fast"):
        FeatureSpec(macd_spans=(26, 12, 9))
    with pytest.raises(ValueError, match="unknown interval"):
        HigherTimeframe("7x")
