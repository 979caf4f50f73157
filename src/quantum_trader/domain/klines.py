"""A candle as an exchange reports it (klines): the one type market data and every
exchange adapter share."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Kline:
    """One candle. Times are ms since epoch; prices as Decimal."""

    symbol: str
    interval: str
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: int
