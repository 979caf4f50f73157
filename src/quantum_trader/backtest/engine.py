"""The general backtest engine: bars replayed through the services' decision code.

Pipeline per symbol (see :mod:`quantum_trader.backtest.position_flow` for the wiring):
strategy signal -> ``admit_intent`` -> ``size_entry`` -> ``step_risk`` ->
``check_entry_gate`` -> :class:`~quantum_trader.exchange.sim.MatchingCore` (market entry,
then a reduce-only STOP_MARKET at the sized stop on the fill) -> ``apply_fill`` ledger ->
``evaluate_exit`` on every bar a position is open (PARTIAL / FULL_CLOSE via
``close_qty_for`` and reduce-only market orders, UPDATE_STOP by new-then-cancel-old).
One cross-margin account, one ``SimClock``; trades come from the exchange's fills.

Timing semantics (the paper system matches these for the parity test):

* Everything is decided at a bar's close: a strategy signal produced at the close of
  bar ``t``, and every exit-brain decision evaluated at that close (``now`` = the bar's
  close time, ``open_time + interval``).
* What the close of bar ``t`` decided executes when bar ``t+1`` opens: the core is set
  to ``open[t+1]`` (``set_price``, which also fires stops a gap jumped over), exits run
  first (never blocked), then the entry, as market orders at that price (plus the
  configured slippage). The rest of bar ``t+1`` is then fed with ``on_bar`` so
  protective stops trigger intrabar on the core's own path.
* A fill's time (``entry_time`` / ``exit_time``) is the open time (ms UTC) of the bar in
  which it happened. A signal on the last bar is ignored; a position still open at the
  end is closed at the last bar's close, reason ``end``.

Speed: signals are computed up front (per symbol, in worker processes), the exit
brain's indicators are vectorised, and the replay visits only bars where something can
happen — the bar after a signal, and every bar of a symbol while it holds a position.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

import numpy as np

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.market_view import FeatureSeries
from quantum_trader.backtest.position_flow import Desk, SymbolRun
from quantum_trader.backtest.signals import StrategySpec, all_signals
from quantum_trader.backtest.trades import (
    NO_FUNDING,
    BacktestResult,
    FloatArray,
    flat_funding,
    funding_from_files,
)
from quantum_trader.clock import SimClock
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.funding import FundingSeries
from quantum_trader.exchange.sim import FundingSchedule, MatchingCore

Progress = Callable[[int, int], None]  # (steps done, steps in total)
FUNDING_MS = 8 * 3_600_000


def run_engine(
    series: Sequence[BarSeries],
    strategy: str,
    config: EngineConfig | None = None,
    params: Mapping[str, object] | None = None,
    progress: Progress | None = None,
    funding: Mapping[str, FundingSeries] | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on ``series`` (one per symbol, one interval) in one account.

    ``funding``: recorded (or synthetic) funding rates per symbol; a symbol without them
    pays the flat ``config.funding_rate``."""
    config = config or EngineConfig()
    if not series:
        raise ValueError("no bars to backtest")
    intervals = {s.interval for s in series}
    if len(intervals) != 1:
        raise ValueError(f"all series must share one interval, got {sorted(intervals)}")
    if len({s.symbol for s in series}) != len(series):
        raise ValueError("one series per symbol")
    series = [s for s in series if len(s)]
    if not series:
        raise ValueError("no bars to backtest")
    return build_replay(series, strategy, config, params, progress, funding).run(strategy)


def build_replay(
    series: Sequence[BarSeries],
    strategy: str,
    config: EngineConfig | None = None,
    params: Mapping[str, object] | None = None,
    progress: Progress | None = None,
    funding: Mapping[str, FundingSeries] | None = None,
) -> Replay:
    """The replay ``run_engine`` would run, not yet run (tests inspect its exchange)."""
    config = config or EngineConfig()
    spec = StrategySpec(strategy, tuple(sorted((params or {}).items())))
    signals = all_signals(spec, list(series), config.workers)
    start = min(int(s.open_time[0]) for s in series)
    schedule, source = funding_schedule([s.symbol for s in series], config, funding)
    core = MatchingCore(
        config=config.sim_config(), funding=schedule, seed=config.seed, start_ms=start
    )
    runs = {
        s.symbol: SymbolRun(s, core.instrument(s.symbol), sig, FeatureSeries.of(s))
        for s, sig in zip(series, signals, strict=True)
    }
    return Replay(core, runs, config, progress, source)


def funding_schedule(
    symbols: Sequence[str],
    config: EngineConfig,
    funding: Mapping[str, FundingSeries] | None,
) -> tuple[FundingSchedule, str]:
    """The exchange's funding rates and how the summary names their source."""
    rate = config.funding_rate if config.funding_rate is not None else Decimal(0)
    recorded = {s: funding[s] for s in symbols if funding and s in funding and len(funding[s])}
    flat = NO_FUNDING if config.funding_rate is None else flat_funding(config.funding_rate)
    points = {
        s: [(int(t), f.rate_at(i)) for i, t in enumerate(f.funding_time.tolist())]
        for s, f in recorded.items()
    }
    if not recorded:
        source = flat
    elif len(recorded) == len(symbols):
        source = funding_from_files(len(recorded))
    else:
        source = f"{funding_from_files(len(recorded))}; {flat} for the rest"
    return FundingSchedule(rate, points), source


class Replay:
    """The time loop over the union of all symbols' bar times."""

    def __init__(
        self,
        core: MatchingCore,
        runs: dict[str, SymbolRun],
        config: EngineConfig,
        progress: Progress | None,
        funding_source: str = NO_FUNDING,
    ) -> None:
        self.core = core
        self.funding_source = funding_source
        self.config = config
        self.desk = Desk(core, runs, config)
        self.runs = list(runs.values())
        self.progress = progress
        self.clock = SimClock(core.now_ms)
        self.times = np.unique(np.concatenate([r.series.open_time for r in self.runs]))
        self.steps = [np.searchsorted(self.times, r.series.open_time).tolist() for r in self.runs]
        self.interval_ms = self.runs[0].series.interval_ms
        self.wake: dict[int, list[int]] = {}
        for s, run in enumerate(self.runs):
            last = len(run.series) - 1
            for i in run.signals:
                if i < last:
                    self.wake.setdefault(self.steps[s][i + 1], []).append(s)
        self.equity = np.full(self.times.size, np.nan)
        self._wallet = float(config.balance)
        self._fills_seen = -1
        self._funding_epoch = -1

    def run(self, strategy: str) -> BacktestResult:
        total = int(self.times.size)
        wake_steps = sorted(self.wake)
        w, k = 0, -1
        report_every = max(1, total // 200)
        next_report = 0
        while True:
            if any(r.position is not None or r.pending_exits for r in self.runs):
                k += 1
            else:
                w = bisect_left(wake_steps, k + 1, lo=w)
                if w == len(wake_steps):
                    break
                k = wake_steps[w]
            if k >= total:
                break
            todo = {s for s, r in enumerate(self.runs) if r.position is not None or r.pending_exits}
            todo.update(self.wake.get(k, ()))
            for s in sorted(todo):
                self._bar(s, k)
            self.equity[k] = self._equity(k)
            if self.progress is not None and k >= next_report:
                self.progress(k, total)
                next_report = k + report_every
        self._finish()
        if self.progress is not None:
            self.progress(total, total)
        return self._result(strategy)

    def _bar(self, s: int, k: int) -> None:
        run, steps = self.runs[s], self.steps[s]
        i = bisect_left(steps, k)
        if i == len(steps) or steps[i] != k:
            return  # this symbol has no bar at this time (a gap in its data)
        t = int(run.series.open_time[i])
        self.clock.set(max(t, self.clock.now_ms()))
        if i > 0 and run.last_bar < i - 1:
            # Bar i-1 was skipped (flat, nothing pending): its close can only hold a signal.
            self.desk.on_close(run, i - 1, t)
        if run.pending_exits or run.pending_entry is not None:
            self.desk.on_open(run, i, t)
        o, h, low, c = (
            run.price(float(x))
            for x in (
                run.series.open[i],
                run.series.high[i],
                run.series.low[i],
                run.series.close[i],
            )
        )
        self.core.on_bar(run.symbol, t, o, h, low, c, interval=run.series.interval)
        self.desk.collect(run, i, t)
        self.desk.on_close(run, i, t + self.interval_ms)

    def _finish(self) -> None:
        for run in self.runs:
            last = len(run.series) - 1
            if run.position is not None:
                t = int(run.series.open_time[last])
                self.clock.set(max(t, self.clock.now_ms()))
                self.desk.close_at_end(run, last, t)
        if self.times.size:
            self.equity[-1] = self._equity(self.times.size - 1, refresh=True)

    def _equity(self, k: int, refresh: bool = False) -> float:
        """Mark-to-market equity at the close of step ``k`` (floats: a report, not money)."""
        fills = self.desk.log.exit_fills + len(self.desk.executed_plans)
        epoch = int(self.times[k]) // FUNDING_MS
        if refresh or fills != self._fills_seen or epoch != self._funding_epoch:
            self._wallet = float(self.core.account().wallet_balance)
            self._fills_seen, self._funding_epoch = fills, epoch
        upnl = 0.0
        for run in self.runs:
            p = run.position
            if p is not None:
                close = float(run.series.close[min(max(run.last_bar, 0), len(run.series) - 1)])
                upnl += float(p.qty) * (close - float(p.entry_price)) * p.side.sign
        return self._wallet + upnl

    def _result(self, strategy: str) -> BacktestResult:
        equity: FloatArray = self.equity.copy()
        if equity.size and np.isnan(equity[0]):
            equity[0] = float(self.config.balance)
        # Forward-fill the steps the replay skipped (flat: equity did not move).
        filled = np.where(~np.isnan(equity), np.arange(equity.size), 0)
        np.maximum.accumulate(filled, out=filled)
        equity = equity[filled]
        ledger = self.core.ledger()
        skipped = dict(self.desk.skipped)
        for reason, count in self.desk.orders.rejections.items():
            skipped[reason] = skipped.get(reason, 0) + count
        positions = self.desk.log.trades(self.core.history().funding)
        trades = sorted(positions, key=lambda t: (t.exit_time, t.symbol))
        return BacktestResult(
            strategy=strategy,
            symbols=tuple(r.symbol for r in self.runs),
            interval=self.runs[0].series.interval,
            starting_balance=float(self.config.balance),
            trades=tuple(trades),
            equity_time=self.times.astype(np.int64),
            equity=equity,
            bars=sum(len(r.series) for r in self.runs),
            fees=float(ledger.commission),
            funding=float(ledger.funding),
            skipped=skipped,
            realized_pnl=float(ledger.realized_pnl),
            funding_source=self.funding_source,
        )
