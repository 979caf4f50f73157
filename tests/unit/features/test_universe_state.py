"""The universe's feature state equals each symbol's own ``FeatureState`` on every feature
of every bar — with gaps, symbols that list late, funding and every higher timeframe —
and the sort-based cross-sectional rank equals the pairwise count it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.data import DataError, MarketConfig, generate_market
from quantum_trader.features import FeatureState, cross_section_at, rank_and_z
from quantum_trader.features.cross_section import cross_section_matrix
from quantum_trader.features.frame import FeatureRow
from quantum_trader.features.universe import UniverseFeatureState

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"]


@pytest.mark.parametrize("together", [0, 1_300], ids=["gaps-from-the-start", "gaps-after-warm-up"])
def test_every_row_equals_each_symbols_own_state_with_gaps_and_late_listings(
    together: int,
) -> None:
    """``together``: bars at which every symbol has a bar (the rings' common-head path,
    past every warm-up), before the gaps begin (per-symbol heads from then on)."""
    n = 1_500 + together  # past 1h × 21 higher bars, the longest warm-up
    market = generate_market(SYMBOLS, n, MarketConfig(seed=8))
    rng = np.random.default_rng(3)
    present = {s: rng.random(n) > 0.04 for s in SYMBOLS}
    if together:
        for s in SYMBOLS:
            present[s][:together] = True
    else:
        present["XRPUSDT"][:700] = False  # lists late, in the middle of an hour
    present["SOLUSDT"][together + 1_000 : together + 1_130] = False  # a two-hour hole
    funding = np.where(rng.random(n) < 0.01, rng.normal(0, 1e-4, n), np.nan)
    universe = UniverseFeatureState(SYMBOLS, "1m")
    own = {s: FeatureState(s, "1m") for s in SYMBOLS}
    times = market.bars[SYMBOLS[0]].open_time.tolist()
    got, want = [], []
    for i, t in enumerate(times):
        bars = {}
        for s in SYMBOLS:
            if present[s][i]:
                b = market.bars[s]
                bars[s] = (b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i], funding[i])
        if not bars:
            continue
        rows = universe.update(t, bars)
        for s, values in rows.items():
            b = market.bars[s]
            expected = own[s].update_values(
                t, b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i], funding[i]
            )
            got.append(values)
            want.append(expected.values)
        if len(rows) >= 2 and i % 25 == 0:  # the matrix cross-section equals the row form
            feature_rows = {s: FeatureRow(s, t, universe.names, v) for s, v in rows.items()}
            by_rows = cross_section_at(feature_rows)
            matrix = cross_section_matrix(np.stack(list(rows.values())), universe.names)
            for k, s in enumerate(rows):
                np.testing.assert_array_equal(matrix[k], by_rows[s].values)
    assert len(got) > 0.8 * n * len(SYMBOLS)
    got_all, want_all = np.stack(got), np.stack(want)
    assert np.array_equal(np.isnan(got_all), np.isnan(want_all))
    np.testing.assert_allclose(got_all, want_all, rtol=1e-9, atol=1e-12)
    assert not np.isnan(got_all[-1]).all()
    assert universe.names == own[SYMBOLS[0]].names


def test_bad_bars_are_refused_and_change_nothing() -> None:
    universe = UniverseFeatureState(["BTCUSDT", "ETHUSDT"], "1m")
    bar = (100.0, 101.0, 99.0, 100.5, 10.0, float("nan"))
    universe.update(60_000, {"BTCUSDT": bar})
    with pytest.raises(DataError, match="not in this universe"):
        universe.update(120_000, {"SOLUSDT": bar})
    with pytest.raises(DataError, match="oldest first, once each"):
        universe.update(60_000, {"BTCUSDT": bar})
    with pytest.raises(DataError, match="NaN or infinite"):
        universe.update(120_000, {"ETHUSDT": (100.0, float("inf"), 99.0, 100.0, 1.0, 0.0)})
    after = universe.update(120_000, {"BTCUSDT": bar, "ETHUSDT": bar})
    fresh = UniverseFeatureState(["BTCUSDT", "ETHUSDT"], "1m")
    fresh.update(60_000, {"BTCUSDT": bar})
    clean = fresh.update(120_000, {"BTCUSDT": bar, "ETHUSDT": bar})
    for symbol in after:  # the refused bars left no trace
        np.testing.assert_array_equal(after[symbol], clean[symbol])
    with pytest.raises(DataError, match="distinct symbols"):
        UniverseFeatureState(["BTCUSDT", "BTCUSDT"], "1m")


def pairwise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    valid = np.isfinite(x)
    xv = np.where(valid, x, np.nan)
    below = (xv[..., None, :] < xv[..., :, None]).sum(axis=-1)
    tied = (xv[..., None, :] == xv[..., :, None]).sum(axis=-1) - 1
    return below, tied


def test_sorted_ranks_equal_the_pairwise_count_with_ties_and_gaps() -> None:
    rng = np.random.default_rng(1)
    for shape in [(7,), (50, 9), (3, 400), (4, 1), (2, 0)]:
        x = rng.integers(0, 5, size=shape).astype(float)  # many ties
        x[rng.random(shape) < 0.2] = np.nan
        x[rng.random(shape) < 0.05] = np.inf
        rank, z = rank_and_z(x)
        below, tied = pairwise(x)
        valid = np.isfinite(x)
        count = valid.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = np.where(valid & (count >= 2), (below + 0.5 * tied) / (count - 1), np.nan)
        np.testing.assert_array_equal(rank, expected)
        assert np.array_equal(np.isnan(z), np.isnan(rank))
