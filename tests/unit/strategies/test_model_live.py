"""The model strategy bar by bar, as the live signal engine runs it, signals exactly what
the backtest's whole-array evaluation signals: the same entries at the same bars, with
the same side, confidence, stop and features — with gaps and a symbol that lists late,
and for meta-labelling too. A swap between bars scores the next bar with the new model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.funding import FundingSeries, generate_funding
from quantum_trader.features.funding import funding_at
from quantum_trader.model.dataset import build_dataset, feature_frames
from quantum_trader.model.evaluate import final_fit
from quantum_trader.model.labels import BarrierConfig
from quantum_trader.model.scorer import ModelScorer
from quantum_trader.model.train import TrainConfig
from quantum_trader.strategies.base import Signal
from quantum_trader.strategies.model import ModelStrategy
from quantum_trader.strategies.model_live import LiveModel

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
BARRIER = BarrierConfig(horizon_bars=30)
BARS = 2_000


def fitted(seed: int) -> ModelScorer:
    market = generate_market(SYMBOLS, BARS, MarketConfig(seed=seed, planted_drift=0.2))
    data = build_dataset(list(market.bars.values()), BARRIER)
    config = TrainConfig(num_threads=1, rounds=60, min_data_in_leaf=50, seed=seed)
    return final_fit(data, config).scorer


@pytest.fixture(scope="module")
def scorers() -> tuple[ModelScorer, ModelScorer]:
    return fitted(1), fitted(2)


def gapped_market() -> list[BarSeries]:
    market = generate_market(SYMBOLS, BARS, MarketConfig(seed=7, planted_drift=0.2))
    rng = np.random.default_rng(4)
    out = []
    for s in SYMBOLS:
        keep = rng.random(BARS) > 0.03
        if s == "XRPUSDT":
            keep[:600] = False  # lists late
        out.append(market.bars[s].take(keep))
    return out


def live_signals(model: LiveModel, series: Sequence[BarSeries], swap_at: int | None = None,
                 other: ModelStrategy | None = None,
                 funding: Mapping[str, FundingSeries] | None = None,
                 ) -> dict[tuple[str, int], Signal]:  # fmt: skip
    """Every bar time in order, each with the bars of the symbols that have one (and
    each bar's funding rate: the last settled at or before its close)."""
    columns = {s.symbol: s.columns() for s in series}
    at: dict[int, dict[str, tuple[float, ...]]] = {}
    for s in series:
        t, o, h, low, c, v = (col.tolist() for col in columns[s.symbol])
        for i, time in enumerate(t):
            at.setdefault(int(time), {})[s.symbol] = (o[i], h[i], low[i], c[i], v[i])
    out = {}
    for k, time in enumerate(sorted(at)):
        if swap_at is not None and k == swap_at and other is not None:
            model.swap(other)
        rates = {
            symbol: float(funding_at(np.array([time + 59_999]), funding.get(symbol))[0])
            if funding
            else float("nan")
            for symbol in at[time]
        }
        for signal in model.step(time, at[time], funding=rates):  # type: ignore[arg-type]
            out[(signal.symbol, signal.bar_time)] = signal
    return out


def backtest_signals(strategy: ModelStrategy, series: Sequence[BarSeries],
                     since: int | None = None,
                     funding: Mapping[str, FundingSeries] | None = None,
                     ) -> dict[tuple[str, int], Signal]:  # fmt: skip
    out = {}
    for s, (sides, at) in zip(series, strategy.universe_signals(series, funding), strict=True):
        for i in sides:
            if since is None or int(s.open_time[i]) >= since:
                signal = at(i)
                out[(signal.symbol, signal.bar_time)] = signal
    return out


def assert_same(live: dict[tuple[str, int], Signal], whole: dict[tuple[str, int], Signal]) -> None:
    assert live.keys() == whole.keys()
    for key, want in whole.items():
        got = live[key]
        assert got.side is want.side and got.strategy == want.strategy
        assert got.confidence == pytest.approx(want.confidence, rel=1e-9, abs=1e-12)
        assert got.stop_distance == pytest.approx(want.stop_distance, rel=1e-9)
        if want.take_profit_distance is None:  # a rule strategy's entry may set none
            assert got.take_profit_distance is None
        else:
            assert got.take_profit_distance == pytest.approx(want.take_profit_distance, rel=1e-9)
        assert got.price == want.price
        assert got.features.keys() == want.features.keys()
        for name, value in want.features.items():
            assert got.features[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_bar_by_bar_signals_equal_the_backtests_with_gaps_and_a_late_listing(
    scorers: tuple[ModelScorer, ModelScorer],
) -> None:
    series = gapped_market()
    strategy = ModelStrategy(scorer=scorers[0], barrier=BARRIER)
    whole = backtest_signals(strategy, series)
    live = live_signals(LiveModel(SYMBOLS, "1m", strategy), series)
    assert len(whole) >= 20 and {k[0] for k in whole} == set(SYMBOLS)
    assert_same(live, whole)


def test_meta_labelling_bar_by_bar_equals_the_backtest(
    scorers: tuple[ModelScorer, ModelScorer],
) -> None:
    series = gapped_market()
    strategy = ModelStrategy(scorer=scorers[0], barrier=BARRIER, filter="breakout")
    whole = backtest_signals(strategy, series)
    live = live_signals(LiveModel(SYMBOLS, "1m", strategy), series)
    assert len(whole) >= 5
    assert_same(live, whole)


SWAP_AT = 1_500  # the bar time (its index among all times) a new model is served from


def served_after_swap(
    first: ModelStrategy | None, second: ModelStrategy
) -> tuple[dict[tuple[str, int], Signal], dict[tuple[str, int], Signal]]:
    """(live signals, the second model's backtest signals) from each symbol's second bar
    under the second model on: its first bar compares its side with the side before the
    swap; from the next bar on every onset is the new model's own."""
    series = gapped_market()
    swap = sorted({int(t) for s in series for t in s.open_time})[SWAP_AT]
    live = live_signals(LiveModel(SYMBOLS, "1m", first), series, SWAP_AT, second)
    settled = {s.symbol: int(s.open_time[s.open_time >= swap][1]) for s in series}
    if first is not None:  # before the swap: the first model's own signals
        before = {k: v for k, v in live.items() if k[1] < swap}
        whole = backtest_signals(first, series)
        assert_same(before, {k: v for k, v in whole.items() if k[1] < swap})
    else:
        assert not [k for k in live if k[1] < swap]  # no model: no signal

    def settled_only(signals: dict[tuple[str, int], Signal]) -> dict[tuple[str, int], Signal]:
        return {k: v for k, v in signals.items() if k[1] >= settled[k[0]]}

    return settled_only(live), settled_only(backtest_signals(second, series))


def test_a_swap_scores_the_next_bar_with_the_new_model(
    scorers: tuple[ModelScorer, ModelScorer],
) -> None:
    first = ModelStrategy(scorer=scorers[0], barrier=BARRIER)
    second = ModelStrategy(scorer=scorers[1], barrier=BARRIER)
    live, want = served_after_swap(first, second)
    assert len(want) >= 5
    assert_same(live, want)


def test_a_model_served_after_the_start_scores_on_features_warmed_from_the_first_bar(
    scorers: tuple[ModelScorer, ModelScorer],
) -> None:
    live, want = served_after_swap(None, ModelStrategy(scorer=scorers[1], barrier=BARRIER))
    assert len(want) >= 5
    assert_same(live, want)


def test_a_model_needing_features_the_code_lacks_is_refused(
    scorers: tuple[ModelScorer, ModelScorer],
) -> None:
    strategy = ModelStrategy(scorer=scorers[0], barrier=BARRIER)
    model = LiveModel(SYMBOLS, "1m", strategy)
    assert model.model_id == ""
    with pytest.raises(ValueError, match="features"):
        LiveModel(SYMBOLS, "1m", ModelStrategy(scorer=_renamed(scorers[0]), barrier=BARRIER))


def _renamed(scorer: ModelScorer) -> ModelScorer:
    names = ("no_such_feature", *scorer.names[1:])
    return ModelScorer(names, scorer.boosters, scorer.calibration, scorer.num_threads)


def test_a_model_trained_without_funding_scores_the_same_with_or_without_it(
    scorers: tuple[ModelScorer, ModelScorer],
) -> None:
    """Training leaves the funding feature empty by default, so a backtest over files
    with funding rates and a live engine whose bars carry none score alike."""
    scorer = scorers[0]
    series = gapped_market()
    frames = feature_frames(series)
    rows = np.concatenate([frames[s.symbol].select(scorer.names).values for s in series])
    times = np.concatenate([s.open_time for s in series])
    column = scorer.names.index("funding_rate")
    assert np.isnan(rows[:, column]).all()
    with_funding = rows.copy()
    with_funding[:, column] = np.random.default_rng(1).normal(0, 1e-3, len(rows))
    for got, want in zip(
        scorer.probabilities(with_funding, times), scorer.probabilities(rows, times), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_a_model_trained_with_funding_scores_live_bars_with_their_rates_as_the_backtest() -> None:
    """Hourly funding that follows the market's regimes: the model learns from it, and
    bar by bar with each bar's last settled rate it signals what the backtest signals."""
    market = generate_market(SYMBOLS, BARS, MarketConfig(seed=5, planted_drift=0.2))
    funding = {s: generate_funding(market, s, interval_hours=1) for s in SYMBOLS}
    data = build_dataset(list(market.bars.values()), BARRIER, funding)
    config = TrainConfig(num_threads=1, rounds=60, min_data_in_leaf=50, seed=5)
    scorer = final_fit(data, config).scorer
    used = {
        name
        for booster in scorer.boosters.values()
        for name, splits in zip(booster.feature_name(), booster.feature_importance(), strict=True)
        if splits and name.startswith("funding_rate")
    }
    assert used  # the funding features carry splits: the comparison below tests them
    strategy = ModelStrategy(scorer=scorer, barrier=BARRIER)
    series = gapped_market()
    rates = {s.symbol: funding[s.symbol] for s in series}
    whole = backtest_signals(strategy, series, funding=rates)
    assert len(whole) >= 10
    assert_same(live_signals(LiveModel(SYMBOLS, "1m", strategy), series, funding=rates), whole)
    blind = live_signals(LiveModel(SYMBOLS, "1m", strategy), series)

    def confidences(signals: dict[tuple[str, int], Signal]) -> dict[tuple[str, int], float]:
        return {k: v.confidence for k, v in signals.items()}

    assert confidences(blind) != confidences(whole)  # without the rates it signals otherwise
