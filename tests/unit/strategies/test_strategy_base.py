"""Plugin interface: bars, signals, intent ids, the registry and the on_bar guarantees."""

from __future__ import annotations

import hashlib
import math
from dataclasses import FrozenInstanceError, dataclass, field, replace

import pytest

from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies import (
    FLAT,
    Bar,
    Signal,
    Strategy,
    StrategyState,
    available,
    get_strategy,
    intent_id,
    params,
    register,
)
from quantum_trader.strategies.indicators import Atr
from tests.unit.strategies.strategy_bars import T0, bars_from_closes, run


def make_signal(**changes: object) -> Signal:
    fields: dict[str, object] = {
        "symbol": "BTCUSDT",
        "side": PositionSide.LONG,
        "confidence": 0.7,
        "strategy": "trend_ema",
        "bar_time": T0,
        "price": 100.0,
        "stop_distance": 2.0,
        "features": {"regime": 1.0},
    }
    fields.update(changes)
    return Signal(**fields)  # type: ignore[arg-type]


def test_intent_id_is_a_stable_24_hex_sha256_prefix() -> None:
    expected = hashlib.sha256(b"trend_ema|BTCUSDT|1700000000000|LONG").hexdigest()[:24]
    assert intent_id("trend_ema", "BTCUSDT", T0, PositionSide.LONG) == expected
    assert intent_id("trend_ema", "BTCUSDT", T0, "LONG") == expected
    assert make_signal().intent_id == expected


def test_intent_id_differs_when_any_identifying_field_differs() -> None:
    base = ("trend_ema", "BTCUSDT", T0, PositionSide.LONG)
    variants = [
        base,
        ("breakout", "BTCUSDT", T0, PositionSide.LONG),
        ("trend_ema", "ETHUSDT", T0, PositionSide.LONG),
        ("trend_ema", "BTCUSDT", T0 + 60_000, PositionSide.LONG),
        ("trend_ema", "BTCUSDT", T0, PositionSide.SHORT),
        ("trend_ema", "BTCUSDT", T0, FLAT),
    ]
    assert len({intent_id(*v) for v in variants}) == len(variants)


@pytest.mark.parametrize(
    "changes",
    [
        {"confidence": 1.5},
        {"confidence": -0.1},
        {"stop_distance": 0.0},
        {"stop_distance": -1.0},
        {"stop_distance": math.nan},
        {"take_profit_distance": 0.0},
        {"stop_pct": -0.02},
        {"features": {"regime": math.inf}},
    ],
)
def test_signal_rejects_values_a_sizing_layer_cannot_use(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make_signal(**changes)


def test_signal_features_are_a_read_only_copy() -> None:
    source = {"regime": 1.0}
    signal = make_signal(features=source)
    source["regime"] = -1.0
    assert signal.features["regime"] == 1.0
    with pytest.raises(TypeError):
        signal.features["regime"] = 0.0  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        signal.confidence = 0.1  # type: ignore[misc]
    assert make_signal(side=FLAT).is_exit and not signal.is_exit


@pytest.mark.parametrize(
    "changes",
    [
        {"high": 99.0},  # high below close
        {"low": 101.0},  # low above open
        {"close": math.nan},
        {"volume": -1.0},
        {"symbol": ""},
    ],
)
def test_bar_rejects_impossible_candles(changes: dict[str, object]) -> None:
    bar = Bar("BTCUSDT", "1m", T0, 100.0, 102.0, 99.5, 100.5, 10.0)
    with pytest.raises(ValueError):
        replace(bar, **changes)  # type: ignore[arg-type]


def test_unknown_strategy_error_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown strategy 'nope'.*ref_ema_cross.*trend_ema"):
        get_strategy("nope")


def test_builtin_strategies_are_registered_and_buildable_with_params() -> None:
    assert {"trend_ema", "mean_reversion", "breakout", "ref_ema_cross"} <= set(available())
    strategy = get_strategy("trend_ema", fast=5, slow=20, trend=50)
    assert strategy.name == "trend_ema" and strategy.warmup == 50


def test_unknown_parameter_is_rejected_with_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"no parameter.*stop_prc.*accepted: .*stop_pct"):
        get_strategy("ref_ema_cross", stop_prc=0.02)


@dataclass(frozen=True, slots=True, kw_only=True)
class GapState(StrategyState):
    prev_close: float = math.nan
    atr: Atr = field(default_factory=lambda: Atr.start(3))


@register("test_gap_fade")
class GapFade(Strategy[GapState]):
    """The plugin example from base.py's docstring, compressed: fade opening gaps."""

    def __init__(self, *, min_gap_atr: float = 1.0, stop_atr: float = 2.0) -> None:
        self.min_gap_atr = params.positive_float("min_gap_atr", min_gap_atr)
        self.stop_atr = params.positive_float("stop_atr", stop_atr)
        self.warmup = 3

    def initial_state(self, symbol: str) -> GapState:
        return GapState(symbol=symbol)

    def advance(self, state: GapState, bar: Bar) -> tuple[GapState, Signal | None]:
        atr = state.atr.update(bar.high, bar.low, bar.close)
        new_state = replace(state, prev_close=bar.close, atr=atr)
        gap = bar.open - state.prev_close
        if not atr.ready or abs(gap) < self.min_gap_atr * atr.value:
            return new_state, None
        side = PositionSide.SHORT if gap > 0 else PositionSide.LONG
        strength = min(1.0, abs(gap) / atr.value / 3)
        return new_state, self.signal(
            bar,
            side,
            confidence=0.5 + 0.5 * strength,
            stop_distance=self.stop_atr * atr.value,
            features={"regime": 0.0, "signal_strength": strength, "volatility_ratio": 1.0},
        )


def gap_bars() -> list[Bar]:
    bars = bars_from_closes([100.0, 100.2, 100.1, 100.3, 100.2, 100.1])
    gapped = replace(bars[5], open=104.0, high=104.5)  # opens 3.9 above the previous close
    return [*bars[:5], gapped]


def test_custom_plugin_registers_and_runs_through_the_registry() -> None:
    assert "test_gap_fade" in available()
    strategy = get_strategy("test_gap_fade", min_gap_atr=1.5)
    [(index, signal)] = run(strategy, gap_bars())
    assert index == 5 and signal.side is PositionSide.SHORT
    assert signal.strategy == "test_gap_fade" and signal.bar_time == gap_bars()[5].open_time
    with pytest.raises(ValueError, match="'min_gap_atr'"):
        get_strategy("test_gap_fade", min_gap_atr=0)


def test_registering_another_class_under_a_taken_name_fails() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @register("trend_ema")
        class Impostor(GapFade):
            pass


def test_strategy_names_must_be_snake_case() -> None:
    with pytest.raises(ValueError, match="lower_snake_case"):
        register("Trend-EMA")


def test_warmup_suppresses_signals_from_early_bars() -> None:
    strategy = GapFade()
    strategy.warmup = 10
    assert run(strategy, gap_bars()) == []


def test_redelivered_or_older_bar_changes_nothing() -> None:
    strategy, bars = GapFade(), gap_bars()
    state = strategy.initial_state("BTCUSDT")
    for bar in bars[:3]:
        state, _ = strategy.on_bar(state, bar)
    assert state.bars_seen == 3 and state.last_open_time == bars[2].open_time
    again, signal = strategy.on_bar(state, bars[2])
    older, _ = strategy.on_bar(state, bars[0])
    assert again is state and older is state and signal is None


def test_bar_of_another_symbol_is_refused() -> None:
    strategy = GapFade()
    with pytest.raises(ValueError, match="ETHUSDT"):
        strategy.on_bar(
            strategy.initial_state("BTCUSDT"), bars_from_closes([1.0], symbol="ETHUSDT")[0]
        )


def test_on_bar_leaves_the_given_state_untouched() -> None:
    strategy = get_strategy("trend_ema")
    bars = bars_from_closes([100.0 + i for i in range(5)])
    start = strategy.initial_state("BTCUSDT")
    snapshot = repr(start)
    state = start
    for bar in bars:
        state, _ = strategy.on_bar(state, bar)
    assert repr(start) == snapshot and state.bars_seen == 5
