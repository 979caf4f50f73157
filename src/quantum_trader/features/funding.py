"""Funding rates aligned to bars: the last rate settled at or before each bar's close.

A bar's close is Binance's ``close_time`` (open time + interval − 1 ms). A settlement
stamped inside the bar (Binance's ``fundingTime`` carries a few ms of offset past the
hour, e.g. ``…00017``) is known at that bar's close; one stamped after it is not. Before
the first settlement, and when no rates are given, the rate is NaN — unknown, not zero.
"""

from __future__ import annotations

import math

import numpy as np

from quantum_trader.data.bars import FloatArray, IntArray
from quantum_trader.data.funding import FundingSeries

NAN = math.nan


def funding_at(close_time: IntArray, funding: FundingSeries | None) -> FloatArray:
    """The rate known at each close time (NaN before the first settlement or without rates)."""
    out = np.full(len(close_time), NAN)
    if funding is None or len(funding) == 0:
        return out
    index = np.searchsorted(funding.funding_time, close_time, side="right") - 1
    known = index >= 0
    out[known] = funding.rate[index[known]]
    return out


class FundingCursor:
    """Walks a funding series forward in time: ``rate_at`` is O(1) amortised per bar.

    For replaying recorded rates bar by bar; a live engine passes the last settled rate it
    has seen instead. Close times must not go backwards.
    """

    __slots__ = ("_next", "_rate", "_rates", "_times")

    def __init__(self, funding: FundingSeries | None) -> None:
        self._times = [] if funding is None else funding.funding_time.tolist()
        self._rates = [] if funding is None else funding.rate.tolist()
        self._next, self._rate = 0, NAN

    def rate_at(self, close_time: int) -> float:
        times, position = self._times, self._next
        while position < len(times) and times[position] <= close_time:
            self._rate = self._rates[position]
            position += 1
        self._next = position
        return self._rate
