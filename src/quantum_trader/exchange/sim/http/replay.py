"""Bar replay: feed recorded or synthetic candles into the served exchange in real time ×speed.

Bars of every series are merged by open time; between two open times the replay waits
the bar spacing divided by ``speed`` (the wait is injected, so tests replay instantly).
Each bar goes through the matching core (fills, stops, funding) and out on the kline and
mark-price streams, exactly as a live market update would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from quantum_trader.data.bars import BarSeries

if TYPE_CHECKING:
    from quantum_trader.exchange.sim.http.server import SimHttpServer

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


def tradable(srv: SimHttpServer, series: Sequence[BarSeries]) -> list[BarSeries]:
    """The series whose symbol the simulated universe lists (others are skipped, logged)."""
    known = {i.symbol for i in srv.core.instruments()}
    for s in series:
        if s.symbol not in known:
            log.warning("replay: %s is not in the simulated universe; skipped", s.symbol)
    return [s for s in series if s.symbol in known and len(s)]


async def replay(
    srv: SimHttpServer,
    series: Sequence[BarSeries],
    speed: float = 1.0,
    sleep: Sleep = asyncio.sleep,
    marks: Mapping[str, BarSeries] | None = None,
) -> int:
    """Replay every bar (with the mark's own bar where ``marks`` has the symbol, aligned
    on its bars); returns how many bars were fed."""
    marks = marks or {}
    chosen = tradable(srv, series)
    steps: dict[int, list[tuple[BarSeries, int]]] = {}
    for s in chosen:
        for i, t in enumerate(s.open_time.tolist()):
            steps.setdefault(int(t), []).append((s, i))
    fed, previous = 0, None
    for t in sorted(steps):
        if previous is not None:
            await sleep((t - previous) / 1000 / speed)
        previous = t
        for s, i in steps[t]:
            instrument = srv.core.instrument(s.symbol)
            k = s.bar_at(i, instrument.tick_size, instrument.step_size)
            m = marks[s.symbol].bar_at(i) if s.symbol in marks else None  # finer than the tick
            mark = None if m is None else (m.open, m.high, m.low, m.close)
            srv.sim.on_bar(
                s.symbol, k.open_time, k.open, k.high, k.low, k.close, k.volume, s.interval, mark
            )
            await srv.bar_closed(s.symbol, s.interval)
            fed += 1
    return fed
