"""Cross-sectional features: each symbol against the universe at the same bar.

For each feature ``f`` of ``FeatureSpec.cross_section``, at each bar, over the symbols
whose ``f`` is finite there (the others are left out, and get NaN):

* ``xs_rank_f`` — the symbol's rank scaled to [0, 1]: (number of symbols below it + half
  the *other* symbols tied with it) / (n − 1); 0 is the lowest, 1 the highest;
* ``xs_z_f`` — ``(f − mean) / std`` with the population standard deviation; 0 when every
  symbol has the same value.

Both are NaN at a bar where fewer than two symbols have a value. The statistic is naturally
per bar: :func:`cross_section` computes it for whole aligned frames and
:func:`cross_section_at` for one bar's rows, with the same function (:func:`rank_and_z`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from quantum_trader.data.bars import DataError, FloatArray, IntArray
from quantum_trader.features.catalog import DEFAULT_SPEC, cross_section_names
from quantum_trader.features.frame import FeatureFrame, FeatureRow
from quantum_trader.features.ops import quiet
from quantum_trader.features.spec import FeatureSpec

NAN = float("nan")


def rank_and_z(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Rank in [0, 1] and z-score of each value along the last axis (the symbols).

    Ranks count by sorting (O(n log n) per bar): NaN sorts last, so the values before a
    value's tie group are exactly the finite values below it."""
    x = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(x)
    xv = np.where(valid, x, NAN)
    count = valid.sum(axis=-1, keepdims=True)
    below, tied = _below_and_tied(xv)
    with quiet():
        rank = (below + 0.5 * tied) / (count - 1)
        mean = np.where(valid, x, 0.0).sum(axis=-1, keepdims=True) / count
        deviation = x - mean
        std = np.sqrt(
            np.where(valid, deviation * deviation, 0.0).sum(axis=-1, keepdims=True) / count
        )
        z = np.where(std > 0.0, deviation / std, 0.0)
    ok = valid & (count >= 2)
    return np.where(ok, rank, NAN), np.where(ok, z, NAN)


def _below_and_tied(xv: FloatArray) -> tuple[IntArray, IntArray]:
    """Per value: how many values are strictly below it, and how many *others* equal it."""
    order = np.argsort(xv, axis=-1, kind="stable")
    ordered = np.take_along_axis(xv, order, axis=-1)
    n = ordered.shape[-1]
    position = np.broadcast_to(np.arange(n), ordered.shape)
    if n == 0:
        empty = np.zeros(ordered.shape, np.int64)
        return empty, empty
    starts = np.ones(ordered.shape, np.bool_)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]  # NaN != NaN: alone
    ends = np.ones(ordered.shape, np.bool_)
    ends[..., :-1] = starts[..., 1:]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=-1)
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, position, n - 1), -1), -1), -1)
    below, tied = np.empty_like(first), np.empty_like(first)
    np.put_along_axis(below, order, first, axis=-1)
    np.put_along_axis(tied, order, last - first, axis=-1)
    return below, tied


def cross_section_matrix(
    values: FloatArray, names: tuple[str, ...], spec: FeatureSpec = DEFAULT_SPEC
) -> FloatArray:
    """One bar's cross-section from its feature matrix (symbols × ``names``)."""
    out = np.full((values.shape[0], len(cross_section_names(spec))), NAN)
    if not spec.cross_section:
        return out
    columns = [names.index(feature) for feature in spec.cross_section]
    # one feature per row, contiguous: each row ranks and sums as a lone column would
    rank, z = rank_and_z(np.ascontiguousarray(values[:, columns].T))
    out[:, 0::2], out[:, 1::2] = rank.T, z.T
    return out


def align(
    frames: Mapping[str, FeatureFrame], open_time: IntArray | None = None
) -> dict[str, FeatureFrame]:
    """Every frame on the same bar times (default: every time any symbol has a bar), with
    NaN rows where a symbol has no bar."""
    if open_time is None:
        times = [f.open_time for f in frames.values()]
        open_time = np.unique(np.concatenate(times)) if times else np.empty(0, np.int64)
    return {symbol: frame.reindex(open_time) for symbol, frame in frames.items()}


def cross_section(
    frames: Mapping[str, FeatureFrame], spec: FeatureSpec = DEFAULT_SPEC
) -> dict[str, FeatureFrame]:
    """Per symbol, its ``xs_rank_*`` / ``xs_z_*`` features over frames on the same bar times."""
    names = cross_section_names(spec)
    symbols = list(frames)
    if not symbols:
        return {}
    open_time = frames[symbols[0]].open_time
    for symbol in symbols[1:]:
        if not np.array_equal(frames[symbol].open_time, open_time):
            raise DataError(
                f"{symbol}'s feature rows are not at {symbols[0]}'s bar times; "
                "put the frames on one time grid with features.align() first"
            )
    out = np.full((len(symbols), len(open_time), len(names)), NAN)
    for k, feature in enumerate(spec.cross_section):
        matrix = np.stack([frames[s].column(feature) for s in symbols], axis=1)
        rank, z = rank_and_z(matrix)
        out[:, :, 2 * k] = rank.T
        out[:, :, 2 * k + 1] = z.T
    return {s: FeatureFrame(s, open_time, names, out[j]) for j, s in enumerate(symbols)}


def cross_section_at(
    rows: Mapping[str, FeatureRow], spec: FeatureSpec = DEFAULT_SPEC
) -> dict[str, FeatureRow]:
    """One bar of :func:`cross_section`: the rows of the symbols that have that bar."""
    names = cross_section_names(spec)
    symbols = list(rows)
    if not symbols:
        return {}
    times = {rows[s].open_time for s in symbols}
    if len(times) != 1:
        raise DataError(f"rows of one bar expected, got bar times {sorted(times)}")
    (open_time,) = times
    row_names = rows[symbols[0]].names
    out = cross_section_matrix(np.stack([rows[s].values for s in symbols]), row_names, spec)
    return {s: FeatureRow(s, open_time, names, out[j]) for j, s in enumerate(symbols)}
