"""The training table: every symbol's features at every bar, with its barrier labels.

One row per (symbol, bar) whose labels are known: the features of that bar (its own
columns, then its ``xs_*`` cross-section against the universe at the same bar) and, for a
hypothetical entry at the next open, the triple-barrier outcome of a LONG and of a SHORT
(:mod:`quantum_trader.model.labels`) with the ATR the sizing layer stops at. The ATR is
the features' own Wilder ATR (``atr_rel_<p>`` × close), the same average the strategies'
stops use. ``label_end`` is when a row's labels become known — the close of the last bar
of its horizon — which is what the walk-forward purge needs.

:func:`feature_frames` is also how a model is *served* in a backtest: the scorer sees the
very columns it was trained on, computed by the same function.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quantum_trader.data.bars import BarSeries, DataError, FloatArray, IntArray
from quantum_trader.data.funding import FundingSeries
from quantum_trader.features import (
    DEFAULT_SPEC,
    FeatureFrame,
    FeatureSpec,
    align,
    compute,
    cross_section,
    feature_version,
    spec_for,
)
from quantum_trader.model.labels import BarrierConfig, Side, triple_barrier


def atr_column(spec: FeatureSpec = DEFAULT_SPEC) -> str:
    return f"atr_rel_{spec.atr_period}"


def model_spec(interval: str) -> FeatureSpec:
    """The features a model of ``interval`` bars is trained on and served with."""
    return spec_for(interval)


def model_feature_version(interval: str) -> str:
    return feature_version(model_spec(interval))


def feature_frames(
    series: Sequence[BarSeries],
    funding: Mapping[str, FundingSeries] | None = None,
    spec: FeatureSpec | None = None,
    with_cross_section: bool = True,
) -> dict[str, FeatureFrame]:
    """Per symbol, its features at its own bars, then its cross-section columns (``spec``
    None: :func:`model_spec` of the series' interval)."""
    if not series:
        raise DataError("no bars to compute features from")
    if len({s.interval for s in series}) != 1:
        raise DataError(
            f"all series must share one interval, got {sorted({s.interval for s in series})}"
        )
    funding = funding or {}
    spec = spec or model_spec(series[0].interval)
    memo = _REUSED.get()
    key = _memo_key(series, funding, spec, with_cross_section) if memo is not None else ()
    if memo is not None and key in memo:
        return memo[key]
    frames = {s.symbol: compute(s, funding.get(s.symbol), spec) for s in series}
    if with_cross_section:
        on_grid = cross_section(align(frames), spec)
        frames = {
            symbol: frame.join(on_grid[symbol].reindex(frame.open_time))
            for symbol, frame in frames.items()
        }
    if memo is not None:
        memo[key] = frames
    return frames


_REUSED: ContextVar[dict[tuple[object, ...], dict[str, FeatureFrame]] | None] = ContextVar(
    "reused_feature_frames", default=None
)


@contextmanager
def frames_reused() -> Iterator[None]:
    """Within this block, :func:`feature_frames` of the same bar series (the same
    objects), funding values and spec is computed once: a training run's dataset and its
    in-sample backtest see one computation. The frames are dropped when it ends."""
    token = _REUSED.set({})
    try:
        yield
    finally:
        _REUSED.reset(token)


def _memo_key(
    series: Sequence[BarSeries],
    funding: Mapping[str, FundingSeries],
    spec: FeatureSpec,
    with_cross_section: bool,
) -> tuple[object, ...]:
    symbols = {s.symbol for s in series}
    rates = tuple(
        (symbol, f.funding_time.tobytes(), f.rate.tobytes())
        for symbol, f in sorted(funding.items())
        if symbol in symbols
    )
    bars = tuple(sorted((s.symbol, id(s)) for s in series))
    return bars, rates, feature_version(spec), with_cross_section


def fingerprint(series: Sequence[BarSeries]) -> str:
    """A hash of the bars (symbols, times, prices, volumes): what a model was trained on."""
    digest = hashlib.sha256()
    for s in sorted(series, key=lambda s: s.symbol):
        digest.update(f"{s.symbol}|{s.interval}|{len(s)}|".encode())
        for column in (s.open_time, s.open, s.high, s.low, s.close, s.volume):
            digest.update(np.ascontiguousarray(column).tobytes())
    return "bars-" + digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    """Rows of every symbol, in (time, symbol) order; see the module docstring."""

    interval: str
    symbols: tuple[str, ...]
    names: tuple[str, ...]
    features: FloatArray  # rows × names
    time: IntArray  # the row's bar open time (known at that bar's close)
    symbol: npt.NDArray[np.int32]  # index into ``symbols``
    label_end: IntArray  # close time of the last bar of the row's horizon
    long_won: npt.NDArray[np.int8]  # 1: a LONG reached its take-profit first
    short_won: npt.NDArray[np.int8]  # 1: a SHORT reached its take-profit first
    forward_return: FloatArray  # close at the horizon / entry − 1 (long-signed)
    long_return: FloatArray  # a LONG's return at its first barrier
    short_return: FloatArray  # a SHORT's return at its first barrier
    atr_rel: FloatArray  # the ATR / close the barriers were set from
    barrier: BarrierConfig
    data_fingerprint: str
    from_ms: int
    to_ms: int

    def __len__(self) -> int:
        return len(self.time)

    def take(self, rows: npt.NDArray[np.int64]) -> Dataset:
        """The dataset restricted to ``rows`` (indices, in order)."""
        return Dataset(
            self.interval, self.symbols, self.names, self.features[rows], self.time[rows],
            self.symbol[rows], self.label_end[rows], self.long_won[rows], self.short_won[rows],
            self.forward_return[rows], self.long_return[rows], self.short_return[rows],
            self.atr_rel[rows], self.barrier, self.data_fingerprint, self.from_ms, self.to_ms,
        )  # fmt: skip


def build_dataset(
    series: Sequence[BarSeries],
    barrier: BarrierConfig,
    funding: Mapping[str, FundingSeries] | None = None,
    spec: FeatureSpec | None = None,
) -> Dataset:
    """The training table of ``series`` (one per symbol, one interval)."""
    series = sorted((s for s in series if len(s)), key=lambda s: s.symbol)
    if not series:
        raise DataError("no bars to build a dataset from")
    spec = spec or model_spec(series[0].interval)
    frames = feature_frames(series, funding, spec)
    columns: dict[str, list[npt.NDArray[np.generic]]] = {}
    atr_name = atr_column(spec)
    for k, s in enumerate(series):
        frame = frames[s.symbol]
        atr_rel = frame.column(atr_name)
        atr = atr_rel * s.close
        long = triple_barrier(s.open, s.high, s.low, s.close, atr, barrier, Side.LONG)
        short = triple_barrier(s.open, s.high, s.low, s.close, atr, barrier, Side.SHORT)
        rows = np.flatnonzero(long.valid & short.valid)
        horizon_close = s.open_time[np.minimum(rows + barrier.horizon_bars, len(s) - 1)]
        pieces: dict[str, npt.NDArray[np.generic]] = {
            "features": frame.values[rows],
            "time": s.open_time[rows],
            "symbol": np.full(len(rows), k, np.int32),
            "label_end": horizon_close + s.interval_ms,
            "long_won": (long.label[rows] > 0).astype(np.int8),
            "short_won": (short.label[rows] > 0).astype(np.int8),
            "forward_return": long.forward_return[rows],
            "long_return": long.barrier_return[rows],
            "short_return": short.barrier_return[rows],
            "atr_rel": atr_rel[rows],
        }
        for name, values in pieces.items():
            columns.setdefault(name, []).append(values)
    joined = {name: np.concatenate(values) for name, values in columns.items()}
    order = np.lexsort((joined["symbol"], joined["time"]))
    if not len(order):
        raise DataError(
            f"no labelled rows: every series needs more than {barrier.horizon_bars} bars "
            f"after its {spec.atr_period}-bar ATR warm-up"
        )
    names = next(iter(frames.values())).names
    return Dataset(
        series[0].interval,
        tuple(s.symbol for s in series),
        names,
        np.ascontiguousarray(joined["features"][order]),
        joined["time"][order],
        joined["symbol"][order],
        joined["label_end"][order],
        joined["long_won"][order],
        joined["short_won"][order],
        joined["forward_return"][order],
        joined["long_return"][order],
        joined["short_return"][order],
        joined["atr_rel"][order],
        barrier,
        fingerprint(series),
        int(min(int(s.open_time[0]) for s in series)),
        int(max(int(s.open_time[-1]) + s.interval_ms for s in series)),
    )
