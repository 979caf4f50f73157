"""Cross-sectional rank and z-score: right on a hand-made universe, and the same for whole
aligned frames as for one bar's rows from the live states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantum_trader.data import BarEvent, DataError
from quantum_trader.features import (
    FeatureFrame,
    FeatureSpec,
    FeatureState,
    FundingCursor,
    align,
    compute,
    cross_section,
    cross_section_at,
    cross_section_names,
    rank_and_z,
)
from tests.unit.features.samples import SYMBOLS, bars, events, funding, mismatch, with_gaps

NAN = math.nan
SPEC = FeatureSpec(cross_section=("ret_1",))
R = math.sqrt(1.5)  # 1 / population std of (1, 2, 3)
VALUES = {  # ret_1 of four symbols at five bars
    "A": [1.0, 5.0, 1.0, 2.0, 3.0],
    "B": [2.0, 5.0, NAN, 2.0, -1.0],
    "C": [3.0, 1.0, NAN, 2.0, NAN],
    "D": [NAN, 7.0, NAN, 2.0, NAN],
}
EXPECTED_RANK = {
    "A": [0.0, 0.5, NAN, 0.5, 1.0],
    "B": [0.5, 0.5, NAN, 0.5, 0.0],
    "C": [1.0, 0.0, NAN, 0.5, NAN],
    "D": [NAN, 1.0, NAN, 0.5, NAN],
}
S1 = math.sqrt(19 / 4)  # population std of (5, 5, 1, 7)
EXPECTED_Z = {
    "A": [-R, 0.5 / S1, NAN, 0.0, 1.0],
    "B": [0.0, 0.5 / S1, NAN, 0.0, -1.0],
    "C": [R, -3.5 / S1, NAN, 0.0, NAN],
    "D": [NAN, 2.5 / S1, NAN, 0.0, NAN],
}
TIMES = np.arange(5, dtype=np.int64) * 60_000


def hand_made() -> dict[str, FeatureFrame]:
    return {
        s: FeatureFrame(s, TIMES, ("ret_1",), np.array(v).reshape(-1, 1)) for s, v in VALUES.items()
    }


def test_rank_and_z_score_of_a_hand_made_universe() -> None:
    # Bar 0: D missing; bar 1: A and B tie; bar 2: one symbol only (no cross-section);
    # bar 3: all equal; bar 4: two symbols.
    result = cross_section(hand_made(), SPEC)
    assert cross_section_names(SPEC) == ("xs_rank_ret_1", "xs_z_ret_1")
    for s in VALUES:
        np.testing.assert_allclose(result[s].column("xs_rank_ret_1"), EXPECTED_RANK[s], atol=1e-15)
        np.testing.assert_allclose(result[s].column("xs_z_ret_1"), EXPECTED_Z[s], atol=1e-15)


def test_one_bar_at_a_time_gives_the_hand_made_answer_too() -> None:
    frames = hand_made()
    for i in range(len(TIMES)):
        rows = cross_section_at({s: f.row(i) for s, f in frames.items()}, SPEC)
        for s in VALUES:
            assert rows[s]["xs_rank_ret_1"] == pytest.approx(EXPECTED_RANK[s][i], nan_ok=True)
            assert rows[s]["xs_z_ret_1"] == pytest.approx(EXPECTED_Z[s][i], nan_ok=True)


def test_whole_frames_and_live_rows_agree_on_a_gapped_universe() -> None:
    series = {s: with_gaps(bars(s), 20 + k) for k, s in enumerate(SYMBOLS)}
    rates = {s: funding(s) for s in SYMBOLS[:2]}  # two symbols without funding
    frames = align({s: compute(series[s], rates.get(s)) for s in SYMBOLS})
    vectorised = cross_section(frames)
    grid = next(iter(frames.values())).open_time
    names = cross_section_names()
    live = {s: np.full((len(grid), len(names)), NAN) for s in SYMBOLS}
    states = {s: FeatureState(s, "1m") for s in SYMBOLS}
    cursors = {s: FundingCursor(rates.get(s)) for s in SYMBOLS}
    pending = {s: iter(events(series[s])) for s in SYMBOLS}
    upcoming: dict[str, BarEvent | None] = {s: next(pending[s]) for s in SYMBOLS}
    for i, t in enumerate(grid.tolist()):
        rows = {}
        for s in SYMBOLS:  # the symbols that have a bar at t, as a live engine sees them
            bar = upcoming.get(s)
            if bar is not None and bar.open_time == t:
                rows[s] = states[s].update(bar, cursors[s].rate_at(bar.close_time))
                upcoming[s] = next(pending[s], None)
        for s, row in cross_section_at(rows, FeatureSpec()).items():
            live[s][i] = row.values
    for s in SYMBOLS:
        assert mismatch(vectorised[s].values, live[s], names) is None, s
    # Funding has a cross-section only where two symbols have a rate.
    assert not np.isnan(vectorised["BTCUSDT"].column("xs_z_funding_rate")).all()


def test_frames_on_different_bar_times_are_refused_until_aligned() -> None:
    frames = hand_made()
    frames["D"] = FeatureFrame("D", TIMES + 1, ("ret_1",), np.ones((5, 1)))
    with pytest.raises(DataError, match="align"):
        cross_section(frames, SPEC)
    aligned = align(frames)
    assert len(aligned["A"]) == 10 and np.isnan(aligned["A"].column("ret_1")[1::2]).all()
    result = cross_section(aligned, SPEC)  # D alone at its times, missing at the others
    assert np.isnan(result["D"].column("xs_rank_ret_1")).all()
    # Without D, bar 1 ranks A among (5, 5, 1): one below, one tie → (1 + 0.5) / 2.
    rank_a = result["A"].column("xs_rank_ret_1")[0::2]
    np.testing.assert_array_equal(rank_a, [0.0, 0.75, NAN, 0.5, 1.0])


def test_unknown_cross_section_features_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown features"):
        cross_section_names(FeatureSpec(cross_section=("ret_7",)))


def reference_rank(row: list[float]) -> list[float]:
    """Average ranks by sorting, scaled to [0, 1], over the finite values."""
    valid = sorted(v for v in row if math.isfinite(v))
    if len(valid) < 2:
        return [NAN] * len(row)
    out = []
    for v in row:
        if not math.isfinite(v):
            out.append(NAN)
            continue
        first, last = valid.index(v), len(valid) - 1 - valid[::-1].index(v)
        out.append((first + last) / 2 / (len(valid) - 1))
    return out


def test_ranks_match_a_sorting_reference_also_in_large_chunked_universes() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.integers(0, 40, (50, 300)).astype(np.float64)  # many ties
    matrix[rng.random(matrix.shape) < 0.2] = NAN
    matrix[7] = NAN
    matrix[8, 1:] = NAN
    matrix[9, :2] = [math.inf, -math.inf]  # not finite: left out like NaN
    rank, z = rank_and_z(matrix)  # 50 × 300² cells: computed in chunks
    for i in range(len(matrix)):
        np.testing.assert_allclose(rank[i], reference_rank(matrix[i].tolist()), atol=1e-12)
        row_rank, row_z = rank_and_z(matrix[i])
        np.testing.assert_array_equal(rank[i], row_rank)
        np.testing.assert_allclose(z[i], row_z, rtol=1e-12, atol=1e-12)
        finite = matrix[i][np.isfinite(matrix[i])]
        if finite.size >= 2:
            expected = (finite - finite.mean()) / finite.std()
            np.testing.assert_allclose(z[i][np.isfinite(matrix[i])], expected, atol=1e-12)
