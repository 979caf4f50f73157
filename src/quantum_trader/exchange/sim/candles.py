"""Candles of any Binance interval from the bars the simulated venue was driven with.

The venue records the bars it is fed (a replay of 5m data records 5m bars). A request
for that interval is served as recorded; a coarser one is resampled from the finest
recorded interval (``quantum_trader.data.resample``); a finer one — or one the base does
not divide, 3m from 5m — first splits every base bar along the intrabar path the
matching core walks (open → nearer extreme → farther extreme → close, the three legs
equally long), so the finer candles are the prices stops and limits met inside the bar,
and they resample back to the bar exactly. Volume is split evenly, on the lot step, and
sums to the bar's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from quantum_trader.data.bars import BINANCE_INTERVALS, DataError, interval_ms
from quantum_trader.data.resample import resample_klines
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.domain.money import ZERO
from quantum_trader.exchange.sim.core import MatchingCore

INTERVALS = frozenset(BINANCE_INTERVALS)


def served_interval(interval: str) -> bool:
    """True for the kline intervals the venue answers (Binance's, but the calendar month)."""
    return interval in INTERVALS


def candles(
    core: MatchingCore,
    symbol: str,
    interval: str,
    *,
    start: int | None = None,
    end: int | None = None,
    limit: int = 500,
    mark: bool = False,
) -> list[Kline]:
    """Up to ``limit`` candles opening within [start, end]: the first ones from ``start``
    when it is given, else the latest ones (Binance's paging). ``mark``: the mark price's
    candles — the trade price's where the venue was fed no separate mark."""
    mark = mark and bool(core.kline_intervals(symbol, mark=True))
    recorded = core.kline_intervals(symbol, mark=mark)
    if not recorded or limit <= 0:
        return []
    if interval in recorded:
        bars = core.klines(symbol, interval, 1_000_000, end, mark=mark)
    else:
        base = min(recorded, key=interval_ms)
        source = core.klines(symbol, base, 1_000_000, end, mark=mark)
        bars = convert(_window(source, interval, start, limit), interval, core.instrument(symbol))
    chosen = [
        k
        for k in bars
        if (start is None or k.open_time >= start) and (end is None or k.open_time <= end)
    ]
    return chosen[:limit] if start is not None else chosen[-limit:]


def _window(source: list[Kline], interval: str, start: int | None, limit: int) -> list[Kline]:
    """The base bars that can make the wanted candles (not all 1,500 to split each time)."""
    if not source:
        return source
    base_ms = source[0].close_time + 1 - source[0].open_time
    per_candle = max(1, math.ceil(interval_ms(interval) / base_ms))
    count = (limit + 2) * per_candle
    if start is None:
        return source[-count:]
    first = next((i for i, k in enumerate(source) if k.close_time >= start), len(source))
    return source[max(0, first - per_candle) : first + count]


def convert(bars: Sequence[Kline], interval: str, instrument: Instrument) -> list[Kline]:
    """``bars`` (one symbol, one interval, oldest first) as candles of ``interval``."""
    if not bars:
        return []
    base_ms = bars[0].close_time + 1 - bars[0].open_time
    target_ms = interval_ms(interval)
    if target_ms % base_ms == 0:
        return resample_klines(bars, interval)
    fine_ms = math.gcd(base_ms, target_ms)
    if fine_ms % 60_000:
        raise DataError(f"cannot split {base_ms} ms bars into {interval} candles")
    fine = [piece for bar in bars for piece in split(bar, base_ms // fine_ms, instrument)]
    return fine if fine_ms == target_ms else resample_klines(fine, interval)


def split(bar: Kline, parts: int, instrument: Instrument) -> list[Kline]:
    """``bar`` as ``parts`` consecutive candles along its intrabar path."""
    o, h, low, c = bar.open, bar.high, bar.low, bar.close
    path = (o, h, low, c) if h - o <= o - low else (o, low, h, c)
    span = (bar.close_time + 1 - bar.open_time) // parts
    interval = f"{span // 60_000}m"
    pieces = []
    for j in range(parts):
        t0, t1 = Fraction(j, parts), Fraction(j + 1, parts)
        points = [_at(path, t0, instrument), _at(path, t1, instrument)]
        points += [path[v] for v in (1, 2) if t0 < Fraction(v, 3) < t1]
        opened = bar.open_time + j * span
        pieces.append(
            Kline(
                bar.symbol,
                interval,
                opened,
                points[0],
                max(points),
                min(points),
                points[1],
                _share(bar.volume, j + 1, parts, instrument.step_size)
                - _share(bar.volume, j, parts, instrument.step_size),
                opened + span - 1,
            )
        )
    return pieces


def _at(path: tuple[Decimal, Decimal, Decimal, Decimal], t: Fraction, i: Instrument) -> Decimal:
    """The path's price at fraction ``t`` of the bar, on the tick, within the bar's range."""
    leg = min(int(t * 3), 2)
    a, b = path[leg], path[leg + 1]
    along = t * 3 - leg
    if along == 0:
        return a
    if along == 1:
        return b
    exact = a + (b - a) * Decimal(along.numerator) / Decimal(along.denominator)
    rounded = i.round_price(exact)
    return min(max(rounded, min(path)), max(path))


def _share(volume: Decimal, j: int, parts: int, step: Decimal) -> Decimal:
    """Volume of the first ``j`` of ``parts`` pieces, on the step (all of it at the end)."""
    if j >= parts:
        return volume
    if j <= 0 or step <= ZERO:
        return ZERO if j <= 0 else volume * j / parts
    return (volume * j / parts / step).to_integral_value(ROUND_FLOOR) * step
