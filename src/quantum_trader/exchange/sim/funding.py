"""Funding: the 8-hourly settlement times and the rate that applies at each.

A position held at a funding time pays (rate > 0, long) or receives
``qty × mark × rate``. Rates come from a constant or a recorded series of
(funding_time_ms, rate) pairs such as Binance's fundingRate history, whose times carry
a few milliseconds of jitter (…00017), so a series entry applies to the funding time it
falls within ``JITTER_MS`` of, and afterwards until the next entry.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from decimal import Decimal

from quantum_trader.data.funding import FundingSeries

FUNDING_INTERVAL_MS = 8 * 60 * 60 * 1000
JITTER_MS = 60_000
DEFAULT_RATE = Decimal("0.0001")


class FundingSchedule:
    """Funding times on the 00:00 / 08:00 / 16:00 UTC grid and the rate for each symbol."""

    def __init__(
        self,
        default_rate: Decimal = DEFAULT_RATE,
        series: Mapping[str, Iterable[tuple[int, Decimal]]] | None = None,
        interval_ms: int = FUNDING_INTERVAL_MS,
    ) -> None:
        self.default_rate = default_rate
        self.interval_ms = interval_ms
        self._times: dict[str, list[int]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        for symbol, points in (series or {}).items():
            ordered = sorted(points)
            self._times[symbol] = [t for t, _ in ordered]
            self._rates[symbol] = [r for _, r in ordered]

    def next_after(self, now_ms: int) -> int:
        """First funding time strictly after ``now_ms``."""
        return (now_ms // self.interval_ms + 1) * self.interval_ms

    def settlements(self, symbol: str, start_ms: int, end_ms: int) -> list[tuple[int, Decimal]]:
        """The funding times on the grid from ``start_ms`` to ``end_ms`` (inclusive) and
        the rate of each: what the exchange's fundingRate history holds for ``symbol``."""
        first = -(-start_ms // self.interval_ms) * self.interval_ms
        return [(t, self.rate(symbol, t)) for t in range(first, end_ms + 1, self.interval_ms)]

    def rate(self, symbol: str, funding_time_ms: int) -> Decimal:
        times = self._times.get(symbol)
        if not times:
            return self.default_rate
        index = bisect.bisect_right(times, funding_time_ms + JITTER_MS) - 1
        if index < 0:
            return self.default_rate
        return self._rates[symbol][index]


def recorded_schedule(
    recorded: Mapping[str, FundingSeries], default_rate: Decimal = DEFAULT_RATE
) -> FundingSchedule:
    """Recorded rates (a fundingRate dump per symbol) as the exchange settles them; the
    default rate for symbols without any."""
    points = {
        s: [(int(t), f.rate_at(i)) for i, t in enumerate(f.funding_time.tolist())]
        for s, f in recorded.items()
        if len(f)
    }
    return FundingSchedule(default_rate, points)


def funding_payment(signed_qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """Amount credited to the wallet (negative when the position pays)."""
    return -(signed_qty * mark * rate)
