"""FAILURES #15, #16, #18 and #23: math and semantics bugs, on the pure decide functions.

#15 "short-side stop computed at $96M, negative take-profit" — absolute ATR used as a
fraction; only long-side math tested.
#16 "orders below min notional on cheap coins (-4005)" — leverage in the wrong place in
the quantity formula.
#18 "policy expired / universe service down → nothing tradable, or illiquid fake symbols
traded" — no fail-closed universe with a sane TTL.
#23 "a daily counter persisted across restarts blocked all trading (10000/10000)" —
counters without a time window.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from quantum_trader.decide import reasons
from quantum_trader.decide.intent_policy import (
    IntentPolicyConfig,
    TradeIntent,
    UniverseSnapshot,
    admit_intent,
)
from quantum_trader.decide.reasons import Rejection
from quantum_trader.decide.risk_guard import (
    DAY_MS,
    AccountSnapshot,
    RiskConfig,
    RiskState,
    TradeClosed,
    step_risk,
)
from quantum_trader.decide.sizing import (
    AccountCapacity,
    SizedEntry,
    SizingConfig,
    SizingRequest,
    size_entry,
    take_profit_price_for,
)
from quantum_trader.domain.enums import PositionSide, RiskMode
from tests.unit.decide.sample_instruments import BTCUSDT, DOGEUSDT

RICH = AccountCapacity(equity=Decimal("10000"), available_margin=Decimal("10000"))


def test_failure_15_short_stops_and_targets_are_sane_and_absolute_atr_is_refused() -> None:
    config = SizingConfig()
    short = SizingRequest(
        PositionSide.SHORT, Decimal("0.15"), Decimal("0.006"), (Decimal("0.012"),)
    )
    sized = size_entry(short, RICH, DOGEUSDT, config)
    assert isinstance(sized, SizedEntry)
    assert Decimal("0.15") < sized.stop_price <= Decimal("0.156")
    assert Decimal(0) < sized.take_profit_prices[0] < Decimal("0.15")
    assert sized.risk_at_stop <= sized.risk_amount
    # The original bug: ATR 0.006 read as "0.6 %" of price, or a fraction as a multiplier.
    for atr_misread in (Decimal("0.15") * 640_000_000, Decimal("0.6"), Decimal("1")):
        refused = size_entry(replace(short, stop_distance=atr_misread), RICH, DOGEUSDT, config)
        assert isinstance(refused, Rejection) and refused.reason == reasons.INVALID_STOP
    negative_tp = take_profit_price_for(
        PositionSide.SHORT, Decimal("0.15"), Decimal("0.2"), DOGEUSDT
    )
    assert isinstance(negative_tp, Rejection)
    assert negative_tp.reason == reasons.INVALID_TAKE_PROFIT
    btc_short = size_entry(
        SizingRequest(PositionSide.SHORT, Decimal("60000"), Decimal("900")),
        RICH,
        BTCUSDT,
        config,
    )
    assert isinstance(btc_short, SizedEntry) and btc_short.stop_price == Decimal("60900")


def test_failure_16_leverage_does_not_scale_risk_qty_and_dust_is_rejected() -> None:
    request = SizingRequest(PositionSide.LONG, Decimal("0.15"), Decimal("0.003"))
    by_leverage = {
        lev: size_entry(request, RICH, DOGEUSDT, SizingConfig(leverage=lev)) for lev in (1, 5, 20)
    }
    qtys = {lev: s.qty for lev, s in by_leverage.items() if isinstance(s, SizedEntry)}
    assert len(qtys) == 3 and len(set(qtys.values())) == 1  # 100 USDT risk / 0.003
    assert all(s.binding_cap == "risk" for s in by_leverage.values())  # type: ignore[union-attr]
    small = AccountCapacity(equity=Decimal("50"), available_margin=Decimal("50"))
    wide = SizingRequest(PositionSide.LONG, Decimal("0.15"), Decimal("0.03"))
    for lev in (1, 20, 50):
        verdict = size_entry(wide, small, DOGEUSDT, SizingConfig(leverage=lev))
        assert isinstance(verdict, Rejection), lev
        assert verdict.reason == reasons.BELOW_MIN_NOTIONAL  # 16 DOGE × 0.15 = 2.4 < 5


def _intent(symbol: str = "BTCUSDT", n: int = 1) -> TradeIntent:
    return TradeIntent(
        intent_id=f"i{n}",
        symbol=symbol,
        side=PositionSide.LONG,
        confidence=Decimal("0.9"),
        strategy="trend",
        bar_time=1_000_000,
        created_at=1_000_000,
        entry_price=Decimal("60000"),
        stop_distance=Decimal("900"),
    )


def test_failure_18_universe_fails_closed_when_stale_empty_or_unknown() -> None:
    config = IntentPolicyConfig()
    now = 1_000_000 + 1_000
    fresh = UniverseSnapshot(
        frozenset({"BTCUSDT", "ETHUSDT", "FAKECOINUSDT"}), frozenset({"BTCUSDT", "ETHUSDT"}), now
    )

    def reason(intent: TradeIntent, universe: UniverseSnapshot) -> str | None:
        _, outcome = admit_intent(intent, frozenset(), universe, config, now)
        return outcome.reason if isinstance(outcome, Rejection) else None

    assert reason(_intent(), fresh) is None
    stale = replace(fresh, updated_at=now - config.universe_max_age_ms - 1)
    assert reason(_intent(), stale) == reasons.UNIVERSE_STALE  # the service is down
    down = UniverseSnapshot(frozenset({"BTCUSDT"}), frozenset(), now)
    assert reason(_intent(), down) == reasons.UNIVERSE_EMPTY
    assert reason(_intent("FAKECOINUSDT"), fresh) == reasons.SYMBOL_NOT_ALLOWED  # not listed
    assert reason(_intent("PEPEUSDT"), fresh) == reasons.SYMBOL_NOT_ALLOWED  # not configured
    assert config.universe_max_age_ms <= 60 * 60_000  # a sane TTL, not "forever"


def test_failure_23_yesterdays_losses_restored_after_a_restart_do_not_block_today() -> None:
    config = RiskConfig()
    day0 = 20_000 * DAY_MS
    state = RiskState()
    state, _ = step_risk(
        state, AccountSnapshot(Decimal("10000"), 0, Decimal(0), Decimal(0), day0), config, day0
    )
    for n in range(10):  # a losing streak and a 6 % daily loss yesterday
        state, _ = step_risk(state, TradeClosed(Decimal("-60"), day0 + n), config, day0 + n)
    state, _ = step_risk(
        state,
        AccountSnapshot(Decimal("9400"), 0, Decimal(0), Decimal(0), day0 + 100),
        config,
        day0 + 100,
    )
    assert state.mode is RiskMode.HALT and reasons.DAILY_LOSS_LIMIT in state.reasons
    # Process restarts the next day with that state restored: the windows have passed.
    tomorrow = day0 + DAY_MS + 60_000
    restored, _ = step_risk(
        state,
        AccountSnapshot(Decimal("9400"), 0, Decimal(0), Decimal(0), tomorrow),
        config,
        tomorrow,
    )
    assert restored.mode is RiskMode.NORMAL and restored.reasons == ()
    assert restored.day_start_equity == Decimal("9400")
