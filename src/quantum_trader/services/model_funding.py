"""The funding rates the signal model's features take, as the exchange settles them.

A bar's funding feature is the last rate settled at or before the bar's close — what
training and the backtest compute from the exchange's settlements. :class:`SettledFunding`
holds the rates fetched from the exchange (``Exchange.funding_rates``) and hands each bar
its rate, and says when to fetch: for the warm-up, then when a bar closes in an hour not
asked for yet (funding settles on the hour; a symbol's period is 1, 2, 4 or 8 hours),
asking again with the next bars while that hour brought no settlement (one the exchange
published late), at most ``RETRIES`` times. One request covers every symbol; a request
starts an hour before the newest rate taken, so a symbol's settlement published after
another's is still found (rates already taken are skipped). A fetch that fails changes
nothing: the last known rates stay and the next bar asks again.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence

from quantum_trader.exchange.interface import FundingRate

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS  # no symbol's funding period is longer: the oldest rate worth asking
RETRIES = 5  # asks for an hour that brings no settlement, before it is taken as none


class SettledFunding:
    """The settled rates of a universe, handed to its bars in time order."""

    def __init__(self, symbols: Iterable[str], interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self._settled: dict[str, deque[tuple[int, float]]] = {s: deque() for s in symbols}
        self._rate: dict[str, float] = {}  # each symbol's rate known at its last bar
        self._seen: dict[str, int] = {}  # each symbol's newest settlement time taken
        self.newest = -1  # the newest settlement time taken, of any symbol
        self._hour = -1  # the last hour whose settlements were asked for and answered
        self._asks = 0  # asks for the hour after it that brought nothing new
        self.taken = 0

    def take(self, rates: Sequence[FundingRate], hour: int | None = None) -> None:
        """Rates from the exchange, in any order (other symbols' and rates already taken
        are skipped); ``hour``: the hour they were asked for (None: the warm-up's)."""
        fresh = sorted(
            (r.funding_time, r.symbol, float(r.rate))
            for r in rates
            if r.symbol in self._settled and r.funding_time > self._seen.get(r.symbol, -1)
        )
        for t, symbol, rate in fresh:
            self._settled[symbol].append((t, rate))
            self._seen[symbol] = t
        self.taken += len(fresh)
        if fresh:
            self.newest = max(self.newest, fresh[-1][0])
        if hour is not None:
            answered = self.newest >= hour or self._asks + 1 >= RETRIES
            self._hour = hour if answered else self._hour
            self._asks = 0 if answered else self._asks + 1

    def due(self, close_time: int) -> tuple[int, int] | None:
        """(start, hour) of the rates to fetch before a bar closing at ``close_time`` takes
        its rate, or None: its hour was asked for already."""
        hour = close_time // HOUR_MS * HOUR_MS
        if hour <= self._hour:
            return None
        return max(self.newest - HOUR_MS, hour - DAY_MS), hour

    def at(self, open_time: int, symbols: Iterable[str]) -> dict[str, float]:
        """Each symbol's rate known at the close of its bar at ``open_time`` (NaN: none
        known yet); a symbol's bars come oldest first."""
        close = open_time + self.interval_ms - 1
        out = {}
        for s in symbols:
            settled = self._settled[s]
            while settled and settled[0][0] <= close:
                self._rate[s] = settled.popleft()[1]
            out[s] = self._rate.get(s, math.nan)
        return out
