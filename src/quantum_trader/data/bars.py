"""Columnar candles: ``BarSeries`` holds one symbol's bars as numpy arrays.

Backtests and the simulator's hot path read floats from contiguous arrays; anything that
leaves for an exchange is converted on demand to exact ``Decimal`` values on the
instrument's tick (DESIGN.md §2.8), never sent as a float.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import round_nearest, to_decimal

MINUTE_MS = 60_000
DAY_MS = 86_400_000
# 1970-01-01 was a Thursday; Binance weekly candles open on Monday 00:00 UTC.
WEEK_OFFSET_MS = 4 * DAY_MS

_UNIT_MS = {"s": 1_000, "m": MINUTE_MS, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_INTERVAL_RE = re.compile(r"^(\d+)([smhdw])$")
# USDⓈ-M kline intervals (1M, the calendar month, has no fixed length and is not read).
BINANCE_INTERVALS = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
)  # fmt: skip

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class DataError(ValueError):
    """Market data that cannot be used as it is; the message says where and how to fix it."""


def interval_ms(interval: str) -> int:
    """Length of a Binance kline interval ('1m', '5m', '4h', '1d', '1w', …) in milliseconds."""
    match = _INTERVAL_RE.match(interval)
    if match is None or int(match.group(1)) <= 0:
        raise DataError(
            f"unknown interval {interval!r}: use a Binance interval such as 1m, 5m, 15m, 1h, 4h, 1d"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def binance_interval(interval: str) -> str:
    """``interval`` if Binance publishes futures klines at it, else ``DataError``.

    ``interval_ms`` reads any ``<n><unit>``; options that name a bar interval take only
    these, so ``7m`` is refused instead of producing bars no exchange ever shows.
    """
    if interval not in BINANCE_INTERVALS:
        known = ", ".join(BINANCE_INTERVALS)
        raise DataError(f"{interval!r} is not a Binance kline interval; use one of {known}")
    return interval


def interval_offset_ms(interval: str) -> int:
    """Alignment offset from the epoch: weekly candles start on Mondays, others at 0."""
    return WEEK_OFFSET_MS if interval.endswith("w") else 0


def decimals_of(step: Decimal) -> int:
    """Number of decimal places of a tick or step (0.0001 -> 4, 1 -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _as_decimal(value: float, tick: Decimal | None) -> Decimal:
    # float() first: repr of a numpy scalar is "np.float64(…)", not a number.
    exact = to_decimal(float(value))
    return exact if tick is None else round_nearest(exact, tick)


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    """One symbol's candles at one interval, oldest first, as parallel numpy arrays."""

    symbol: str
    interval: str
    open_time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        interval_ms(self.interval)
        n = len(self.open_time)
        columns: dict[str, Any] = {
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }
        object.__setattr__(self, "open_time", np.ascontiguousarray(self.open_time, np.int64))
        for name, values in columns.items():
            array = np.ascontiguousarray(values, np.float64)
            if array.shape != (n,):
                raise DataError(
                    f"{self.symbol} {self.interval}: column {name} has shape {array.shape}, "
                    f"expected ({n},) like open_time"
                )
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return len(self.open_time)

    @property
    def interval_ms(self) -> int:
        return interval_ms(self.interval)

    @property
    def close_time(self) -> IntArray:
        """Binance close time: open time + interval − 1 ms."""
        return self.open_time + (self.interval_ms - 1)

    def bar_at(
        self, i: int, tick_size: Decimal | None = None, step_size: Decimal | None = None
    ) -> Kline:
        """Bar ``i`` as a ``Kline`` with prices on ``tick_size`` and volume on ``step_size``.

        Without a tick the shortest decimal form of each float is used (exact for data that
        was read from decimal text).
        """
        if not -len(self) <= i < len(self):
            raise IndexError(f"bar {i} out of range for {len(self)} bars")
        t = int(self.open_time[i])
        return Kline(
            symbol=self.symbol,
            interval=self.interval,
            open_time=t,
            open=_as_decimal(self.open[i], tick_size),
            high=_as_decimal(self.high[i], tick_size),
            low=_as_decimal(self.low[i], tick_size),
            close=_as_decimal(self.close[i], tick_size),
            volume=_as_decimal(self.volume[i], step_size),
            close_time=t + self.interval_ms - 1,
        )

    def to_klines(
        self, tick_size: Decimal | None = None, step_size: Decimal | None = None
    ) -> list[Kline]:
        """Every bar as a Decimal ``Kline`` (slow path: for exchanges and reports, not loops)."""
        return [self.bar_at(i, tick_size, step_size) for i in range(len(self))]

    def slice(self, start: int, stop: int | None = None) -> BarSeries:
        """Bars ``start:stop`` by position (arrays are views, not copies)."""
        s = slice(start, stop)
        return BarSeries(
            self.symbol,
            self.interval,
            self.open_time[s],
            self.open[s],
            self.high[s],
            self.low[s],
            self.close[s],
            self.volume[s],
        )

    def between(self, start_ms: int, end_ms: int) -> BarSeries:
        """Bars whose open time is in ``[start_ms, end_ms)``; the series must be sorted."""
        lo = int(np.searchsorted(self.open_time, start_ms, side="left"))
        hi = int(np.searchsorted(self.open_time, end_ms, side="left"))
        return self.slice(lo, hi)

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> BarSeries:
        """Bars selected by an index array or a boolean mask (copies)."""
        return BarSeries(
            self.symbol,
            self.interval,
            self.open_time[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
        )

    def equals(self, other: BarSeries) -> bool:
        """Bit-identical: same names and the same bytes in every column."""
        return (
            self.symbol == other.symbol
            and self.interval == other.interval
            and all(
                np.array_equal(a, b) for a, b in zip(self.columns(), other.columns(), strict=True)
            )
        )

    def columns(
        self,
    ) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """(open_time, open, high, low, close, volume)."""
        return (self.open_time, self.open, self.high, self.low, self.close, self.volume)

    @staticmethod
    def concat(parts: Sequence[BarSeries]) -> BarSeries:
        """Join series of the same symbol and interval end to end (no sorting, no checks)."""
        if not parts:
            raise DataError("nothing to concatenate: no bar series given")
        first = parts[0]
        for part in parts[1:]:
            if (part.symbol, part.interval) != (first.symbol, first.interval):
                raise DataError(
                    f"cannot join {part.symbol} {part.interval} to {first.symbol} "
                    f"{first.interval}: load each symbol and interval separately"
                )
        cols = [np.concatenate(c) for c in zip(*(p.columns() for p in parts), strict=True)]
        return BarSeries(first.symbol, first.interval, *cols)

    @staticmethod
    def empty(symbol: str, interval: str) -> BarSeries:
        f = np.empty(0, np.float64)
        return BarSeries(symbol, interval, np.empty(0, np.int64), f, f, f, f, f)
