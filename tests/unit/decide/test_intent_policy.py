"""Intent admission: fail-closed universe, confidence, duplicates, TTL, deterministic plan ids."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from quantum_trader.decide import reasons
from quantum_trader.decide.intent_policy import (
    AdmittedIntent,
    IntentPolicyConfig,
    TradeIntent,
    UniverseSnapshot,
    admit_intent,
    plan_id_for_intent,
)
from quantum_trader.decide.reasons import Rejection
from quantum_trader.domain.enums import PositionSide

NOW = 1_760_000_000_000
CONFIG = IntentPolicyConfig(
    min_confidence=D("0.6"), intent_ttl_ms=60_000, universe_max_age_ms=600_000
)
INTENT = TradeIntent(
    intent_id="sig-1",
    symbol="BTCUSDT",
    side=PositionSide.LONG,
    confidence=D("0.7"),
    strategy="breakout",
    bar_time=NOW - 60_000,
    created_at=NOW - 1_000,
    entry_price=D("50000"),
    stop_distance=D("500"),
    take_profit_distance=D("1500"),
)
UNIVERSE = UniverseSnapshot(
    configured=frozenset({"BTCUSDT", "ETHUSDT", "FAKEUSDT"}),
    exchange_tradable=frozenset({"BTCUSDT", "ETHUSDT", "DOGEUSDT"}),
    updated_at=NOW - 60_000,
)


def reason_of(outcome: AdmittedIntent | Rejection) -> str:
    assert isinstance(outcome, Rejection)
    return outcome.reason


def test_fresh_confident_intent_in_universe_is_admitted() -> None:
    seen, outcome = admit_intent(INTENT, frozenset(), UNIVERSE, CONFIG, NOW)
    assert isinstance(outcome, AdmittedIntent)
    assert outcome.plan_id == plan_id_for_intent("sig-1")
    assert outcome.expires_at == INTENT.created_at + 60_000
    assert seen == frozenset({"sig-1"})


def test_plan_id_is_deterministic_sha256_prefix() -> None:
    assert plan_id_for_intent("sig-1") == plan_id_for_intent("sig-1")
    assert plan_id_for_intent("sig-1") != plan_id_for_intent("sig-2")
    assert len(plan_id_for_intent("sig-1")) == 20
    int(plan_id_for_intent("sig-1"), 16)


def test_redelivered_intent_is_duplicate() -> None:
    seen, _ = admit_intent(INTENT, frozenset(), UNIVERSE, CONFIG, NOW)
    seen_again, outcome = admit_intent(INTENT, seen, UNIVERSE, CONFIG, NOW + 5)
    assert reason_of(outcome) == reasons.DUPLICATE_INTENT
    assert seen_again == seen


def test_intent_older_than_ttl_is_expired() -> None:
    old = replace(INTENT, created_at=NOW - 60_001)
    assert reason_of(admit_intent(old, frozenset(), UNIVERSE, CONFIG, NOW)[1]) == reasons.EXPIRED
    at_ttl = replace(INTENT, created_at=NOW - 60_000)
    assert isinstance(admit_intent(at_ttl, frozenset(), UNIVERSE, CONFIG, NOW)[1], AdmittedIntent)


def test_stale_universe_fails_closed() -> None:
    stale = replace(UNIVERSE, updated_at=NOW - 600_001)
    outcome = admit_intent(INTENT, frozenset(), stale, CONFIG, NOW)[1]
    assert reason_of(outcome) == reasons.UNIVERSE_STALE


def test_empty_intersection_fails_closed() -> None:
    disjoint = replace(UNIVERSE, exchange_tradable=frozenset({"SOLUSDT"}))
    outcome = admit_intent(INTENT, frozenset(), disjoint, CONFIG, NOW)[1]
    assert reason_of(outcome) == reasons.UNIVERSE_EMPTY


@pytest.mark.parametrize("symbol", ["FAKEUSDT", "DOGEUSDT", "XRPUSDT"])
def test_symbol_outside_configured_and_tradable_is_not_allowed(symbol: str) -> None:
    outcome = admit_intent(replace(INTENT, symbol=symbol), frozenset(), UNIVERSE, CONFIG, NOW)[1]
    assert reason_of(outcome) == reasons.SYMBOL_NOT_ALLOWED


def test_low_confidence_rejected_and_threshold_inclusive() -> None:
    low = replace(INTENT, confidence=D("0.59"))
    assert reason_of(admit_intent(low, frozenset(), UNIVERSE, CONFIG, NOW)[1]) == (
        reasons.LOW_CONFIDENCE
    )
    edge = replace(INTENT, confidence=D("0.6"))
    assert isinstance(admit_intent(edge, frozenset(), UNIVERSE, CONFIG, NOW)[1], AdmittedIntent)


def test_rejected_intent_is_not_remembered_and_can_be_admitted_later() -> None:
    stale = replace(UNIVERSE, updated_at=NOW - 700_000)
    seen, outcome = admit_intent(INTENT, frozenset(), stale, CONFIG, NOW)
    assert isinstance(outcome, Rejection)
    assert seen == frozenset()
    _, later = admit_intent(INTENT, seen, UNIVERSE, CONFIG, NOW)
    assert isinstance(later, AdmittedIntent)


def test_check_order_duplicate_then_expired_then_universe() -> None:
    bad_everything = replace(INTENT, created_at=NOW - 999_999, confidence=D("0.1"), symbol="X")
    stale = replace(UNIVERSE, updated_at=0)
    seen = frozenset({"sig-1"})
    assert reason_of(admit_intent(bad_everything, seen, stale, CONFIG, NOW)[1]) == (
        reasons.DUPLICATE_INTENT
    )
    outcome = admit_intent(bad_everything, frozenset(), stale, CONFIG, NOW)[1]
    assert reason_of(outcome) == reasons.EXPIRED
    fresh_bad = replace(bad_everything, created_at=NOW)
    outcome = admit_intent(fresh_bad, frozenset(), stale, CONFIG, NOW)[1]
    assert reason_of(outcome) == reasons.UNIVERSE_STALE
    outcome = admit_intent(fresh_bad, frozenset(), UNIVERSE, CONFIG, NOW)[1]
    assert reason_of(outcome) == reasons.SYMBOL_NOT_ALLOWED


@pytest.mark.parametrize(
    ("field", "value"),
    [("stop_distance", D("0")), ("entry_price", D("-1")), ("confidence", D("1.5"))],
)
def test_malformed_intent_raises_naming_the_field(field: str, value: D) -> None:
    with pytest.raises(ValueError, match=field):
        replace(INTENT, **{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_confidence", D("2")), ("intent_ttl_ms", 0), ("universe_max_age_ms", -5)],
)
def test_bad_policy_config_raises_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        IntentPolicyConfig(**{field: value})  # type: ignore[arg-type]
