"""From an intent to a sized entry (``decide.entry_plan``): the steps the intent bridge
and the backtester both take — the producer's deadline, risk sizing with the intent's
take-profit, full-equity sizing, and fixed stop / target levels on the tick."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from quantum_trader.decide import reasons
from quantum_trader.decide.entry_plan import (
    EntrySizingRules,
    admit,
    fixed_levels,
    full_equity_entry,
    price_distance,
    size_admitted,
)
from quantum_trader.decide.intent_policy import (
    AdmittedIntent,
    IntentPolicyConfig,
    TradeIntent,
    UniverseSnapshot,
)
from quantum_trader.decide.reasons import Rejection
from quantum_trader.decide.sizing import (
    AccountCapacity,
    SizedEntry,
    SizingConfig,
    SizingRequest,
    size_entry,
)
from quantum_trader.domain.enums import EntrySizing, PositionSide
from tests.unit.decide.sample_instruments import BTCUSDT
from tests.unit.decide.test_intent_policy import INTENT, NOW

POLICY = IntentPolicyConfig(min_confidence=D("0.5"), intent_ttl_ms=60_000)
UNIVERSE = UniverseSnapshot(frozenset({"BTCUSDT"}), frozenset({"BTCUSDT"}), NOW - 1_000)
ACCOUNT = AccountCapacity(equity=D("10000"), available_margin=D("10000"))
SIZING = SizingConfig(taker_fee_rate=D("0.0004"))


def admitted(intent: TradeIntent = INTENT) -> AdmittedIntent:
    _, outcome = admit(intent, frozenset(), UNIVERSE, POLICY, NOW)
    assert isinstance(outcome, AdmittedIntent)
    return outcome


def test_past_the_producers_deadline_a_new_intent_is_refused_a_redelivered_one_is_a_duplicate() -> (
    None
):
    seen, late = admit(INTENT, frozenset(), UNIVERSE, POLICY, NOW, expires_at=NOW - 1)
    assert isinstance(late, Rejection) and late.reason == reasons.EXPIRED
    assert seen == frozenset()
    _, again = admit(INTENT, frozenset({"sig-1"}), UNIVERSE, POLICY, NOW, expires_at=NOW - 1)
    assert isinstance(again, Rejection) and again.reason == reasons.DUPLICATE_INTENT
    seen, fresh = admit(INTENT, frozenset(), UNIVERSE, POLICY, NOW, expires_at=NOW)
    assert isinstance(fresh, AdmittedIntent) and seen == frozenset({"sig-1"})


def test_risk_sizing_is_size_entry_with_the_intents_take_profit() -> None:
    sized = size_admitted(admitted(), ACCOUNT, BTCUSDT, SIZING, EntrySizingRules(), D("1"))
    request = SizingRequest(PositionSide.LONG, D("50000"), D("500"), (D("1500"),))
    assert sized == size_entry(request, ACCOUNT, BTCUSDT, SIZING)
    assert isinstance(sized, SizedEntry) and sized.take_profit_prices == (D("51500"),)


def test_an_invalid_take_profit_refuses_the_entry_wherever_it_is_sized() -> None:
    short = replace(INTENT, side=PositionSide.SHORT, take_profit_distance=D("60000"))
    sized = size_admitted(admitted(short), ACCOUNT, BTCUSDT, SIZING, EntrySizingRules(), D("1"))
    assert isinstance(sized, Rejection)


def test_full_equity_spends_the_equity_and_the_entry_fee_at_the_expected_price() -> None:
    rules = EntrySizingRules(EntrySizing.FULL_EQUITY, continuous=True)
    sized = size_admitted(admitted(), ACCOUNT, BTCUSDT, SIZING, rules, D("40000"))
    assert isinstance(sized, SizedEntry)
    assert sized.qty == D("10000") / (D("40000") * D("1.0004"))
    assert sized.entry_price == D("40000") and sized.binding_cap == "full_equity"
    on_lots = size_admitted(
        admitted(), ACCOUNT, BTCUSDT, SIZING, replace(rules, continuous=False), D("40000")
    )
    assert isinstance(on_lots, SizedEntry) and on_lots.qty == D("0.249")


@pytest.mark.parametrize(
    ("equity", "reason"), [(D("0"), reasons.NO_EQUITY), (D("50"), reasons.BELOW_MIN_QTY)]
)
def test_full_equity_refuses_no_equity_and_a_lot_below_the_minimums(equity: D, reason: str) -> None:
    outcome = full_equity_entry(PositionSide.LONG, D("40000"), equity, D("0.0004"), BTCUSDT, False)
    assert isinstance(outcome, Rejection) and outcome.reason == reason


def test_fixed_levels_round_the_stop_away_from_the_entry_and_the_target_toward_it() -> None:
    fill = D("100.07")
    assert fixed_levels(PositionSide.LONG, fill, 0.02, 0.03, D("0.1")) == (D("98.0"), D("103.0"))
    assert fixed_levels(PositionSide.SHORT, fill, 0.02, 0.03, D("0.1")) == (
        D("102.1"),
        D("97.1"),
    )
    stop, target = fixed_levels(PositionSide.LONG, fill, 0.02, None, None)
    assert (stop, target) == (fill * D("0.98"), None)


def test_a_distance_keeps_ten_significant_digits() -> None:
    assert price_distance(33892.56058295204) == D("33892.56058")
    assert price_distance(0.000123456789012) == D("0.0001234567890")
