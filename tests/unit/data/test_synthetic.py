"""The synthetic market: deterministic, OHLC-consistent, on tick, and statistically plausible."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.data.bars import BarSeries, DataError
from quantum_trader.data.resample import resample
from quantum_trader.data.symbols import DEFAULT_SYMBOLS, SymbolSpec
from quantum_trader.data.synthetic import (
    MarketConfig,
    generate_bars,
    generate_market,
)

THREE = ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]


def _autocorr(x: np.ndarray, lag: int = 1) -> float:
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).mean() / x.var())


def _log_returns(series: BarSeries) -> np.ndarray:
    return np.diff(np.log(series.close))


def test_same_seed_gives_bit_identical_bars() -> None:
    a = generate_market(THREE, 5_000, MarketConfig(seed=7))
    b = generate_market(THREE, 5_000, MarketConfig(seed=7))
    for name in THREE:
        assert a.bars[name].equals(b.bars[name])
        assert a.bars[name].close.tobytes() == b.bars[name].close.tobytes()
    assert np.array_equal(a.regime, b.regime)


def test_different_seeds_give_different_paths() -> None:
    a = generate_bars("BTCUSDT", 2_000, MarketConfig(seed=1))
    b = generate_bars("BTCUSDT", 2_000, MarketConfig(seed=2))
    assert not a.equals(b)


def test_a_symbols_path_does_not_depend_on_its_companions() -> None:
    alone = generate_bars("ETHUSDT", 3_000, MarketConfig(seed=5))
    together = generate_market(["BTCUSDT", "ETHUSDT"], 3_000, MarketConfig(seed=5))
    assert alone.equals(together.bars["ETHUSDT"])


def _check_invariants(series: BarSeries, spec: SymbolSpec) -> None:
    o, h, lo, c = series.open, series.high, series.low, series.close
    assert np.all(h >= np.maximum(o, c))
    assert np.all(lo <= np.minimum(o, c))
    assert np.all(lo > 0)
    assert np.all(series.volume >= 0)
    assert np.all(np.diff(series.open_time) == 60_000)
    tick = float(spec.tick_size)
    for column in (o, h, lo, c):
        ticks = column / tick
        assert np.allclose(ticks, np.rint(ticks), rtol=0, atol=1e-6)
    # open = previous close ± at most one tick
    assert np.all(np.abs(o[1:] - c[:-1]) <= tick * 1.000001)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), corr=st.floats(0.0, 1.0))
def test_ohlc_is_consistent_and_on_tick_for_any_seed(seed: int, corr: float) -> None:
    market = generate_market(
        ["BTCUSDT", "XRPUSDT", "1000PEPEUSDT"], 1_500, MarketConfig(seed=seed, correlation=corr)
    )
    for name, series in market.bars.items():
        _check_invariants(series, market.specs[name])


def test_every_built_in_symbol_starts_near_its_price_on_its_tick() -> None:
    assert len(DEFAULT_SYMBOLS) >= 20
    market = generate_market(list(DEFAULT_SYMBOLS), 600, MarketConfig(seed=3))
    for name, spec in DEFAULT_SYMBOLS.items():
        series = market.bars[name]
        assert series.open[0] == float(spec.start_price)
        assert 0.8 < series.close[-1] / float(spec.start_price) < 1.25
        _check_invariants(series, spec)
        kline = series.bar_at(len(series) - 1, spec.tick_size)
        assert kline.close % spec.tick_size == 0


def test_custom_mapping_sets_start_price_and_tick() -> None:
    market = generate_market({"FOOUSDT": ("12.5", "0.005")}, 500, MarketConfig(seed=1))
    series = market.bars["FOOUSDT"]
    assert series.open[0] == 12.5
    ticks = series.close / 0.005
    assert np.allclose(ticks, np.rint(ticks), atol=1e-6)
    assert market.bars["FOOUSDT"].bar_at(0, Decimal("0.005")).open == Decimal("12.500")


def test_unknown_symbol_names_the_fix() -> None:
    with pytest.raises(DataError, match="pass a mapping symbol -> \\(start price, tick size\\)"):
        generate_market(["NOPEUSDT"], 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"correlation": 1.5}, "correlation"),
        ({"garch_alpha": 0.5, "garch_beta": 0.6}, "garch_alpha \\+ garch_beta"),
        ({"tail_df": 2.0}, "tail_df"),
        ({"start_ms": 1}, "minute boundary"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_config_is_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(DataError, match=message):
        MarketConfig(**kwargs)  # type: ignore[arg-type]


def test_volatility_clusters_and_returns_do_not() -> None:
    returns = _log_returns(generate_bars("BTCUSDT", 60 * 24 * 30, MarketConfig(seed=11)))
    abs_ac = _autocorr(np.abs(returns))
    assert abs_ac > 0.05
    assert abs_ac > abs(_autocorr(returns)) + 0.05
    assert _autocorr(np.abs(returns), 60) > 0.03  # persists for hours


def test_returns_have_fat_tails() -> None:
    returns = _log_returns(generate_bars("ETHUSDT", 60 * 24 * 20, MarketConfig(seed=4)))
    z = (returns - returns.mean()) / returns.std()
    assert float((z**4).mean()) > 6.0  # a normal distribution has 3


@pytest.mark.parametrize("rho", [0.0, 0.7])
def test_cross_symbol_correlation_is_roughly_as_configured(rho: float) -> None:
    market = generate_market(THREE, 60 * 24 * 30, MarketConfig(seed=9, correlation=rho))
    five = [resample(market.bars[n], "5m") for n in THREE]
    corr = np.corrcoef(np.array([_log_returns(s) for s in five]))
    off_diagonal = corr[np.triu_indices(3, 1)]
    assert np.all(np.abs(off_diagonal - rho) < 0.1), off_diagonal


def test_volume_rises_with_absolute_returns() -> None:
    series = generate_bars("SOLUSDT", 20_000, MarketConfig(seed=2))
    r = np.abs(_log_returns(series))
    assert np.corrcoef(series.volume[1:], r)[0, 1] > 0.2


def test_volume_follows_the_intraday_cycle() -> None:
    series = generate_bars("BTCUSDT", 60 * 24 * 14, MarketConfig(seed=6))
    hour = (series.open_time % 86_400_000) // 3_600_000
    assert series.volume[hour == 14].mean() > 1.5 * series.volume[hour == 2].mean()


def test_regimes_change_and_all_occur() -> None:
    market = generate_market(["BTCUSDT"], 60 * 24 * 90, MarketConfig(seed=1))
    assert set(np.unique(market.regime).tolist()) == {0, 1, 2}
    assert 5 <= int(np.count_nonzero(np.diff(market.regime))) <= 100


def test_a_year_of_minutes_is_complete_and_contiguous() -> None:
    series = generate_bars("BTCUSDT", 525_600, MarketConfig(seed=1))
    assert len(series) == 525_600
    assert set(np.diff(series.open_time).tolist()) == {60_000}
