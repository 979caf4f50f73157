"""The lookahead check: every built-in strategy passes on a synthetic market, the model's
features too; a column form whose stop reads the next bar, and a model feature that
reads it, are caught by name, symbol and bar."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

import quantum_trader.model.dataset as dataset
from quantum_trader.backtest.lookahead import check_lookahead
from quantum_trader.backtest.lookahead_changes import Change, Changes, sample_bars
from quantum_trader.backtest.signals import StrategySpec
from quantum_trader.data import BarSeries, FundingSeries, MarketConfig, generate_market
from quantum_trader.data.funding import generate_funding
from quantum_trader.domain.enums import PositionSide
from quantum_trader.features import FeatureFrame, FeatureSpec
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.strategies import Bar, Signal, SignalSide, Strategy, StrategyState, register
from quantum_trader.strategies.rebuilt import Columns, SeriesSignals, bar_at

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
RISE = 0.0005
FEATURES = {"regime": 0.0, "signal_strength": 1.0, "volatility_ratio": 1.0}


@pytest.fixture(scope="module")
def market() -> tuple[list[BarSeries], dict[str, FundingSeries]]:
    synthetic = generate_market(SYMBOLS, 2 * 1440, MarketConfig(seed=7))
    rates = {s: generate_funding(synthetic, s) for s in SYMBOLS}
    return list(synthetic.bars.values()), rates


@dataclass(frozen=True)
class RsiScorer:
    """A stand-in for a trained model: LONG odds on a low RSI, SHORT on a high one."""

    names: tuple[str, ...] = ("rsi_14", "ret_15", "xs_rank_ret_60", "htf_15m_rsi_14",
                              "funding_rate")  # fmt: skip

    def probabilities(self, features: Any, times: Any) -> tuple[Any, Any]:
        rsi = features[:, 0]
        with np.errstate(invalid="ignore"):
            return np.where(rsi < 30, 0.9, 0.1), np.where(rsi > 70, 0.9, 0.1)


MODEL = StrategySpec("model", (("barrier", BarrierConfig()), ("scorer", RsiScorer())))


@pytest.mark.parametrize(
    "spec",
    [
        StrategySpec("trend_ema"),
        StrategySpec("trend_ema", (("fast", 3), ("slow", 8), ("trend", 20))),
        StrategySpec("breakout"),
        StrategySpec("breakout", (("channel", 5), ("volume_factor", 0.0))),
        StrategySpec("mean_reversion"),
        StrategySpec("mean_reversion", (("rsi_period", 3), ("setup_bars", 2))),
        StrategySpec("ref_ema_cross"),
        MODEL,
    ],
    ids=lambda s: f"{s.name}{'-' + str(len(s.params)) if s.params else ''}",
)
def test_every_built_in_strategy_passes(
    market: tuple[list[BarSeries], dict[str, FundingSeries]], spec: StrategySpec
) -> None:
    series, rates = market
    report = check_lookahead(series, [spec], rates, samples=12, seed=3, workers=1)
    assert report.clean, report.changes[:5]
    assert report.checked > 0 and all(c.signals > 0 for c in report.coverage)
    if spec.name == "model":
        (coverage,) = report.coverage
        assert coverage.features == 6  # the five it scores and the ATR it stops on
        assert coverage.bar_by_bar == 3 * 2 * 1440  # every row stepped (fewer than the cap)
        assert coverage.truncations == 12
    else:
        assert len(report.coverage) == 3
        for c in report.coverage:
            assert c.truncations == min(12, c.signals) and c.bar_by_bar == c.signals


@dataclass(frozen=True, slots=True, kw_only=True)
class RiseState(StrategyState):
    prev_close: float = math.nan


@register("leaks_stop_distance")
class LeaksStopDistance(Strategy[RiseState]):
    """LONG on a close ``RISE`` above the one before, stopped a bar's range away: the
    column form takes the range of the *next* bar (the last bar's own at the end)."""

    def __init__(self) -> None:
        self.warmup = 1

    def initial_state(self, symbol: str) -> RiseState:
        return RiseState(symbol=symbol)

    def _signal(self, bar: Bar, stop: float) -> Signal:
        return self.signal(bar, PositionSide.LONG, confidence=0.9, stop_distance=stop,
                           features=FEATURES)  # fmt: skip

    def advance(self, state: RiseState, bar: Bar) -> tuple[RiseState, Signal | None]:
        rose = bar.close > state.prev_close * (1 + RISE)
        signal = self._signal(bar, bar.high - bar.low) if rose else None
        return replace(state, prev_close=bar.close), signal

    def series_signals(self, symbol: str, interval: str, columns: Columns) -> SeriesSignals:
        high, low, close = columns[2], columns[3], columns[4]
        rose = np.zeros(close.size, np.bool_)
        rose[1:] = close[1:] > close[:-1] * (1 + RISE)
        sides: dict[int, SignalSide] = {i: PositionSide.LONG for i in np.flatnonzero(rose).tolist()}

        def at(i: int) -> Signal:
            later = min(i + 1, close.size - 1)  # a lookahead
            return self._signal(bar_at(symbol, interval, columns, i), high[later] - low[later])

        return sides, at


class FoldOnly(Strategy[RiseState]):
    name = "fold_only"

    def initial_state(self, symbol: str) -> RiseState:
        return RiseState(symbol=symbol)

    def advance(self, state: RiseState, bar: Bar) -> tuple[RiseState, Signal | None]:
        return state, None


register("fold_only")(FoldOnly)


def test_a_stop_distance_read_from_the_next_bar_is_caught(
    market: tuple[list[BarSeries], dict[str, FundingSeries]],
) -> None:
    series = market[0][:1]
    report = check_lookahead(series, [StrategySpec("leaks_stop_distance")], samples=10, seed=1)
    assert not report.clean
    names = {(c.name, c.check) for c in report.changes}
    assert names == {("stop_distance", "truncated"), ("stop_distance", "bar_by_bar")}
    (coverage,) = report.coverage
    cut = [c for c in report.changes if c.check == "truncated"]
    assert len(cut) == 5  # five kept per field and symbol; all counted
    # every signal differs from the fold's, and at every cut (none sits on the last bar)
    assert report.changed_total == coverage.signals + coverage.truncations == 628 + 10
    first = cut[0]
    i = first.bar_index
    bars = series[0]
    assert first.symbol == "BTCUSDT" and first.bar_time == int(bars.open_time[i])
    assert first.full == pytest.approx(bars.high[i + 1] - bars.low[i + 1])
    assert first.truncated == pytest.approx(bars.high[i] - bars.low[i])
    assert report.as_json()["changed"][0]["bar_time"].endswith("Z")


def test_a_strategy_without_a_column_form_is_noted(
    market: tuple[list[BarSeries], dict[str, FundingSeries]],
) -> None:
    report = check_lookahead(market[0][:1], [StrategySpec("fold_only")])
    assert report.clean and report.checked == 0
    assert "no column form" in report.coverage[0].note


def next_bar_rsi(real: Any) -> Any:
    def compute(series: BarSeries, funding: Any = None, spec: FeatureSpec | None = None) -> Any:
        frame: FeatureFrame = real(series, funding, spec) if spec else real(series, funding)
        values = frame.values.copy()
        k = frame.names.index("rsi_14")
        values[:-1, k] = values[1:, k]  # the next bar's RSI: a lookahead
        return FeatureFrame(frame.symbol, frame.open_time, frame.names, values)

    return compute


def test_a_model_feature_read_from_the_next_bar_is_caught(
    market: tuple[list[BarSeries], dict[str, FundingSeries]], monkeypatch: pytest.MonkeyPatch
) -> None:
    series, rates = market
    monkeypatch.setattr(dataset, "compute", next_bar_rsi(dataset.compute))
    report = check_lookahead(series, [MODEL], rates, samples=6, seed=0)
    assert not report.clean
    features = [c for c in report.changes if c.kind == "feature"]
    assert {c.name for c in features} == {"rsi_14"}  # no other column moved
    assert {c.check for c in features} == {"truncated", "bar_by_bar"}
    assert {c.symbol for c in features} == set(SYMBOLS)
    signals = [c for c in report.changes if c.kind == "signal"]
    assert signals and all(c.name == "side" and c.check == "truncated" for c in signals)


def test_samples_are_every_bar_or_the_ends_and_a_seeded_draw() -> None:
    bars = list(range(100, 200))
    assert sample_bars(bars[:5], 8, 0, "x") == bars[:5]
    assert sample_bars(bars, 0, 0, "x") == bars  # 0: all of them
    drawn = sample_bars(bars, 8, 0, "x")
    assert len(drawn) == 8 and drawn[0] == 100 and drawn[-1] == 199
    assert drawn == sample_bars(bars, 8, 0, "x") != sample_bars(bars, 8, 1, "x")


def test_changes_count_every_bar_and_keep_a_few_of_each() -> None:
    found = Changes()
    for i in (*range(8), 3):
        found.add(Change("signal", "s", "side", "BTCUSDT", i, i, "LONG", None, "truncated"))
    found.add(Change("signal", "s", "confidence", "BTCUSDT", 1, 1, 0.5, 0.4, "truncated"))
    assert found.total == 9
    assert [c.name for c in found.kept] == ["side"] * 5 + ["confidence"]


def test_folds_in_worker_processes_compare_the_same(
    market: tuple[list[BarSeries], dict[str, FundingSeries]],
) -> None:
    series = market[0][:2]
    specs = [StrategySpec("breakout"), StrategySpec("ref_ema_cross")]
    here = check_lookahead(series, specs, samples=4, workers=1)
    pooled = check_lookahead(series, specs, samples=4, workers=2)
    assert here.clean and pooled.clean
    assert [c.as_json() for c in here.coverage] == [c.as_json() for c in pooled.coverage]
