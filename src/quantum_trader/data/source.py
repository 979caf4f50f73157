"""``MarketDataSource``: bars of several symbols in time order, to drive a simulator.

Bars are ordered by close time, then shorter bars first, then the order the series were given:
a bar is only known once it has closed, so with mixed intervals a 1 h bar comes after
the 1 m bars inside it. For series of one interval this is plain open-time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from quantum_trader.data.bars import BarSeries, DataError
from quantum_trader.data.binance import load_all
from quantum_trader.data.symbols import SymbolsArg
from quantum_trader.data.synthetic import MarketConfig, generate_market
from quantum_trader.domain.klines import Kline


@dataclass(frozen=True, slots=True)
class BarEvent:
    """One closed bar of one symbol, as floats (the hot path); ``index`` is its position."""

    symbol: str
    interval: str
    index: int
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class MarketDataSource:
    """Merges several bar series into one time-ordered stream."""

    def __init__(
        self,
        series: Iterable[BarSeries],
        tick_sizes: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.series: list[BarSeries] = list(series)
        if not self.series:
            raise DataError("MarketDataSource needs at least one bar series")
        keys = [(s.symbol, s.interval) for s in self.series]
        if len(set(keys)) != len(keys):
            raise DataError(f"each symbol/interval may be given once, got {keys}")
        self.tick_sizes = dict(tick_sizes or {})
        which = np.concatenate([np.full(len(s), k, np.int64) for k, s in enumerate(self.series)])
        index = np.concatenate([np.arange(len(s), dtype=np.int64) for s in self.series])
        open_time = np.concatenate([s.open_time for s in self.series])
        close_time = np.concatenate([s.close_time for s in self.series])
        order = np.lexsort((which, -open_time, close_time))
        self._which = which[order]
        self._index = index[order]

    @classmethod
    def synthetic(
        cls, symbols: SymbolsArg, n_bars: int, config: MarketConfig | None = None
    ) -> MarketDataSource:
        """A source over a freshly generated 1 m market, with each symbol's tick."""
        market = generate_market(symbols, n_bars, config)
        ticks = {name: spec.tick_size for name, spec in market.specs.items()}
        return cls(market.bars.values(), ticks)

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[str | Path],
        *,
        repair: bool = False,
        allow_gaps: bool = False,
        tick_sizes: Mapping[str, Decimal] | None = None,
    ) -> MarketDataSource:
        """A source over every series found in files or directories of kline dumps."""
        loaded = [
            r.series for p in paths for r in load_all(p, repair=repair, allow_gaps=allow_gaps)
        ]
        return cls(loaded, tick_sizes)

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[BarEvent]:
        series = self.series
        # Plain Python lists: indexing numpy scalars one by one is several times slower.
        cols = [
            (
                s.open_time.tolist(),
                s.open.tolist(),
                s.high.tolist(),
                s.low.tolist(),
                s.close.tolist(),
                s.volume.tolist(),
                s.interval_ms,
            )
            for s in series
        ]
        for k, i in zip(self._which.tolist(), self._index.tolist(), strict=True):
            t, o, h, lo, c, v, step = cols[k]
            yield BarEvent(
                series[k].symbol,
                series[k].interval,
                i,
                t[i],
                t[i] + step - 1,
                o[i],
                h[i],
                lo[i],
                c[i],
                v[i],
            )

    def klines(self) -> Iterator[Kline]:
        """The same stream as Decimal ``Kline``s on each symbol's tick (when known)."""
        for k, i in zip(self._which.tolist(), self._index.tolist(), strict=True):
            s = self.series[k]
            yield s.bar_at(i, self.tick_sizes.get(s.symbol))
