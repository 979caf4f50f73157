"""Hand-made bar series for strategy tests: ramps, dips, ranges, and their mirror images."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from quantum_trader.strategies.base import AnyStrategy, Bar, Signal

MINUTE_MS = 60_000
T0 = 1_700_000_000_000  # a fixed epoch: tests never read the clock


def bars_from_closes(
    closes: Sequence[float],
    *,
    symbol: str = "BTCUSDT",
    wick: float = 0.5,
    volumes: Sequence[float] | None = None,
) -> list[Bar]:
    """Bars opening at the previous close, with a fixed wick above and below the body."""
    bars = []
    prev = closes[0]
    for i, close in enumerate(closes):
        volume = 100.0 if volumes is None else volumes[i]
        bars.append(
            Bar(
                symbol=symbol,
                interval="1m",
                open_time=T0 + i * MINUTE_MS,
                open=prev,
                high=max(prev, close) + wick,
                low=min(prev, close) - wick,
                close=close,
                volume=volume,
            )
        )
        prev = close
    return bars


def mirrored(bars: Iterable[Bar], pivot: float) -> list[Bar]:
    """The same market upside down around ``pivot``: highs become lows, rallies sell-offs."""
    return [
        Bar(
            symbol=bar.symbol,
            interval=bar.interval,
            open_time=bar.open_time,
            open=2 * pivot - bar.open,
            high=2 * pivot - bar.low,
            low=2 * pivot - bar.high,
            close=2 * pivot - bar.close,
            volume=bar.volume,
        )
        for bar in bars
    ]


def scaled(bars: Iterable[Bar], factor: float) -> list[Bar]:
    """The same market at a different price level (all prices × factor)."""
    return [
        Bar(
            symbol=bar.symbol,
            interval=bar.interval,
            open_time=bar.open_time,
            open=bar.open * factor,
            high=bar.high * factor,
            low=bar.low * factor,
            close=bar.close * factor,
            volume=bar.volume,
        )
        for bar in bars
    ]


def run(strategy: AnyStrategy, bars: Sequence[Bar]) -> list[tuple[int, Signal]]:
    """Feed every bar through ``on_bar``; return (bar index, signal) for each signal."""
    state = strategy.initial_state(bars[0].symbol)
    signals = []
    for index, bar in enumerate(bars):
        state, signal = strategy.on_bar(state, bar)
        if signal is not None:
            signals.append((index, signal))
    return signals


def ramp(start: float, step: float, count: int) -> list[float]:
    """``count`` closes moving by ``step`` per bar, starting one step after ``start``."""
    return [start + step * (i + 1) for i in range(count)]


def wave(center: float, amplitude: float, period: int, count: int) -> list[float]:
    """A sideways market oscillating around ``center``."""
    return [center + amplitude * math.sin(2 * math.pi * i / period) for i in range(count)]
