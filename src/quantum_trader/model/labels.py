"""Triple-barrier labels from the system's own exits.

For the signal of bar ``i`` the system would enter at the next open, ``E = open[i+1]``,
with the ATR stop the sizing layer places (``stop_atr`` × the ATR known at bar ``i``'s
close) and, here, a take-profit ``take_profit_atr`` × ATR on the other side. The label
says which barrier the price reaches first within ``horizon_bars`` bars (the entry bar
included): ``+1`` the take-profit, ``-1`` the stop, ``0`` neither (the time barrier: out
at the close of the last bar). The forward return (``close[i+H] / E − 1``, signed by the
side) is kept for regression metrics.

Within a bar the price walks as the simulated exchange walks it (``BarModel.PATH``):
open → the extreme nearer the open (ties: the high) → the farther one → close; a bar
that opens beyond a barrier exits at that open. So a label is the outcome the backtest
would give the same entry with fixed exits — and, like it, counts bars by position:
a gap in the data is not a bar.

Rows whose horizon runs past the data, or whose ATR is not known yet, are not valid
(``valid`` False, label 0, returns NaN). Everything is float64 arrays: labels are
research data, not orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.float64]
CHUNK = 65_536  # rows per vectorised block: N × horizon booleans stay small


class Side(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"


@dataclass(frozen=True, slots=True)
class BarrierConfig:
    take_profit_atr: float = 3.0
    stop_atr: float = 2.0  # the rule strategies' default stop distance
    horizon_bars: int = 60

    def __post_init__(self) -> None:
        for name in ("take_profit_atr", "stop_atr"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if self.horizon_bars < 1:
            raise ValueError(f"horizon_bars must be >= 1, got {self.horizon_bars}")


@dataclass(frozen=True, slots=True)
class BarrierLabels:
    label: npt.NDArray[np.int8]  # +1 take-profit first, -1 stop first, 0 time barrier
    valid: npt.NDArray[np.bool_]
    exit_offset: npt.NDArray[np.int64]  # bars after the entry bar (0 = the entry bar)
    exit_price: FloatArray
    barrier_return: FloatArray  # the trade's return to its exit, signed by the side
    forward_return: FloatArray  # close[i + H] / entry − 1, signed by the side


def triple_barrier(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    atr: FloatArray,
    config: BarrierConfig,
    side: Side = Side.LONG,
) -> BarrierLabels:
    """Labels for every bar's signal (see the module docstring), vectorised."""
    n, h = len(close), config.horizon_bars
    label = np.zeros(n, dtype=np.int8)
    valid = np.zeros(n, dtype=np.bool_)
    offset = np.zeros(n, dtype=np.int64)
    exit_price = np.full(n, np.nan)
    barrier_return = np.full(n, np.nan)
    forward = np.full(n, np.nan)
    rows = n - h  # signal bars whose entry and whole horizon are in the data
    if rows <= 0:
        return BarrierLabels(label, valid, offset, exit_price, barrier_return, forward)
    windows = [sliding_window_view(a[1:], h) for a in (open_, high, low, close)]
    for start in range(0, rows, CHUNK):
        stop = min(rows, start + CHUNK)
        _label_block(windows, atr[start:stop], config, side, start, stop, label, valid,
                     offset, exit_price, barrier_return, forward)  # fmt: skip
    return BarrierLabels(label, valid, offset, exit_price, barrier_return, forward)


def _label_block(
    windows: list[npt.NDArray[np.float64]],
    atr: FloatArray,
    config: BarrierConfig,
    side: Side,
    start: int,
    stop: int,
    label: npt.NDArray[np.int8],
    valid: npt.NDArray[np.bool_],
    offset: npt.NDArray[np.int64],
    exit_price: FloatArray,
    barrier_return: FloatArray,
    forward: FloatArray,
) -> None:
    o, hi, lo, cl = (w[start:stop] for w in windows)
    entry = o[:, 0]
    ok = np.isfinite(atr) & (atr > 0) & np.isfinite(entry)
    sign = 1.0 if side is Side.LONG else -1.0
    reward, risk = config.take_profit_atr * atr, config.stop_atr * atr
    up = (entry + np.where(sign > 0, reward, risk))[:, None]
    down = (entry - np.where(sign > 0, risk, reward))[:, None]
    gap_up, gap_down = o >= up, o <= down
    high_first = (hi - o) <= (o - lo)
    hit_up, hit_down = hi >= up, lo <= down
    up_first = gap_up | (~gap_down & hit_up & (high_first | ~hit_down))
    down_first = gap_down | (~gap_up & hit_down & (~high_first | ~hit_up))
    event = up_first | down_first
    any_event = event.any(axis=1)
    first = np.where(any_event, event.argmax(axis=1), cl.shape[1] - 1)
    row = np.arange(len(first))
    went_up = up_first[row, first] & any_event
    went_down = down_first[row, first] & any_event
    opened = o[row, first]
    price = np.where(
        went_up,
        np.where(gap_up[row, first], opened, up[:, 0]),
        np.where(went_down, np.where(gap_down[row, first], opened, down[:, 0]), cl[row, first]),
    )
    take_profit = went_up if sign > 0 else went_down
    stopped = went_down if sign > 0 else went_up
    out = slice(start, stop)
    valid[out] = ok
    label[out] = np.where(ok, take_profit.astype(np.int8) - stopped.astype(np.int8), 0)
    offset[out] = np.where(ok, first, 0)
    exit_price[out] = np.where(ok, price, np.nan)
    barrier_return[out] = np.where(ok, sign * (price / entry - 1.0), np.nan)
    forward[out] = np.where(ok, sign * (cl[:, -1] / entry - 1.0), np.nan)
