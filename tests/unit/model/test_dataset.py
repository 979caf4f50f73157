"""The training table: each row is its symbol's feature row and its barrier labels, in
(time, symbol) order, with the time its labels become known."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.data import DataError, MarketConfig, generate_market, resample
from quantum_trader.features import FEATURE_VERSION, compute, feature_version, spec_for
from quantum_trader.model.dataset import build_dataset, feature_frames, fingerprint
from quantum_trader.model.labels import BarrierConfig, Side, triple_barrier

BARRIER = BarrierConfig(take_profit_atr=2.0, stop_atr=1.5, horizon_bars=20)


@pytest.fixture(scope="module")
def market():  # type: ignore[no-untyped-def]
    return generate_market(["BTCUSDT", "ETHUSDT", "SOLUSDT"], 2_000, MarketConfig(seed=4))


def test_each_row_is_its_symbols_features_and_labels(market) -> None:  # type: ignore[no-untyped-def]
    series = list(market.bars.values())
    data = build_dataset(series, BARRIER)
    frames = feature_frames(series)
    assert data.names == next(iter(frames.values())).names
    assert any(n.startswith("xs_rank_") for n in data.names)
    order = np.lexsort((data.symbol, data.time))
    assert np.array_equal(order, np.arange(len(data)))  # (time, symbol) order
    for k, s in enumerate(series):
        rows = np.flatnonzero(data.symbol == k)
        index = np.searchsorted(s.open_time, data.time[rows])
        own = compute(s)
        base = own.values[index]
        np.testing.assert_array_equal(data.features[rows][:, : len(own.names)], base)
        atr = own.column("atr_rel_14") * s.close
        long = triple_barrier(s.open, s.high, s.low, s.close, atr, BARRIER, Side.LONG)
        short = triple_barrier(s.open, s.high, s.low, s.close, atr, BARRIER, Side.SHORT)
        assert np.array_equal(data.long_won[rows], (long.label[index] > 0).astype(np.int8))
        assert np.array_equal(data.short_won[rows], (short.label[index] > 0).astype(np.int8))
        np.testing.assert_array_equal(data.forward_return[rows], long.forward_return[index])
        # Labels are known at the close of the horizon's last bar, never before.
        expected_end = s.open_time[index + BARRIER.horizon_bars] + s.interval_ms
        assert np.array_equal(data.label_end[rows], expected_end)
        assert bool(long.valid[index].all() and short.valid[index].all())
    assert (data.label_end > data.time).all()


def test_the_fingerprint_names_the_bars_exactly(market) -> None:  # type: ignore[no-untyped-def]
    series = list(market.bars.values())
    assert fingerprint(series) == fingerprint(list(reversed(series)))
    changed = series[0].slice(0, len(series[0]) - 1)
    assert fingerprint([changed, *series[1:]]) != fingerprint(series)


def test_features_follow_the_bar_interval(market) -> None:  # type: ignore[no-untyped-def]
    assert feature_version(spec_for("1m")) == FEATURE_VERSION
    hourly = [resample(s, "15m") for s in market.bars.values()]
    names = feature_frames(hourly)[hourly[0].symbol].names
    assert "htf_1h_ret_1" in names and "htf_5m_ret_1" not in names
    assert feature_version(spec_for("15m")) != FEATURE_VERSION


def test_too_little_data_is_a_clear_error(market) -> None:  # type: ignore[no-untyped-def]
    short = [s.slice(0, 15) for s in market.bars.values()]
    with pytest.raises(DataError, match="no labelled rows"):
        build_dataset(short, BARRIER)
