"""Two backtests at once on a machine with more than one core.

A backtest is one core of Python; training has two of them (out of sample and in
sample) and a model fit that LightGBM spreads over the cores. :class:`BacktestRunner`
runs a submitted backtest in a worker process of its own while the caller goes on, when
the market is large enough for that to pay, and in the caller's process otherwise (the
same function on the same arguments: the same result either way).

The worker is *spawned*, never forked: LightGBM's OpenMP threads do not survive a fork.
It receives its arguments pickled (the bars and the fold models), and Ctrl-C reaches it
with the caller (one process group), so an interrupted training leaves no worker behind.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import ParamSpec, TypeVar

from quantum_trader.data.bars import BarSeries

PARALLEL_FROM_BARS = 500_000  # about 15 s of backtest: a worker starts in about 3 s

P = ParamSpec("P")
R = TypeVar("R")


class BacktestRunner:
    """``submit`` a backtest: it runs in a worker process when the market has at least
    ``from_bars`` bars and the machine more than one core, else at once, here."""

    def __init__(self, series: Sequence[BarSeries], from_bars: int) -> None:
        bars = sum(len(s) for s in series)
        self.parallel = bars >= from_bars and (os.cpu_count() or 1) > 1
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> BacktestRunner:
        if self.parallel:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, work: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        if self._pool is not None:
            return self._pool.submit(work, *args, **kwargs)
        done: Future[R] = Future()
        try:
            done.set_result(work(*args, **kwargs))
        except Exception as exc:
            done.set_exception(exc)
        return done
