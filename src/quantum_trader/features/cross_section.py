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
_CHUNK_CELLS = 1 << 22  # bars × symbols² compared at once


def rank_and_z(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Rank in [0, 1] and z-score of each value along the last axis (the symbols)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 2 and x.shape[0] * x.shape[1] ** 2 > _CHUNK_CELLS:
        step = max(1, _CHUNK_CELLS // max(1, x.shape[1] ** 2))
        parts = [rank_and_z(x[i : i + step]) for i in range(0, x.shape[0], step)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    valid = np.isfinite(x)
    xv = np.where(valid, x, NAN)  # NaN compares false with everything: it counts nowhere
    count = valid.sum(axis=-1, keepdims=True)
    below = (xv[..., None, :] < xv[..., :, None]).sum(axis=-1)
    tied = (xv[..., None, :] == xv[..., :, None]).sum(axis=-1) - 1  # others only
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
    out = np.full((len(symbols), len(names)), NAN)
    for k, feature in enumerate(spec.cross_section):
        rank, z = rank_and_z(np.array([rows[s][feature] for s in symbols]))
        out[:, 2 * k], out[:, 2 * k + 1] = rank, z
    return {s: FeatureRow(s, open_time, names, out[j]) for j, s in enumerate(symbols)}
