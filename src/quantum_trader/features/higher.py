"""Higher timeframes resampled from the base bars, with no look-ahead.

Buckets are those of :mod:`quantum_trader.data.resample`: aligned on UTC interval
boundaries (weeks on Mondays); open = first, high = max, low = min, close = last.

* **Completed.** A higher bar is known at base bar ``i`` once it has ended by that bar's
  close: ``bucket end ≤ open_time[i] + interval``. On gap-free data that is the bucket's
  last base bar; when that bar is missing, the first base bar after the bucket completes
  it. Either way it holds only bars ``0..i``.
* **Partial.** The leading bucket is dropped when the series starts after its open (it
  would summarise part of its span). Interior buckets with missing base bars count as
  complete (minutes without trades), and buckets with no base bar at all do not exist —
  higher-timeframe lags are positions among the higher bars, as on the base clock.

``higher_columns`` builds the completed bars of a whole series at once; a
:class:`HigherBarBuilder` yields the same bars one base bar at a time.
"""

from __future__ import annotations

import math

import numpy as np

import quantum_trader.features.graph as g
from quantum_trader.data.bars import BarSeries, DataError, interval_ms, interval_offset_ms
from quantum_trader.data.resample import resample_flagged
from quantum_trader.features.families import Bars, Features, log_return, range_position, rsi
from quantum_trader.features.families import true_range as true_range_of
from quantum_trader.features.plan import HigherColumns
from quantum_trader.features.spec import HigherTimeframe

NAN = math.nan
HigherBar = tuple[float, float, float, float, float]  # open_time, open, high, low, close


def higher_features(tf: HigherTimeframe) -> Features:
    """Per higher timeframe ``T`` (``C, H, L`` its completed bars, ``c`` the base close):

    * ``htf_T_ret_1 = ln(C / C[1])`` — the last completed higher bar's return;
    * ``htf_T_ema_gap_s = ln(c / EMA_s(C))`` — the live price against the higher trend;
    * ``htf_T_atr_rel_p = Wilder_p(true range of T) / c``;
    * ``htf_T_range_pos_w``: ``c`` within the high/low of the last ``w`` higher bars (it can
      leave [0, 1]: the current price is not inside that past range);
    * ``htf_T_rsi_p`` — Wilder RSI of the higher closes.
    """
    bars = Bars(*(g.source(f, tf.interval) for f in ("open_time", "open", "high", "low", "close")))
    close = g.source("close")
    prefix = f"htf_{tf.interval}"
    low = g.as_of(g.window_min(bars.low, tf.range_window))
    high = g.as_of(g.window_max(bars.high, tf.range_window))
    return [
        (f"{prefix}_ret_1", g.as_of(log_return(bars.close, 1))),
        (f"{prefix}_ema_gap_{tf.ema_span}", g.log(close / g.as_of(g.ema(bars.close, tf.ema_span)))),
        (
            f"{prefix}_atr_rel_{tf.atr_period}",
            g.as_of(g.wilder(true_range_of(bars), tf.atr_period)) / close,
        ),
        (f"{prefix}_range_pos_{tf.range_window}", range_position(close, low, high)),
        (f"{prefix}_rsi_{tf.rsi_period}", g.as_of(rsi(bars.close, tf.rsi_period))),
    ]


def check_higher(interval: str, base_interval: str) -> None:
    """DataError unless ``interval`` is a whole multiple of ``base_interval``."""
    target, source = interval_ms(interval), interval_ms(base_interval)
    if target < source or target % source != 0:
        raise DataError(
            f"higher timeframe {interval} must be a whole multiple of the {base_interval} "
            "bars it is resampled from; choose FeatureSpec.higher_timeframes to match"
        )


def higher_columns(series: BarSeries, interval: str) -> HigherColumns:
    """Every completed ``interval`` bar of ``series`` and, per base bar, the last one."""
    check_higher(interval, series.interval)
    buckets, complete = resample_flagged(series, interval)
    # resample_flagged marks the leading bucket partial exactly when the series starts
    # after its open; an unfinished trailing bucket is never completed by any bar here.
    done = buckets.take(complete)
    end = done.open_time + interval_ms(interval)
    index = np.searchsorted(end, series.open_time + series.interval_ms, side="right") - 1
    columns = {
        "open_time": done.open_time.astype(np.float64),
        "open": done.open,
        "high": done.high,
        "low": done.low,
        "close": done.close,
    }
    return HigherColumns(columns, index.astype(np.int64))


class HigherBarBuilder:
    """Builds one higher timeframe's bars from base bars; O(1) per base bar."""

    __slots__ = ("_bar", "_base_ms", "_bucket", "_end", "_ms", "_offset", "_partial", "_started")

    def __init__(self, interval: str, base_interval: str) -> None:
        check_higher(interval, base_interval)
        self._ms, self._offset = interval_ms(interval), interval_offset_ms(interval)
        self._base_ms = interval_ms(base_interval)
        self._bucket: int | None = None
        self._end = 0
        self._bar: list[float] = []
        self._partial = False
        self._started = False

    def push(self, open_time: int, o: float, h: float, lo: float, c: float) -> list[HigherBar]:
        """The higher bars this base bar completes, oldest first (none, one or two)."""
        done: list[HigherBar] = []
        bucket = (open_time - self._offset) // self._ms
        if self._bucket is not None and bucket != self._bucket:
            self._finish(done)  # its last base bar was missing: this later bar ends it
        if self._bucket is None:
            start = bucket * self._ms + self._offset
            self._partial = not self._started and open_time > start
            self._started = True
            self._bucket, self._end = bucket, start + self._ms
            self._bar = [float(start), o, h, lo, c]
        else:
            bar = self._bar
            bar[2] = h if h > bar[2] else bar[2]
            bar[3] = lo if lo < bar[3] else bar[3]
            bar[4] = c
        if open_time + self._base_ms >= self._end:
            self._finish(done)
        return done

    def _finish(self, done: list[HigherBar]) -> None:
        if not self._partial:
            t, o, h, lo, c = self._bar
            done.append((t, o, h, lo, c))
        self._bucket, self._partial = None, False
