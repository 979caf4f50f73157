"""The real-time market feed: the exchange's closed klines on the market stream, each once.

One implementation for ``quantum run``'s real-time modes and ``quantum service
market-feed``. Each poll asks for the klines since the last bar published, so every bar
a Redis outage or a slow poll missed goes out too (up to ``MAX_BACKFILL`` per poll).
Publication is an idempotent effect keyed by the bar (its message id is derived from
symbol, interval and open time), so a bar is never on the stream twice; and a restarted
feed first reads back the last bar of each symbol it published (``resume``), so it
neither repeats one nor skips the bars that closed while it was down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import DecodeError, decode, encode
from quantum_trader.bus.idempotency import RedisEffectStore, StreamAdd
from quantum_trader.bus.redis_transport import FIELD
from quantum_trader.bus.schemas import MarketBar
from quantum_trader.clock import Clock
from quantum_trader.data import interval_ms
from quantum_trader.exchange.interface import Exchange
from quantum_trader.services.market_feed import bar_message
from quantum_trader.services.sizing_basis import RedisSizingBasis, take_basis

MAX_BACKFILL = 1000  # klines per request (Binance allows 1500; 1000 costs weight 5)
RESUME_PAGE = 500  # market stream entries read back per page by ``resume``
RESUME_MAX = 20_000  # ... and at most this many: older than that is not a restart


@dataclass
class KlineFeed:
    """Publishes each newly closed kline of every symbol on the market stream, once —
    every bar it missed too (a Redis outage, a slow poll): it asks for as many as the
    gap since the last one it published holds, up to ``MAX_BACKFILL`` per poll. Before
    a poll's new bars go out it takes the sizing basis of the latest of them."""

    exchange: Exchange
    bus: Bus
    effects: RedisEffectStore
    clock: Clock
    symbols: Sequence[str]
    interval: str
    last_open: dict[str, int] = field(default_factory=dict)
    published: int = 0

    async def resume(self) -> dict[str, int]:
        """Remember the last bar of each symbol (of this interval) already on the market
        stream: a restarted feed then backfills from there instead of starting afresh
        (which would skip the bars that closed while it was down). Newest first, a page
        at a time, until every symbol is found or ``RESUME_MAX`` entries were read."""
        wanted = set(self.symbols) - set(self.last_open)
        client, stream, end, read = self.effects.client, self.bus.keys.market, "+", 0
        while wanted and read < RESUME_MAX:
            entries = await client.xrevrange(stream, max=end, min="-", count=RESUME_PAGE)
            if not entries:
                break
            for _, fields in entries:
                read += 1
                bar = _bar(fields)
                if bar is not None and bar.interval == self.interval and bar.symbol in wanted:
                    self.last_open[bar.symbol] = bar.open_time
                    wanted.discard(bar.symbol)
            end = _before(entries[-1][0])
        return dict(self.last_open)

    async def poll(self) -> None:
        now = self.clock.now_ms()
        fresh = []
        for symbol in self.symbols:
            for kline in await self.exchange.klines(
                symbol, self.interval, self._limit(symbol, now)
            ):
                closed = kline.close_time < now
                if closed and kline.open_time > self.last_open.get(symbol, -1):
                    fresh.append(kline)
        if fresh:  # the account at the close, before any decision on the bar can trade
            basis = RedisSizingBasis(self.effects.client, self.bus.keys)
            await take_basis(self.exchange, basis, max(k.open_time for k in fresh))
        for kline in fresh:
            if kline.open_time > self.last_open.get(kline.symbol, -1):
                bar = bar_message(kline, now)
                if await self.effects.apply_once(
                    f"bar:{bar.msg_id}",
                    [StreamAdd(self.bus.keys.market, encode(bar), self.bus.maxlen)],
                ):
                    self.published += 1
                self.last_open[kline.symbol] = kline.open_time

    def _limit(self, symbol: str, now: int) -> int:
        last = self.last_open.get(symbol)
        if last is None:
            return 3  # a start: the bars before are history the strategies warm up from
        missed = (now - last) // interval_ms(self.interval)
        return int(max(3, min(MAX_BACKFILL, missed + 2)))


def _bar(fields: object) -> MarketBar | None:
    """The bar an entry of the market stream holds (None: not a bar one can read)."""
    raw = fields.get(FIELD) if isinstance(fields, dict) else None
    if not isinstance(raw, bytes | str):
        return None
    try:
        message = decode(raw)
    except DecodeError:
        return None  # a dead letter's problem, not the feed's
    return message if isinstance(message, MarketBar) else None


def _before(entry_id: object) -> str:
    """The exclusive upper bound just below a stream entry id (XREVRANGE's next page)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return f"({text}"
