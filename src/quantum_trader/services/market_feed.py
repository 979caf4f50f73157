"""The market feed for paper mode: drives the simulated exchange and publishes closed bars.

Timing, shared with the backtester so both produce the same trades: bar ``t`` is known
once it has closed, i.e. at the open of bar ``t+1``. So for each step the feed first
moves the exchange's price to ``open[t+1]`` (stops may trigger on a gap), takes the
sizing basis (the account the entries bar ``t`` decides are sized from), then publishes
bar ``t`` on ``quantum:stream:market`` — any order it causes fills at ``open[t+1]`` —
and finally lets the exchange run the rest of bar ``t+1`` (its high / low / close
path), which triggers stops intrabar.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.schemas import MarketBar, derive_id
from quantum_trader.data.bars import BarSeries
from quantum_trader.domain.klines import Kline


class MarketDriver(Protocol):
    """What moves a simulated market: in-process, or the HTTP front's admin endpoints."""

    async def set_price(self, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
        """Move the last price (and the mark to ``mark``, else with it)."""

    async def bar(self, kline: Kline, mark: Kline | None = None) -> None:
        """Walk one bar of the last price (and of the mark, ``mark``, when it has its own)."""


@dataclass
class MarketFeed:
    driver: MarketDriver
    bus: Bus
    series: Mapping[str, BarSeries]
    ticks: Mapping[str, Decimal]
    steps: int = 0
    marks: Mapping[str, BarSeries] = field(default_factory=dict)  # the mark's own bars
    # takes the sizing basis of a bar before it is published (None: no basis)
    basis: Callable[[int], Awaitable[object]] | None = None

    @property
    def length(self) -> int:
        return min(len(s) for s in self.series.values())

    def kline(self, symbol: str, i: int) -> Kline:
        return self.series[symbol].bar_at(i, tick_size=self.ticks[symbol])

    def mark(self, symbol: str, i: int) -> Kline | None:
        marks = self.marks.get(symbol)
        return None if marks is None else marks.bar_at(i)  # as written: finer than the tick

    async def step(self, i: int, settle: Callable[[], Awaitable[None]] | None = None) -> int:
        """Advance to bar ``i``: publish bar ``i-1`` at bar ``i``'s open, let the system act
        on it (``settle``: orders fill at that open), then run the rest of bar ``i``.

        Returns the time (ms) at which the published bars became known.
        """
        symbols: Sequence[str] = sorted(self.series)
        current = {s: self.kline(s, i) for s in symbols}
        marks = {s: self.mark(s, i) for s in symbols}
        for symbol in symbols:
            mark = marks[symbol]
            await self.driver.set_price(
                symbol, current[symbol].open, None if mark is None else mark.open
            )
        known_at = current[symbols[0]].open_time
        if i > 0 and self.basis is not None:
            await self.basis(self.kline(symbols[0], i - 1).open_time)
        if i > 0:
            bars = [bar_message(self.kline(s, i - 1), known_at) for s in symbols]
            await self.bus.publish_many(self.bus.keys.market, bars)
            if settle is not None:
                await settle()
        for symbol in symbols:
            await self.driver.bar(current[symbol], marks[symbol])
        self.steps += 1
        return known_at


def bar_message(k: Kline, known_at: int) -> MarketBar:
    """A closed kline as the market stream carries it (``known_at``: when it was seen)."""
    return MarketBar(
        msg_id=derive_id("bar", k.symbol, k.interval, k.open_time),
        ts_event=k.close_time,
        ts_init=known_at,
        source="market-feed",
        symbol=k.symbol,
        interval=k.interval,
        open_time=k.open_time,
        close_time=k.close_time,
        open=k.open,
        high=k.high,
        low=k.low,
        close=k.close,
        volume=k.volume,
    )
