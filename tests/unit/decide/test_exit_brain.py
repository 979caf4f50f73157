"""Exit brain: R, the harvest ladder, break-even, trailing stops, kill score and time stop."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.decide import reasons
from quantum_trader.decide.exit_brain import ExitConfig, evaluate_exit, judge_position
from quantum_trader.decide.exit_model import (
    ExitDecision,
    ExitState,
    MarketFeatures,
    OpenPosition,
    exit_plan_id,
)
from quantum_trader.decide.harvest_ladder import HarvestConfig, Tranche
from quantum_trader.decide.kill_score import KillScoreConfig, kill_score
from quantum_trader.decide.position_ledger import LedgerPosition, as_open_position
from quantum_trader.decide.r_multiple import r_multiple, r_net
from quantum_trader.domain.enums import PlanAction, PositionSide

from .sample_instruments import BTCUSDT

LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
T0 = 1_760_000_000_000
HOUR = 3_600_000
CONFIG = ExitConfig()

LONG_POS = OpenPosition(
    position_id="pos-long",
    symbol="BTCUSDT",
    side=LONG,
    entry_price=D("50000"),
    initial_stop=D("49000"),
    qty=D("1.000"),
    initial_qty=D("1.000"),
    opened_at=T0,
    leverage=5,
)
SHORT_POS = replace(LONG_POS, position_id="pos-short", side=SHORT, initial_stop=D("51000"))
REST = MarketFeatures(
    price=D("50200"),
    atr=D("300"),
    regime=1,
    signal_strength=D("0.8"),
    signal_strength_at_entry=D("0.8"),
    volatility_ratio=D("1"),
)


def at(price: str, **changes: object) -> MarketFeatures:
    return replace(REST, price=D(price), **changes)  # type: ignore[arg-type]


def evaluate(
    position: OpenPosition | None,
    features: MarketFeatures,
    state: ExitState | None = None,
    now: int = T0 + HOUR,
    config: ExitConfig = CONFIG,
) -> tuple[ExitState, list[ExitDecision]]:
    start = state or ExitState.opening(position or LONG_POS)
    return evaluate_exit(position, start, features, BTCUSDT, config, now)


# --- R ----------------------------------------------------------------------------


def test_r_multiple_long_and_short() -> None:
    assert r_multiple(LONG, D("50000"), D("49000"), D("51500")) == D("1.5")
    assert r_multiple(LONG, D("50000"), D("49000"), D("49000")) == D("-1")
    assert r_multiple(SHORT, D("50000"), D("51000"), D("48000")) == D("2")
    assert r_multiple(SHORT, D("50000"), D("51000"), D("50500")) == D("-0.5")


def test_r_net_subtracts_round_trip_taker_fees() -> None:
    # fees per unit = 0.0005 × 50000 + 0.0005 × 51000 = 50.5 → R_net = 949.5 / 1000
    assert r_net(LONG, D("50000"), D("49000"), D("51000"), D("0.0005")) == D("0.9495")
    assert r_net(SHORT, D("50000"), D("51000"), D("49000"), D("0.0005")) == D("0.9505")
    # actual entry fees when known: 20 per unit instead of 25
    assert r_net(LONG, D("50000"), D("49000"), D("51000"), D("0.0005"), D("20")) == D("0.9545")


@settings(max_examples=200, deadline=None)
@given(
    entry=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
    risk=st.decimals(min_value=D("0.0001"), max_value=D("0.5"), places=4),
    move=st.decimals(min_value=D("-0.9"), max_value=D("0.9"), places=4),
)
def test_r_is_symmetric_for_mirrored_long_and_short(entry: D, risk: D, move: D) -> None:
    distance, change = entry * risk, entry * move
    long_r = r_multiple(LONG, entry, entry - distance, entry + change)
    short_r = r_multiple(SHORT, entry, entry + distance, entry - change)
    assert long_r == short_r
    assert (long_r > 0) == (move > 0)


# --- at rest and no position -------------------------------------------------------


@pytest.mark.parametrize("position", [LONG_POS, SHORT_POS])
def test_healthy_young_position_scores_zero_and_holds(position: OpenPosition) -> None:
    features = REST if position.side is LONG else at("49800", regime=-1)
    _, decisions = evaluate(position, features)
    assert decisions == []
    score = kill_score(
        position.side, features.regime, D("1"), D("0.8"), D("0.8"), HOUR, KillScoreConfig()
    )
    assert score.score < D("0.05")
    assert score.score == 0


def test_no_exit_for_missing_or_empty_position() -> None:
    dead = at("40000", regime=-1, signal_strength=D("0"))
    assert evaluate(None, dead, now=T0 + 48 * HOUR)[1] == []
    assert evaluate(replace(LONG_POS, qty=D("0")), dead, now=T0 + 48 * HOUR)[1] == []


# --- ladder and break-even --------------------------------------------------------


def test_first_tranche_at_1r_then_stop_to_break_even_plus_fees_long() -> None:
    state, decisions = evaluate(LONG_POS, at("51000"))
    partial, stop = decisions
    assert partial.action is PlanAction.PARTIAL_25
    assert partial.fraction == D(PlanAction.PARTIAL_25.close_fraction or "")
    assert partial.plan_id == exit_plan_id("pos-long", "tranche:0")
    assert partial.reason_codes == ("harvest_tranche:1",)
    assert partial.r_multiple == D("1.0000")
    assert stop.action is PlanAction.UPDATE_STOP and stop.fraction is None
    # 50000 × 1.0005 / 0.9995 = 50050.03 → rounded UP to tick: at least break-even
    assert stop.new_stop == D("50050.1")
    assert stop.reason_codes == (reasons.BREAK_EVEN,)
    assert (state.ladder_stage, state.current_stop) == (1, D("50050.1"))


def test_first_tranche_and_break_even_short() -> None:
    state, decisions = evaluate(SHORT_POS, at("49000", regime=-1))
    partial, stop = decisions
    assert partial.action is PlanAction.PARTIAL_25
    assert stop.new_stop == D("49950.0")  # 49950.02 rounded DOWN: at least break-even
    assert stop.new_stop < SHORT_POS.entry_price
    assert state.current_stop == D("49950.0")


def test_tranche_is_never_proposed_twice() -> None:
    state, first = evaluate(LONG_POS, at("51000"))
    again, second = evaluate(LONG_POS, at("51000"), state, now=T0 + HOUR + 1000)
    assert len(first) == 2 and second == []
    assert again.ladder_stage == 1


def test_ladder_walks_rungs_one_per_evaluation() -> None:
    state = ExitState.opening(LONG_POS)
    actions: list[tuple[PlanAction, str]] = []
    for i, price in enumerate(["51000", "52000", "53000", "54000", "55000"]):
        state, decisions = evaluate(LONG_POS, at(price), state, now=T0 + HOUR + i)
        actions += [(d.action, d.plan_id) for d in decisions if d.fraction is not None]
    assert [a for a, _ in actions] == [PlanAction.PARTIAL_25] * 3
    assert len({p for _, p in actions}) == 3
    assert state.ladder_stage == 3


def test_leverage_scaling_pulls_rungs_earlier() -> None:
    scaled = ExitConfig(harvest=HarvestConfig(scale_by_leverage=True, reference_leverage=5))
    high_lev = replace(LONG_POS, leverage=20)
    _, plain = evaluate(high_lev, at("50500"))
    _, early = evaluate(high_lev, at("50500"), config=scaled)
    assert plain == []
    assert early[0].action is PlanAction.PARTIAL_25  # 1R × sqrt(5/20) = 0.5R
    _, low_lev = evaluate(LONG_POS, at("50500"), config=scaled)
    assert low_lev == []


def test_ladder_config_validation() -> None:
    with pytest.raises(ValueError, match="at_r"):
        HarvestConfig(
            tranches=(
                Tranche(D("2"), PlanAction.PARTIAL_25),
                Tranche(D("1"), PlanAction.PARTIAL_25),
            )
        )
    with pytest.raises(ValueError, match="action"):
        Tranche(D("1"), PlanAction.FULL_CLOSE)


# --- trailing stop ----------------------------------------------------------------


def after_first_tranche(position: OpenPosition, stop: str) -> ExitState:
    return replace(ExitState.opening(position), ladder_stage=1, current_stop=D(stop))


def test_trailing_activates_at_1_5r_long() -> None:
    state = after_first_tranche(LONG_POS, "50050.1")
    _, below = evaluate(LONG_POS, at("51400"), state)
    assert below == []
    state, decisions = evaluate(LONG_POS, at("51500"), state)
    (stop,) = decisions
    assert stop.new_stop == D("50900.0")  # best 51500 − 2 × ATR 300
    assert stop.reason_codes == (reasons.TRAILING_STOP,)
    assert stop.plan_id == exit_plan_id("pos-long", "stop:50900")
    assert state.trailing_active


def test_trailing_stop_never_loosens_long() -> None:
    state = after_first_tranche(LONG_POS, "50050.1")
    state, _ = evaluate(LONG_POS, at("51800"), state)
    assert state.current_stop == D("51200.0")
    state, pullback = evaluate(LONG_POS, at("51300"), state)
    assert pullback == [] and state.current_stop == D("51200.0")
    state, wide_atr = evaluate(LONG_POS, at("51900", atr=D("900")), state)
    assert wide_atr == [] and state.current_stop == D("51200.0")
    state, higher = evaluate(LONG_POS, at("52000"), state)
    assert [d.action for d in higher] == [PlanAction.PARTIAL_25, PlanAction.UPDATE_STOP]  # 2R rung
    assert higher[-1].new_stop == D("51400.0") and state.best_price == D("52000")


def test_trailing_stop_never_loosens_short() -> None:
    state = after_first_tranche(SHORT_POS, "49950.0")
    state, decisions = evaluate(SHORT_POS, at("48200", regime=-1), state)
    assert decisions[0].new_stop == D("48800.0")  # best 48200 + 600, above the price
    state, bounce = evaluate(SHORT_POS, at("48700", regime=-1), state)
    assert bounce == [] and state.current_stop == D("48800.0")
    state, wide_atr = evaluate(SHORT_POS, at("48100", regime=-1, atr=D("900")), state)
    assert wide_atr == [] and state.current_stop == D("48800.0")
    assert state.best_price == D("48100")


@settings(max_examples=150, deadline=None)
@given(
    side=st.sampled_from([LONG, SHORT]),
    moves=st.lists(st.integers(min_value=-800, max_value=800), min_size=1, max_size=40),
    atrs=st.lists(st.integers(min_value=0, max_value=1500), min_size=40, max_size=40),
)
def test_stop_is_monotone_over_any_price_path(
    side: PositionSide, moves: list[int], atrs: list[int]
) -> None:
    position = LONG_POS if side is LONG else SHORT_POS
    config = ExitConfig(kill=KillScoreConfig(threshold=D("1")))
    state = ExitState.opening(position)
    price = D("50000")
    for i, move in enumerate(moves):
        price = max(D("1000"), price + move)
        features = replace(REST, price=price, atr=D(atrs[i]), regime=side.sign)
        new_state, decisions = evaluate_exit(position, state, features, BTCUSDT, config, T0 + i)
        assert side.sign * (new_state.current_stop - state.current_stop) >= 0
        for decision in decisions:
            if decision.new_stop is not None:
                assert side.sign * (price - decision.new_stop) > 0  # on the loss side of price
        state = new_state


# --- kill score -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "component", "value", "score"),
    [
        ({"regime": -1}, "regime_flip", "1", "0.35"),
        ({"regime": 0}, "regime_flip", "0.3", "0.105"),
        ({"volatility_ratio": D("3")}, "volatility_spike", "1", "0.2"),
        ({"volatility_ratio": D("2.25")}, "volatility_spike", "0.5", "0.1"),
        ({"volatility_ratio": D("1.5")}, "volatility_spike", "0", "0"),
        ({"signal_strength": D("0")}, "signal_drop", "1", "0.25"),
        ({"signal_strength": D("0.64")}, "signal_drop", "0", "0"),  # 20% drop tolerated
        ({"signal_strength": D("0.4")}, "signal_drop", "0.375", "0.0938"),
    ],
)
def test_each_kill_component_alone(
    changes: dict[str, object], component: str, value: str, score: str
) -> None:
    features = at("50200", **changes)
    ks = kill_score(
        LONG,
        features.regime,
        features.volatility_ratio,
        features.signal_strength,
        features.signal_strength_at_entry,
        HOUR,
        KillScoreConfig(),
    )
    parts = dict(ks.components())
    assert parts[component] == D(value)
    assert all(v == 0 for k, v in parts.items() if k != component)
    assert ks.score == D(score)


def test_age_component_ramps_after_grace() -> None:
    config = KillScoreConfig()
    young = kill_score(LONG, 1, D("1"), D("0.8"), D("0.8"), 4 * HOUR, config)
    middle = kill_score(LONG, 1, D("1"), D("0.8"), D("0.8"), 14 * HOUR, config)
    assert young.age == 0 and young.score == 0
    assert middle.age == D("0.5") and middle.score == D("0.1")


def test_kill_score_above_threshold_closes_fully_once_per_retry_window() -> None:
    bad = at("50100", regime=-1, signal_strength=D("0"))
    state, decisions = evaluate(LONG_POS, bad)
    (close,) = decisions
    assert close.action is PlanAction.FULL_CLOSE and close.fraction == D("1")
    assert close.reason_codes == (reasons.KILL_SCORE,)
    assert close.kill_score == D("0.6")
    assert dict(close.kill_components)["regime_flip"] == D("1")
    assert close.plan_id == exit_plan_id("pos-long", "close:1")
    _, again = evaluate(LONG_POS, bad, state, now=T0 + HOUR + 29_999)
    assert again == []
    state, retry = evaluate(LONG_POS, bad, state, now=T0 + HOUR + 30_000)
    assert retry[0].plan_id == exit_plan_id("pos-long", "close:2")


def test_regime_flip_alone_does_not_close() -> None:
    _, decisions = evaluate(LONG_POS, at("50200", regime=-1))
    assert decisions == []


def test_time_stop_at_max_holding() -> None:
    _, before = evaluate(LONG_POS, REST, now=T0 + 24 * HOUR - 1)
    assert before == []
    _, decisions = evaluate(SHORT_POS, at("49800", regime=-1), now=T0 + 24 * HOUR)
    assert decisions[0].action is PlanAction.FULL_CLOSE
    assert decisions[0].reason_codes == (reasons.TIME_STOP,)


@pytest.mark.parametrize(("position", "price"), [(LONG_POS, "48990"), (SHORT_POS, "51000")])
def test_price_through_stop_closes_fully(position: OpenPosition, price: str) -> None:
    _, decisions = evaluate(position, at(price, regime=position.side.sign))
    assert decisions[0].action is PlanAction.FULL_CLOSE
    assert reasons.STOP_BREACHED in decisions[0].reason_codes


def test_full_close_suppresses_partials_and_stop_moves() -> None:
    _, decisions = evaluate(LONG_POS, at("51000"), now=T0 + 25 * HOUR)
    assert [d.action for d in decisions] == [PlanAction.FULL_CLOSE]


# --- contracts ----------------------------------------------------------------------


def test_decision_fraction_must_match_action() -> None:
    _, (partial, _) = evaluate(LONG_POS, at("51000"))
    with pytest.raises(ValueError, match="fraction"):
        replace(partial, fraction=D("0.75"))
    with pytest.raises(ValueError, match="new_stop"):
        replace(partial, action=PlanAction.UPDATE_STOP, fraction=None)


def test_position_with_stop_on_profit_side_is_rejected() -> None:
    with pytest.raises(ValueError, match="initial_stop"):
        replace(SHORT_POS, initial_stop=D("49000"))


# --- judging a ledger position (the service's and the backtester's step) ---------------


def ledger_position(stop: str, ladder_stage: int) -> LedgerPosition:
    return LedgerPosition(
        symbol="BTCUSDT",
        side=LONG,
        qty=D("1.000"),
        entry_price=D("50000"),
        leverage=5,
        position_id="pos-long",
        version=3,
        opened_at=T0,
        updated_at=T0,
        open_client_order_id="qt-e-1",
        initial_qty=D("1.000"),
        initial_stop=D("49000"),
        stop_price=D(stop),
        stop_order_id="qt-s-1" if D(stop) > 0 else "",
        ladder_stage=ladder_stage,
        realized_pnl=D("0"),
        fees=D("0"),
        source="plan",
    )


def test_the_ledger_says_what_already_happened_then_the_exit_brain_judges() -> None:
    position = ledger_position("49500", ladder_stage=2)
    state, decisions = judge_position(position, None, at("50100"), BTCUSDT, CONFIG, T0 + HOUR)
    fresh = replace(ExitState.opening(as_open_position(position)), ladder_stage=2)
    expected = evaluate_exit(
        as_open_position(position),
        replace(fresh, current_stop=D("49500")),
        at("50100"),
        BTCUSDT,
        CONFIG,
        T0 + HOUR,
    )
    assert (state, decisions) == expected
    unaware = evaluate_exit(
        as_open_position(position),
        ExitState.opening(as_open_position(position)),
        at("50100"),
        BTCUSDT,
        CONFIG,
        T0 + HOUR,
    )
    assert unaware != expected  # what the ledger knows changes the judgement


def test_a_stop_not_yet_placed_leaves_the_states_stop_and_a_later_stage_is_kept() -> None:
    known = replace(ExitState.opening(LONG_POS), current_stop=D("49200"), ladder_stage=3)
    position = ledger_position("0", ladder_stage=1)
    judged = judge_position(position, known, at("50100"), BTCUSDT, CONFIG, T0 + HOUR)
    assert judged == evaluate_exit(
        as_open_position(position), known, at("50100"), BTCUSDT, CONFIG, T0 + HOUR
    )
