"""What the simulated exchange answers about its market, read from its state: the mark
price and the funding to come, the settled funding rates, recorded klines, the price at
a past moment. Queries only: nothing here changes the state (``core.MatchingCore``
checks the symbol before it asks)."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.domain.klines import Kline
from quantum_trader.exchange.interface import FundingRate, MarkPrice
from quantum_trader.exchange.sim.state import SimState


def mark_price(state: SimState, symbol: str) -> MarkPrice:
    book = state.books[symbol]
    return MarkPrice(
        symbol=symbol,
        mark_price=book.mark,
        index_price=book.mark,
        funding_rate=state.funding.rate(symbol, state.next_funding_ms),
        next_funding_time=state.next_funding_ms,
        ts=state.now_ms,
    )


def funding_rates(
    state: SimState, start_ms: int, end_ms: int | None = None, symbol: str | None = None
) -> list[FundingRate]:
    """The settled rates from ``start_ms`` to ``end_ms`` (None: now), oldest first: the
    schedule's, at each funding time since the symbol's first bar or price (its market
    begins there) that the clock has reached."""
    end = state.now_ms if end_ms is None else min(end_ms, state.now_ms)
    symbols = [symbol] if symbol is not None else sorted(state.market_start)
    rows = [
        FundingRate(s, t, rate)
        for s in symbols
        if s in state.market_start
        for t, rate in state.funding.settlements(s, max(start_ms, state.market_start[s]), end)
    ]
    return sorted(rows, key=lambda r: (r.funding_time, r.symbol))


def mark_at(state: SimState, symbol: str, ms: int) -> Decimal | None:
    """The price at ``ms`` from the recorded klines (the open of the bar holding it),
    None when no recorded bar holds it. Newest bars first: what is asked for is a
    recent funding time."""
    for (name, _), bars in state.klines.items():
        if name != symbol:
            continue
        for k in reversed(bars):
            if k.open_time <= ms:
                if ms <= k.close_time:
                    return k.open
                break
    return None


def klines(
    state: SimState,
    symbol: str,
    interval: str,
    limit: int = 500,
    end_time: int | None = None,
    mark: bool = False,
) -> list[Kline]:
    bars = (state.mark_klines if mark else state.klines).get((symbol, interval), ())
    selected = [k for k in bars if end_time is None or k.open_time <= end_time]
    return selected[-limit:] if limit > 0 else []


def kline_intervals(state: SimState, symbol: str, mark: bool = False) -> list[str]:
    """The intervals ``symbol``'s bars were recorded at (what ``klines`` holds)."""
    recorded = state.mark_klines if mark else state.klines
    return [interval for (name, interval) in recorded if name == symbol]
