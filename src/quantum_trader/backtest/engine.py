"""The backtest engine: bars replayed through the services' decision code.

Pipeline per symbol (see :mod:`quantum_trader.backtest.position_flow` for the wiring):
strategy signal -> ``admit_intent`` -> sizing -> ``step_risk`` -> ``check_entry_gate`` ->
:class:`~quantum_trader.exchange.sim.MatchingCore` (market entry, then a reduce-only
STOP_MARKET on the fill) -> ``apply_fill`` ledger -> ``evaluate_exit`` on every bar a
position is open (PARTIAL / FULL_CLOSE via ``close_qty_for`` and reduce-only market
orders, UPDATE_STOP by new-then-cancel-old). One cross-margin account, one exchange clock;
trades come from the exchange's fills. A strategy that prescribes its own execution rules
(``engine_profile``, e.g. ``ref_ema_cross``) runs on this same path with them applied
(:mod:`quantum_trader.backtest.profile`); there is no other.

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

Speed: signals are computed up front (vectorised when the strategy offers it, else in
worker processes), and the replay is event-driven: it visits a symbol's bar only when
something can happen on it — the bar after a signal, a bar whose range reaches a resting
order or the solvency guard, a bar at whose close the exit brain may act (found with
numpy, :mod:`quantum_trader.backtest.quiet_bars`), and funding times. Skipped bars
change no fill (``skip_quiet_bars=False`` visits every bar of an open position; a test
compares the two). Before any order or fill every other position's book is brought to
the price it would have had, so the exchange sees exactly what a bar-by-bar replay shows.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

import numpy as np

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.equity import EquityBook
from quantum_trader.backtest.market_view import FeatureSeries
from quantum_trader.backtest.position_flow import Desk, SymbolRun
from quantum_trader.backtest.profile import apply_profile, profile_of
from quantum_trader.backtest.signals import SignalSeries, StrategySpec, all_signals
from quantum_trader.backtest.trades import (
    NO_FUNDING,
    BacktestResult,
    flat_funding,
    funding_from_files,
    merge_results,
)
from quantum_trader.backtest.visits import Visits
from quantum_trader.data.bars import BarSeries, interval_ms
from quantum_trader.data.funding import FundingSeries
from quantum_trader.data.marks import LAST_PRICE, NO_MARKS, MarkBars, align_marks
from quantum_trader.domain.enums import EntrySizing, ExitRules
from quantum_trader.exchange.sim import FundingSchedule, MatchingCore
from quantum_trader.exchange.sim.book import BarModel
from quantum_trader.exchange.sim.funding import recorded_schedule
from quantum_trader.exchange.sim.universe import packaged_universe, universe_for

Progress = Callable[[int, int], None]  # (steps done, steps in total)


Strategies = str | Sequence[str]  # one strategy, or several traded together


def strategy_names(strategy: Strategies) -> tuple[str, ...]:
    """The strategies of a run, in the order the signal engine runs them."""
    names = (strategy,) if isinstance(strategy, str) else tuple(strategy)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"strategies must be distinct and at least one, got {list(names)}")
    return names


def run_engine(
    series: Sequence[BarSeries],
    strategy: Strategies,
    config: EngineConfig | None = None,
    params: Mapping[str, object] | None = None,
    progress: Progress | None = None,
    funding: Mapping[str, FundingSeries] | None = None,
    marks: MarkBars = NO_MARKS,
) -> BacktestResult:
    """Backtest ``strategy`` (one, or several in the configured order, as the signal
    engine runs them) on ``series`` (one per symbol, one interval) in one account.

    ``funding``: recorded (or synthetic) funding rates per symbol; a symbol without them
    pays the flat ``config.funding_rate``. ``marks``: the mark price's own bars per
    symbol (aligned on the series' open times); without them the mark follows the last
    price, as it does under a strategy's fills-at-levels rules. Full-equity sizing (a
    strategy's rules) trades each symbol with all of its own cash: one account per
    symbol, each with an equal share of the balance, merged into one result. ``params``
    are one strategy's."""
    config = config or EngineConfig()
    names = strategy_names(strategy)
    label = ",".join(names)
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
    config = trade_start(apply_profile(config, profile_of(names, dict(params or {}))), series)
    if config.entry_sizing is EntrySizing.FULL_EQUITY and len(series) > 1:
        share = replace(config, balance=config.balance / len(series))
        parts = [build_replay([s], names, share, params, None, funding, marks) for s in series]
        return merge_results([p.run(label) for p in parts], label)
    return build_replay(series, names, config, params, progress, funding, marks).run(label)


def trade_start(config: EngineConfig, series: Sequence[BarSeries]) -> EngineConfig:
    """``config`` with its history bars turned into the time trading starts: they count
    from the latest first bar, where a paper run on the same files aligns its symbols."""
    if not config.history_bars:
        return config
    first = max(int(s.open_time[0]) for s in series)
    start = config.trading_from_ms(first, series[0].interval_ms)
    return replace(config, trade_from_ms=start, history_bars=0)


def build_replay(
    series: Sequence[BarSeries],
    strategy: Strategies,
    config: EngineConfig | None = None,
    params: Mapping[str, object] | None = None,
    progress: Progress | None = None,
    funding: Mapping[str, FundingSeries] | None = None,
    marks: MarkBars = NO_MARKS,
) -> Replay:
    """The replay ``run_engine`` would run, not yet run (tests inspect its exchange).

    The exchange lists the run's symbols; those the packaged universe lacks get filters
    derived from their bars (``universe_for``)."""
    series = sorted(series, key=lambda s: s.symbol)  # a step takes symbols in name order
    names = strategy_names(strategy)
    if params and len(names) > 1:
        raise ValueError("parameters apply to one strategy; run one strategy to set them")
    profile = profile_of(names, dict(params or {}))
    config = trade_start(apply_profile(config or EngineConfig(), profile), series)
    schedule, source = funding_schedule([s.symbol for s in series], config, funding)
    # A strategy's funding feature is what the exchange settles (and its fundingRate
    # history answers a running system): the schedule's rates, not the files beside it.
    settled = settled_funding(schedule, series)
    specs = [StrategySpec(name, tuple(sorted((params or {}).items()))) for name in names]
    each = [all_signals(spec, list(series), config.workers, settled) for spec in specs]
    signals = [SignalSeries.merged(parts) for parts in zip(*each, strict=True)]
    start = min(int(s.open_time[0]) for s in series)
    listed = packaged_universe()
    unlisted = {
        s.symbol: np.concatenate([s.open, s.high, s.low, s.close])
        for s in series
        if s.symbol not in listed
    }
    universe = universe_for(unlisted)
    core = MatchingCore(
        {s.symbol: universe[s.symbol] for s in series},  # the account trades these only
        config=config.sim_config(),
        funding=schedule,
        seed=config.seed,
        start_ms=start,
        rules=config.matching,
        events=False,
    )
    exit_brain = config.exit_rules is ExitRules.EXIT_BRAIN
    if config.matching.bar_model is not BarModel.PATH:
        marks = NO_MARKS  # one price (a strategy's fills-at-levels rules): the mark is the last
    elif marks.series and not any(marks.get(s.symbol) for s in series):
        marks = NO_MARKS  # none for these symbols (one account of a per-symbol split)
    runs = {
        s.symbol: SymbolRun(
            s,
            core.instrument(s.symbol),
            sig,
            FeatureSeries.of(s) if exit_brain else None,
            continuous=config.matching.continuous,
            marks=_marks_on(s, marks.get(s.symbol)),
        )
        for s, sig in zip(series, signals, strict=True)
    }
    replay = Replay(core, runs, config, progress, source, schedule)
    replay.mark_source = marks.source
    return replay


def _marks_on(series: BarSeries, marks: BarSeries | None) -> BarSeries | None:
    """``marks`` on ``series``'s bars (a window of the bars they were aligned to)."""
    if marks is None or (
        len(marks) == len(series) and np.array_equal(marks.open_time, series.open_time)
    ):
        return marks
    return align_marks(series, marks)[0]


def settled_funding(
    schedule: FundingSchedule, series: Sequence[BarSeries]
) -> dict[str, FundingSeries]:
    """Each symbol's settlements from its first bar's open to its last bar's close, as
    the exchange's fundingRate history holds them (``MatchingCore.funding_rates``)."""
    out = {}
    for s in series:
        if not len(s):
            continue
        last_close = int(s.open_time[-1]) + interval_ms(s.interval) - 1
        points = schedule.settlements(s.symbol, int(s.open_time[0]), last_close)
        out[s.symbol] = FundingSeries(
            s.symbol,
            np.array([t for t, _ in points], np.int64),
            np.array([float(r) for _, r in points], np.float64),
        )
    return out


def funding_schedule(
    symbols: Sequence[str],
    config: EngineConfig,
    funding: Mapping[str, FundingSeries] | None,
) -> tuple[FundingSchedule, str]:
    """The exchange's funding rates (``funding``: recorded ones, charged unless the config
    says not to) and how the summary names their source."""
    rate = config.funding_rate if config.funding_rate is not None else Decimal(0)
    if not config.recorded_funding:  # the files are not charged
        funding = None
    recorded = {s: funding[s] for s in symbols if funding and s in funding and len(funding[s])}
    flat = NO_FUNDING if config.funding_rate is None else flat_funding(config.funding_rate)
    if not recorded:
        source = flat
    elif len(recorded) == len(symbols):
        source = funding_from_files(len(recorded))
    else:
        source = f"{funding_from_files(len(recorded))}; {flat} for the rest"
    return recorded_schedule(recorded, rate), source


class Replay:
    """The event-driven time loop over the union of all symbols' bar times."""

    def __init__(
        self,
        core: MatchingCore,
        runs: dict[str, SymbolRun],
        config: EngineConfig,
        progress: Progress | None,
        funding_source: str = NO_FUNDING,
        schedule: FundingSchedule | None = None,
    ) -> None:
        self.core = core
        self.funding_source = funding_source
        self.mark_source = LAST_PRICE
        self.config = config
        self.desk = Desk(core, runs, config)
        self.runs = list(runs.values())
        self.progress = progress
        times = [r.series.open_time for r in self.runs]
        self.times = times[0] if len(times) == 1 else np.unique(np.concatenate(times))
        self.bar_steps = [np.searchsorted(self.times, r.series.open_time) for r in self.runs]
        self.steps = [b.tolist() for b in self.bar_steps]
        self.interval_ms = self.runs[0].interval_ms
        self.equity_book = EquityBook(len(self.runs), float(config.balance))
        self.schedule = schedule or FundingSchedule()
        self._heap: list[tuple[int, int]] = []
        self.due: list[int | None] = [None] * len(self.runs)  # step each symbol is due at
        self.visits = Visits(self.desk, self.runs, config, self.steps, self.due, self.push)

    # -- the loop ---------------------------------------------------------------------

    def run(self, strategy: str) -> BacktestResult:
        total = int(self.times.size)
        for s in range(len(self.runs)):
            self.visits.schedule_after(s, -1)
        next_funding = self.core.next_funding_ms
        report_every, next_report = max(1, total // 200), 0
        step = -1
        while True:
            k = self._heap[0][0] if self._heap else total
            if next_funding <= int(self.times[min(k, total - 1)]) and self._holding():
                k = self._funding_visit(next_funding, k)  # forced: its first symbol settles
            if k >= total:
                break
            if next_funding <= int(self.times[k]):
                next_funding = self.schedule.next_after(int(self.times[k]))
            if k != step:
                self._close_step(step)
                step = k
            due: list[int] = []
            while self._heap and self._heap[0][0] == k:
                _, s = heapq.heappop(self._heap)
                if self.due[s] == k:  # else superseded: the symbol was rescheduled
                    self.due[s] = None
                    due.append(s)
            self.visits.visit_step(k, due)
            if self.progress is not None and k >= next_report:
                self.progress(k, total)
                next_report = k + report_every
        self._close_step(step)
        self._finish()
        if self.progress is not None:
            self.progress(total, total)
        return self._result(strategy)

    def push(self, s: int, step: int | None) -> None:
        """Make symbol ``s`` due at ``step`` (None: not due)."""
        self.due[s] = step
        if step is not None:
            heapq.heappush(self._heap, (step, s))

    def _holding(self) -> bool:
        return any(r.position is not None for r in self.runs)

    def _funding_visit(self, funding_ms: int, k: int) -> int:
        """A funding time passed while positions are open: the symbol a bar-by-bar replay
        would process first at the first step after it must be visited there (the step's
        open settles the funding, every book at its open: see ``Visits.visit_step``)."""
        first = int(np.searchsorted(self.times, funding_ms))
        for step in range(first, min(k, self.times.size - 1) + 1):
            due_here = [s for s, d in enumerate(self.due) if d == step]
            holders = [
                s
                for s, r in enumerate(self.runs)
                if r.position is not None and self.visits.bar_at(s, step) is not None
            ]
            if due_here or holders:
                s = min(due_here + holders)
                if self.due[s] != step:
                    self.push(s, step)
                self.visits.sync_books(step, None)
                return step
        return k

    def _close_step(self, step: int) -> None:
        """What a step changed, for the equity curve."""
        if step < 0:
            return
        book = self.equity_book
        if self.visits.dirty:
            book.record_wallet(step, self.core.margin_floats()[0])
            self.visits.dirty = False
        for s in self.visits.changed:
            book.record_position(s, step, self.runs[s].position)
        self.visits.changed.clear()

    def _finish(self) -> None:
        last_step = int(self.times.size) - 1
        self.visits.sync_books(last_step + 1, None)
        for run in self.runs:
            last = len(run.series) - 1
            if run.position is not None:
                self.desk.close_at_end(run, last, int(run.series.open_time[last]))

    def _final_equity(self) -> float:
        """Wallet plus whatever is still open at its last close (normally nothing)."""
        upnl = 0.0
        for run in self.runs:
            p = run.position
            if p is not None:
                close = float(run.series.close[-1])
                upnl += float(p.qty) * (close - float(p.entry_price)) * p.side.sign
        return self.core.margin_floats()[0] + upnl

    def _result(self, strategy: str) -> BacktestResult:
        closes = [(r.series if r.marks is None else r.marks).close for r in self.runs]
        equity = self.equity_book.curve(int(self.times.size), self.bar_steps, closes)
        if equity.size:
            equity[-1] = self._final_equity()
        ledger = self.core.ledger()
        skipped = dict(self.desk.skipped)
        for reason, count in self.desk.orders.rejections.items():
            skipped[reason] = skipped.get(reason, 0) + count
        positions = self.desk.log.trades(self.core.funding_payments())
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
            mark_source=self.mark_source,
        )
