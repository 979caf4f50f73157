"""Moving the market: time (and the funding it settles), mark updates and bars.

A bar is walked as open → nearer extreme → farther extreme → close, the extreme nearer
the open first (ties: high first), the usual deterministic intrabar assumption. Bars
whose range reaches no resting order's level take a fast path of two comparisons plus a
float solvency pre-check — the common case in a backtest.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import ZERO
from quantum_trader.exchange.sim.book import SymbolBook
from quantum_trader.exchange.sim.execution import REASON_FUNDING, emit_account
from quantum_trader.exchange.sim.funding import funding_payment
from quantum_trader.exchange.sim.history import FundingPayment
from quantum_trader.exchange.sim.liquidation import check_liquidation, clearly_solvent
from quantum_trader.exchange.sim.matching import set_prices, sweep
from quantum_trader.exchange.sim.state import SimState

INTERVAL_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "8h": 28_800_000,
    "1d": 86_400_000,
}


def advance_time(state: SimState, now_ms: int) -> None:
    """Move the exchange clock forward (never back), settling each funding time passed."""
    while state.next_funding_ms <= now_ms:
        funding_time = state.next_funding_ms
        state.now_ms = max(state.now_ms, funding_time)
        settle_funding(state, funding_time)
        state.next_funding_ms = funding_time + state.funding.interval_ms
    if now_ms > state.now_ms:
        state.now_ms = now_ms


def settle_funding(state: SimState, funding_time: int) -> None:
    account = state.account
    paid = False
    for symbol, position in sorted(account.positions.items()):
        book = state.books[symbol]
        if not position.qty or book.mark <= 0:
            continue
        rate = state.funding.rate(symbol, funding_time)
        amount = funding_payment(position.qty, book.mark, rate)
        account.book_funding(amount)
        state.history.funding.append(
            FundingPayment(symbol, funding_time, rate, book.mark, position.qty, amount)
        )
        paid = True
    if paid:
        emit_account(state, REASON_FUNDING)
        check_liquidation(state)


Prices = tuple[Decimal, Decimal, Decimal, Decimal]  # open, high, low, close


def set_mark(state: SimState, symbol: str, mark: Decimal) -> None:
    """A mark-price update alone: mark-triggered stops may fire, limits do not move."""
    book = state.books[symbol]
    if not book.has_price:
        set_prices(book, mark, mark)
        return
    sweep(state, book, None, mark, gap=True)
    check_liquidation(state)


def set_price(state: SimState, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
    """Last and mark jump to ``price`` together (a tick of a market with no basis), or
    the mark to its own ``mark``."""
    book = state.books[symbol]
    state.market_start.setdefault(symbol, state.now_ms)
    at = price if mark is None else mark
    if not book.has_price:
        set_prices(book, price, at)
        return
    sweep(state, book, price, at, gap=True)
    check_liquidation(state)


def record_kline(
    state: SimState, kline: Kline, into: dict[tuple[str, str], deque[Kline]] | None = None
) -> None:
    """Keep ``kline`` for the klines queries (``into``: the mark's klines, not the trades')."""
    recorded = state.klines if into is None else into
    key = (kline.symbol, kline.interval)
    bars = recorded.get(key)
    if bars is None:
        bars = recorded[key] = deque(maxlen=state.config.kline_history)
    bars.append(kline)


def on_bar(
    state: SimState,
    symbol: str,
    open_time: int,
    prices: tuple[Decimal, Decimal, Decimal, Decimal],
    volume: Decimal,
    interval: str,
    mark: Prices | None = None,
) -> None:
    """Walk one bar: time to its open, then the intrabar path, then the close.

    ``mark``: the mark price's bar (open, high, low, close). The two prices walk their
    own paths (each open → nearer extreme → farther extreme → close) in step, four
    points each: last-price orders act on the one, mark-price stops and liquidation on
    the other. Without it the mark follows the last price."""
    if open_time >= state.next_funding_ms:
        advance_time(state, open_time)
    elif open_time > state.now_ms:
        state.now_ms = open_time
    book = state.books[symbol]
    o, h, low, c = prices
    state.market_start.setdefault(symbol, open_time)
    if state.config.kline_history:
        span = INTERVAL_MS.get(interval, 60_000)
        record_kline(
            state,
            Kline(symbol, interval, open_time, o, h, low, c, volume, open_time + span - 1),
        )
        if mark is not None:
            mo, mh, ml, mc = mark
            close_time = open_time + span - 1
            kline = Kline(symbol, interval, open_time, mo, mh, ml, mc, ZERO, close_time)
            record_kline(state, kline, state.mark_klines)
    if mark is None:
        if not book.has_price:
            set_prices(book, o, o)
        if h < book.up_min and low > book.down_max and _fast_solvent(state, book, symbol, h, low):
            book.last = book.mark = c
            book.mark_f = float(c)
            return
        for index, price in enumerate(bar_path(prices)):
            sweep(state, book, price, price, gap=index == 0)
            check_liquidation(state)
        return
    mo, mh, ml, mc = mark
    if not book.has_price:
        set_prices(book, o, mo)
    top, bottom = max(h, mh), min(low, ml)
    if top < book.up_min and bottom > book.down_max and _fast_solvent(state, book, symbol, mh, ml):
        book.last, book.mark = c, mc
        book.mark_f = float(mc)
        return
    for index, (price, at) in enumerate(zip(bar_path(prices), bar_path(mark), strict=True)):
        sweep(state, book, price, at, gap=index == 0)
        check_liquidation(state)


def bar_path(prices: Prices) -> Prices:
    """Open, the extreme nearer the open (ties: high), the other extreme, close."""
    o, h, low, c = prices
    return (o, h, low, c) if h - o <= o - low else (o, low, h, c)


def _fast_solvent(
    state: SimState, book: SymbolBook, symbol: str, high: Decimal, low: Decimal
) -> bool:
    """Float pre-check at the bar's worst price for this symbol's position, if any."""
    position = state.account.positions.get(symbol)
    if position is None:
        return True
    saved = book.mark_f
    book.mark_f = float(low) if position.qty_f > 0 else float(high)
    solvent = clearly_solvent(state)
    book.mark_f = saved
    return solvent
