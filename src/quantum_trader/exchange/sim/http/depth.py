"""The simulated order book: a deterministic ladder around the last price.

The matching core prices a market order as the last price plus a half-spread and one
tick more per ``impact_notional_per_tick`` of notional (``pricing.SlippageModel``). The
book shows that ladder: the best bid and ask a half-spread (at least one tick) from the
last price rounded to the tick, then one level per tick, each holding that notional's
worth of quantity at its price, on the lot step (at least one step, at most the lot
maximum). No price yet: an empty book, as Binance shows one before trading starts.

``BookFeed`` numbers the books: ``lastUpdateId`` grows by one each time the book of a
symbol changes, so a REST snapshot and the diff-depth stream line up as Binance's do
(the first event to apply has ``U`` ≤ the snapshot's ``lastUpdateId`` ≤ ``u``, and each
event's ``pu`` is the previous event's ``u``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO, fmt, round_down
from quantum_trader.exchange.sim.core import MatchingCore
from quantum_trader.exchange.sim.pricing import SlippageModel

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
DEFAULT_DEPTH = 500
Level = tuple[Decimal, Decimal]


@dataclass(frozen=True, slots=True)
class Book:
    symbol: str
    update_id: int
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]


def depth_limit(raw: int | None) -> int:
    """Binance's valid limits; any other is served as the next larger one (at most 1000)."""
    if raw is None:
        return DEFAULT_DEPTH
    return next((n for n in DEPTH_LIMITS if n >= raw), DEPTH_LIMITS[-1])


def ladder(
    instrument: Instrument, last: Decimal, slippage: SlippageModel, levels: int
) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """(bids, asks), best first, ``levels`` deep on each side."""
    if last <= ZERO or levels <= 0:
        return (), ()
    tick = instrument.tick_size
    base = instrument.round_price(last)
    half = max(1, slippage.half_spread_ticks)
    asks, bids = [], []
    for k in range(levels):
        ask = base + (half + k) * tick
        if ask <= instrument.max_price:
            asks.append((ask, _quantity(instrument, ask, slippage)))
        bid = base - (half + k) * tick
        if bid >= instrument.min_price and bid > ZERO:
            bids.append((bid, _quantity(instrument, bid, slippage)))
    return tuple(bids), tuple(asks)


def _quantity(instrument: Instrument, price: Decimal, slippage: SlippageModel) -> Decimal:
    raw = min(slippage.impact_notional_per_tick / price, instrument.max_qty)
    return max(round_down(raw, instrument.step_size), instrument.step_size)


@dataclass
class BookFeed:
    """Book versions per symbol, and what the diff-depth stream last sent."""

    versions: dict[str, tuple[Decimal, int]] = field(default_factory=dict)
    sent: dict[str, Book] = field(default_factory=dict)

    def update_id(self, core: MatchingCore, symbol: str) -> int:
        last = core.last_price(symbol)
        seen = self.versions.get(symbol)
        if seen is None or seen[0] != last:
            seen = (last, (seen[1] if seen else 0) + 1)
            self.versions[symbol] = seen
        return seen[1]

    def book(self, core: MatchingCore, symbol: str, levels: int) -> Book:
        instrument = core.instrument(symbol)
        bids, asks = ladder(instrument, core.last_price(symbol), core.config.slippage, levels)
        return Book(symbol, self.update_id(core, symbol), bids, asks)

    def diff(self, core: MatchingCore, symbol: str) -> tuple[Book, Book] | None:
        """(previous book sent, book now) when the book changed since the last diff."""
        now = self.book(core, symbol, DEPTH_LIMITS[-1])
        before = self.sent.get(symbol)
        if before is not None and before.update_id == now.update_id:
            return None
        self.sent[symbol] = now
        return (before or Book(symbol, now.update_id - 1, (), ())), now


def levels_json(levels: tuple[Level, ...]) -> list[list[str]]:
    return [[fmt(p), fmt(q)] for p, q in levels]


def changed(before: tuple[Level, ...], after: tuple[Level, ...]) -> list[list[str]]:
    """Diff-depth entries: new or changed levels, and "0" for the levels now gone."""
    old, new = dict(before), dict(after)
    rows = [[fmt(p), fmt(q)] for p, q in after if old.get(p) != q]
    rows += [[fmt(p), "0"] for p in old if p not in new]
    return rows


def depth_json(book: Book, now: int) -> dict[str, object]:
    """GET /fapi/v1/depth."""
    return {
        "lastUpdateId": book.update_id,
        "E": now,
        "T": now,
        "bids": levels_json(book.bids),
        "asks": levels_json(book.asks),
    }


def book_ticker_json(book: Book, now: int) -> dict[str, object]:
    """GET /fapi/v1/ticker/bookTicker entry."""
    bid = book.bids[0] if book.bids else (ZERO, ZERO)
    ask = book.asks[0] if book.asks else (ZERO, ZERO)
    return {
        "symbol": book.symbol,
        "bidPrice": fmt(bid[0]),
        "bidQty": fmt(bid[1]),
        "askPrice": fmt(ask[0]),
        "askQty": fmt(ask[1]),
        "time": now,
        "lastUpdateId": book.update_id,
    }
