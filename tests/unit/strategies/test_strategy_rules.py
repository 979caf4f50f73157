"""trend_ema, mean_reversion and breakout on hand-made markets, and their mirror images."""

from __future__ import annotations

import pytest

from quantum_trader.domain.enums import PositionSide
from quantum_trader.strategies import FLAT, Bar, Signal, get_strategy
from quantum_trader.strategies.base import SignalSide
from quantum_trader.strategies.mean_reversion import Setup, track_setup
from tests.unit.strategies.strategy_bars import bars_from_closes, mirrored, ramp, run, scaled, wave

MIRROR: dict[SignalSide, SignalSide] = {
    PositionSide.LONG: PositionSide.SHORT,
    PositionSide.SHORT: PositionSide.LONG,
    FLAT: FLAT,
}


def uptrend_with_pullback() -> list[Bar]:
    """240 bars of steady up-trend, a 15-bar pullback, then a 20-bar rally."""
    up = ramp(100.0, 0.1, 240)
    dip = ramp(up[-1], -0.5, 15)
    rally = ramp(dip[-1], 1.0, 20)
    return bars_from_closes([100.0, *up, *dip, *rally])


def oversold_bounce() -> list[Bar]:
    """A quiet range, a 12-bar sell-off, then a bounce."""
    return bars_from_closes(wave(100.0, 0.3, 7, 60) + ramp(100.0, -1.0, 12) + ramp(88.0, 0.8, 10))


def range_breakout(volume: float = 300.0) -> list[Bar]:
    """60 bars ranging 99..101, then two closes above the range on heavy volume."""
    closes = [*wave(100.0, 1.0, 10, 60), 103.0, 104.0, 100.0]
    volumes = [100.0] * 60 + [volume, volume, 100.0]
    return bars_from_closes(closes, volumes=volumes)


SCENARIOS = {
    "trend_ema": (uptrend_with_pullback, [(247, FLAT), (263, PositionSide.LONG)]),
    "mean_reversion": (oversold_bounce, [(72, PositionSide.LONG)]),
    "breakout": (range_breakout, [(60, PositionSide.LONG)]),
}


def sides(signals: list[tuple[int, Signal]]) -> list[tuple[int, SignalSide]]:
    return [(index, signal.side) for index, signal in signals]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_strategy_emits_expected_signal_on_its_textbook_market(name: str) -> None:
    make_bars, expected = SCENARIOS[name]
    signals = run(get_strategy(name), make_bars())
    assert sides(signals) == expected
    for _, signal in signals:
        assert signal.strategy == name and 0.0 <= signal.confidence <= 1.0
        assert signal.stop_distance == pytest.approx(2.0 * signal.features["atr"], rel=1e-12)
        assert {"regime", "signal_strength", "volatility_ratio"} <= set(signal.features)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_mirrored_market_gives_the_mirrored_signal(name: str) -> None:
    make_bars, _ = SCENARIOS[name]
    bars = make_bars()
    original = run(get_strategy(name), bars)
    flipped = run(get_strategy(name), mirrored(bars, pivot=100.0))
    assert sides(flipped) == [(index, MIRROR[side]) for index, side in sides(original)]
    for (_, a), (_, b) in zip(original, flipped, strict=True):
        assert b.stop_distance == pytest.approx(a.stop_distance, rel=1e-9)
        assert b.confidence == pytest.approx(a.confidence, rel=1e-9)
        if a.side is not FLAT:
            assert b.features["regime"] == -a.features["regime"]


@pytest.mark.parametrize("name", ["trend_ema", "mean_reversion", "breakout", "ref_ema_cross"])
def test_flat_market_emits_nothing(name: str) -> None:
    assert run(get_strategy(name), bars_from_closes([100.0] * 300)) == []


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_stop_distance_scales_with_atr_not_with_the_signal(name: str) -> None:
    make_bars, _ = SCENARIOS[name]
    bars = make_bars()
    base = run(get_strategy(name), bars)
    wider = run(get_strategy(name, stop_atr=3.0), bars)
    pricier = run(get_strategy(name), scaled(bars, 300.0))  # same market at 30,000
    assert sides(wider) == sides(base) == sides(pricier)
    for (_, b), (_, w), (_, p) in zip(base, wider, pricier, strict=True):
        assert b.stop_distance > 0.0
        assert w.stop_distance == pytest.approx(1.5 * b.stop_distance, rel=1e-12)
        assert p.stop_distance == pytest.approx(300.0 * b.stop_distance, rel=1e-9)
        assert p.confidence == pytest.approx(b.confidence, rel=1e-9)


def test_trend_ema_does_not_go_long_below_the_trend() -> None:
    # A down-trend with a relief rally: fast crosses above slow while price is still
    # under EMA(200), so the cross only says "close shorts".
    down = ramp(150.0, -0.1, 240)
    bounce = ramp(down[-1], 0.5, 15)
    relapse = ramp(bounce[-1], -1.0, 20)
    signals = run(get_strategy("trend_ema"), bars_from_closes([150.0, *down, *bounce, *relapse]))
    assert sides(signals) == [(247, FLAT), (263, PositionSide.SHORT)]


def test_trend_ema_take_profit_is_optional_and_atr_scaled() -> None:
    [_, (_, signal)] = run(get_strategy("trend_ema", take_profit_atr=3.0), uptrend_with_pullback())
    assert signal.take_profit_distance == pytest.approx(3.0 * signal.features["atr"])
    [_, (_, plain)] = run(get_strategy("trend_ema"), uptrend_with_pullback())
    assert plain.take_profit_distance is None


def test_trend_ema_emits_nothing_during_warmup() -> None:
    # The same pullback-and-rally shape, but inside the first 200 bars.
    closes = [100.0, *ramp(100.0, 0.1, 100), *ramp(110.0, -0.5, 15), *ramp(102.5, 1.0, 20)]
    bars = bars_from_closes(closes)
    assert run(get_strategy("trend_ema"), bars) == []
    assert sides(run(get_strategy("trend_ema", trend=50), bars))  # same shape, shorter warm-up


def test_mean_reversion_does_not_catch_a_falling_knife() -> None:
    # RSI pins near 0 and the histogram even rises as the EMAs converge, but no bar closes up.
    falling = bars_from_closes(wave(100.0, 0.3, 7, 60) + ramp(100.0, -1.0, 40))
    assert run(get_strategy("mean_reversion"), falling) == []
    rising = mirrored(falling, pivot=100.0)
    assert run(get_strategy("mean_reversion"), rising) == []


def test_mean_reversion_fires_once_per_oversold_episode() -> None:
    [(_, bounce)] = run(get_strategy("mean_reversion"), oversold_bounce())
    assert bounce.features["rsi"] < 30.0 and bounce.confidence >= 0.5
    assert bounce.take_profit_distance == pytest.approx(2.0 * bounce.features["atr"])


def test_mean_reversion_bounce_after_a_pause_still_counts() -> None:
    closes = wave(100.0, 0.3, 7, 60) + ramp(100.0, -1.0, 12) + [88.0] * 3 + ramp(88.0, 0.8, 5)
    assert sides(run(get_strategy("mean_reversion"), bars_from_closes(closes))) == [
        (75, PositionSide.LONG)
    ]


def test_mean_reversion_setup_expires_after_setup_bars() -> None:
    armed = track_setup(None, True, 12.0, deeper_is_lower=True, max_age=2)
    deeper = track_setup(armed, True, 9.0, deeper_is_lower=True, max_age=2)
    assert deeper == Setup(0, 9.0)
    aged = track_setup(
        track_setup(deeper, False, 35.0, deeper_is_lower=True, max_age=2),
        False,
        40.0,
        deeper_is_lower=True,
        max_age=2,
    )
    assert aged == Setup(2, 9.0)
    assert track_setup(aged, False, 45.0, deeper_is_lower=True, max_age=2) is None
    assert track_setup(None, True, 85.0, deeper_is_lower=False, max_age=2) == Setup(0, 85.0)


def test_breakout_needs_volume_confirmation() -> None:
    assert run(get_strategy("breakout"), range_breakout(volume=120.0)) == []
    unfiltered = run(get_strategy("breakout", volume_factor=0.0), range_breakout(volume=120.0))
    assert sides(unfiltered) == [(60, PositionSide.LONG)]


def test_breakout_needs_clearance_in_atr() -> None:
    assert run(get_strategy("breakout", min_breakout_atr=2.0), range_breakout()) == []


def test_breakout_does_not_fire_during_warmup() -> None:
    closes = [*wave(100.0, 1.0, 10, 15), 103.0, 100.0]
    bars = bars_from_closes(closes, volumes=[100.0] * 15 + [300.0, 100.0])
    assert run(get_strategy("breakout"), bars) == []
    assert sides(run(get_strategy("breakout", channel=10, volume_period=10, atr_period=5), bars))


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("trend_ema", {"fast": 0}, "'fast'"),
        ("trend_ema", {"fast": 30, "slow": 26}, "'fast'.*'slow'"),
        ("trend_ema", {"stop_atr": -1.0}, "'stop_atr'"),
        ("trend_ema", {"trend": True}, "'trend'"),
        ("mean_reversion", {"oversold": 80.0}, "'oversold'.*'overbought'"),
        ("mean_reversion", {"overbought": 120.0}, "'overbought'"),
        ("mean_reversion", {"setup_bars": 0}, "'setup_bars'"),
        ("mean_reversion", {"take_profit_atr": 0.0}, "'take_profit_atr'"),
        ("breakout", {"channel": 2.5}, "'channel'"),
        ("breakout", {"volume_factor": -1.0}, "'volume_factor'"),
        ("breakout", {"min_breakout_atr": float("nan")}, "'min_breakout_atr'"),
        ("ref_ema_cross", {"stop_pct": 1.0}, "'stop_pct'"),
        ("ref_ema_cross", {"target_pct": 0}, "'target_pct'"),
        ("ref_ema_cross", {"stop_pct": "2%"}, "'stop_pct'"),
    ],
)
def test_invalid_parameter_is_rejected_by_name(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        get_strategy(name, **params)


@pytest.mark.parametrize("name", [*sorted(SCENARIOS), "ref_ema_cross"])
def test_features_use_the_exit_brains_scales(name: str) -> None:
    make_bars = SCENARIOS[name][0] if name in SCENARIOS else uptrend_with_pullback
    signals = run(get_strategy(name), make_bars())
    assert signals
    for _, signal in signals:
        assert signal.features["regime"] in (-1.0, 0.0, 1.0)
        assert 0.0 <= signal.features["signal_strength"] <= 1.0
        assert signal.features["volatility_ratio"] > 0.0 and signal.features["atr"] > 0.0
