"""Which bar of which symbol the replay visits next, and what a visit does.

A visit of bar ``i`` is what a bar-by-bar replay does there: the close of a skipped
signal bar (flat symbols wake the bar after their signal), the open's pending exits and
entry, the bar itself through the matching core, the fills into the ledger, and the
close's decisions. Between visits a symbol holding a position crosses only quiet bars
(:mod:`quantum_trader.backtest.quiet_bars`); its book is caught up to the last of them
before the next visit, and every other position's book is caught up before anything
that can place an order or fill one, so the exchange sees the same prices as a replay
that walked every bar.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from decimal import Decimal

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.entries import open_entry
from quantum_trader.backtest.position_flow import Desk, SymbolRun
from quantum_trader.backtest.quiet_bars import (
    ExitBounds,
    ExitWatch,
    KillBounds,
    SolvencyGuard,
    first_exit_bar,
    first_touch,
    widened,
)
from quantum_trader.decide.harvest_ladder import break_even_stop, tighten, trigger_r
from quantum_trader.strategies import FLAT


class Visits:
    """The replay's per-symbol visiting logic (see module docstring)."""

    def __init__(
        self,
        desk: Desk,
        runs: list[SymbolRun],
        config: EngineConfig,
        steps: list[list[int]],
        due: list[int | None],
        push: Callable[[int, int | None], None],
    ) -> None:
        """``steps``: each symbol's bars as steps of the replay's clock; ``due``: the
        step each symbol is due at; ``push`` schedules a symbol at a step (None: off)."""
        self.desk = desk
        self.core = desk.core
        self.runs = runs
        self.steps, self.due, self.push = steps, due, push
        self.skip = config.skip_quiet_bars
        self.guard = SolvencyGuard()
        self.kill = KillBounds.of(self.desk.exits.kill)
        self.bounds: dict[int, ExitBounds] = {}  # per symbol, built on first need
        self.changed: set[int] = set()  # symbols whose position changed this step
        self.dirty = False  # the wallet changed this step
        self.index = {r.symbol: s for s, r in enumerate(self.runs)}
        self.close_time = [r.series.open_time + r.interval_ms for r in self.runs]
        self.tick = [float(r.instrument.tick_size) for r in self.runs]
        self.max_ratio = [
            max(float(b.maint_margin_ratio) for b in r.instrument.brackets) for r in self.runs
        ]
        entry_sides = config.sides
        self.entry_bars: list[list[int]] = []
        self.held_bars: list[list[int]] = []
        for run in self.runs:
            sides = run.signals.sides
            wakes = [i for i, side in sides.items() if side is not FLAT and side in entry_sides]
            held = [i for i, side in sides.items() if side is not FLAT or config.signal_exit]
            if not self.skip:  # bar-by-bar: wake after every signal, as before skipping
                wakes = held = list(sides)
            self.entry_bars.append(sorted(wakes))
            self.held_bars.append(sorted(set(held) | set(wakes)))

    # -- bars and steps ---------------------------------------------------------------

    def bar_at(self, s: int, step: int) -> int | None:
        steps = self.steps[s]
        i = bisect_left(steps, step)
        return i if i < len(steps) and steps[i] == step else None

    def latest_bar(self, s: int, step: int) -> int:
        """The last bar of symbol ``s`` at or before ``step`` (-1: none yet)."""
        return bisect_right(self.steps[s], step) - 1

    # -- one step ---------------------------------------------------------------------

    def visit_step(self, k: int, due: list[int]) -> None:
        """Step ``k`` for the symbols due at it, as the running system takes a bar: the
        closes decided; every book at this step's open, where the feed reads the sizing
        basis (the exchange clock at the open: funding due settles first); every exit,
        then every entry; then every symbol's bar."""
        if not due:
            return  # every symbol once due here was rescheduled
        before = (self.desk.fills_seen, self.core.ledger().funding)
        for s in due:
            self.decide_phase(s, k)
        runs, core = self.runs, self.core
        t = int(runs[due[0]].series.open_time[self._bar(due[0], k)])
        entering = [s for s in due if runs[s].pending_entry is not None]
        pending = [runs[s].pending_entry is not None or bool(runs[s].pending_exits) for s in due]
        if any(pending) or core.next_funding_ms <= t:
            self.sync_books(k, None, opening=True)
            core.advance_time(t)
        if entering:
            run = runs[entering[0]]
            decided = int(run.series.open_time[run.pending_entry])
            self.desk.sizing_account = (decided, core.margin_summary())
        self.desk.hold_risk()
        for s, was in zip(due, pending, strict=True):
            if was:
                self.desk.on_open(runs[s], self._bar(s, k), t)
        for s in entering:
            open_entry(self.desk, runs[s], self._bar(s, k), t)
        self.desk.release_risk()
        for s, was in zip(due, pending, strict=True):
            self.bar_phase(s, k, was, before)

    def _bar(self, s: int, k: int) -> int:
        i = self.bar_at(s, k)
        assert i is not None, "a symbol is only due at a step where it has a bar"
        return i

    def decide_phase(self, s: int, k: int) -> None:
        """The closes a skipped bar left to decide, decided before this step's open."""
        run, desk = self.runs[s], self.desk
        i = self._bar(s, k)
        series = run.series
        if run.position is None:
            if i > 0 and run.last_bar < i - 1:
                desk.on_close(run, i - 1, int(series.open_time[i]))  # skipped while flat
        else:
            if run.book_bar < i - 1:  # quiet bars: the book takes the last one's close
                close = run.price(float(series.close[i - 1]))
                self.core.quiet_price(run.symbol, close, run.mark_close(i - 1))
                run.book_bar = i - 1
            if run.last_bar < i - 1 and i - 1 in run.signals.sides:
                # A quiet bar with a signal at its close: decided now, before this open.
                desk.on_close(run, i - 1, int(self.close_time[s][i - 1]))

    def bar_phase(self, s: int, k: int, pending: bool, before: tuple[int, Decimal]) -> None:
        """The bar itself through the matching core, its fills, its close's decisions
        (``before``: the fill and funding counters at the step's start)."""
        run, desk, core = self.runs[s], self.desk, self.core
        i = self._bar(s, k)
        series = run.series
        t = int(series.open_time[i])
        fills, funding = before
        if not pending or run.position is not None or desk.fills_seen != fills:
            if pending or (run.position is not None and self._touches(s, i)):
                self.sync_books(k, s)
            o, h, low, c = (
                run.price(float(x))
                for x in (series.open[i], series.high[i], series.low[i], series.close[i])
            )
            core.on_bar(run.symbol, t, o, h, low, c, interval=series.interval, mark=run.mark_bar(i))
            run.book_bar = i
            desk.collect(run, i, t)
        # else: still flat, nothing traded: the bar could only move a book no order rests on
        desk.on_close(run, i, t + run.interval_ms)
        if desk.fills_seen != fills or core.ledger().funding != funding:
            self._account_event(s, k)
        self.schedule_after(s, i)

    def sync_books(self, step: int, current: int | None, opening: bool = False) -> None:
        """Bring every position's book to the price the running system shows while
        symbol ``current`` is processed at ``step``: at the step's open every book is at
        its open (``opening``); during the bars, the symbols before ``current`` are at
        this step's close and the others still at its open (``current`` None: before any
        step, every book at the previous close)."""
        for b, run in enumerate(self.runs):
            if run.position is None or b == current:
                continue
            if current is not None and b < current and not opening:
                target = self.latest_bar(b, step)
            else:
                j = self.bar_at(b, step) if current is not None or opening else None
                if j is not None and run.book_bar < j:
                    opening_price = run.price(float(run.series.open[j]))
                    self.core.quiet_price(run.symbol, opening_price, run.mark_open(j))
                    run.book_bar = j - 1
                    continue
                target = self.latest_bar(b, step - 1)
            if target > run.book_bar:
                close = run.price(float(run.series.close[target]))
                self.core.quiet_price(run.symbol, close, run.mark_close(target))
                run.book_bar = target

    def _account_event(self, s: int, k: int) -> None:
        """Fills or funding changed the account: new solvency guards, and symbols a fill
        flattened (a liquidation) wait for their next signal again."""
        desk = self.desk
        self.dirty = True
        for symbol in desk.touched:
            b = self.index[symbol]
            self.changed.add(b)
            if b != s and self.runs[b].position is None:
                self.schedule_after(b, self.runs[b].last_bar)
        desk.touched.clear()
        if not self.skip:
            return
        wallet, positions = self.core.margin_floats()
        marks: dict[str, float] = {}
        maintenance: dict[str, tuple[float, float]] = {}
        for symbol, (qty, _) in positions.items():
            b = self.index[symbol]
            latest = max(self.latest_bar(b, k), 0)
            marks[symbol] = self.runs[b].mark_close_f(latest)
            notional = abs(qty * marks[symbol])
            maintenance[symbol] = (self.core.maintenance_f(symbol, notional), self.max_ratio[b])
        for symbol in self.guard.update(wallet, positions, marks, maintenance):
            b = self.index[symbol]
            due = self.due[b]
            if b == s or (due is None and self.runs[b].position is None):
                continue
            steps = self.steps[b]
            start = bisect_right(steps, k) if b < s else bisect_left(steps, k)
            end = len(steps) if due is None else bisect_left(steps, due)
            j = self._first_touch(b, start, end)
            if j < end:
                self.push(b, steps[j])

    # -- when next --------------------------------------------------------------------

    def schedule_after(self, s: int, i: int) -> None:
        """Symbol ``s`` has been processed through bar ``i``: when is it next due?"""
        bar = self.next_due(s, i)
        self.push(s, None if bar is None else self.steps[s][bar])

    def next_due(self, s: int, i: int) -> int | None:
        """The next bar of symbol ``s`` to visit after bar ``i`` (None: none)."""
        run = self.runs[s]
        n = len(run.series)
        if i + 1 >= n:
            return None
        if run.pending_entry is not None or run.pending_exits:
            return i + 1
        if run.position is not None:
            if not self.skip:
                return i + 1
            held = self.held_bars[s]
            at = bisect_right(held, i)
            if at == len(held):
                j = self._first_event(s, i + 1, n)
                return j if j < n else None
            signal = held[at]
            j = self._first_event(s, i + 1, min(signal + 2, n))
            if j <= signal:
                return j
            # The signal bar is quiet too: its close is taken at the next bar's visit,
            # and no close up to bar j - 1 needs the exit brain.
            run.quiet_until = j - 1
            return signal + 1 if signal + 1 < n else None
        wakes = self.entry_bars[s]
        at = bisect_right(wakes, i)
        if at == len(wakes) or wakes[at] + 1 >= n:
            return None
        return wakes[at] + 1

    def _band(self, s: int) -> tuple[float, float]:
        run = self.runs[s]
        down, up = self.core.trigger_band(run.symbol)
        if run.position is not None:
            low, high = self.guard.band(run.symbol, run.position.side.sign > 0)
            down, up = max(down, low), min(up, high)
        return widened(down, up, self.tick[s])

    def _touches(self, s: int, i: int) -> bool:
        down, up = self._band(s)
        run = self.runs[s]
        return bool(run.reach_low[i] <= down or run.reach_high[i] >= up)

    def _first_touch(self, s: int, start: int, stop: int) -> int:
        down, up = self._band(s)
        run = self.runs[s]
        return first_touch(run.reach_low, run.reach_high, start, stop, down, up)

    def _first_event(self, s: int, start: int, stop: int) -> int:
        j = self._first_touch(s, start, stop)
        run = self.runs[s]
        if run.exit_state is None or run.features is None or j <= start:
            return j
        watch = self._watch(run, start)
        if watch is None:
            return start
        bounds = self.bounds.get(s)
        if bounds is None:
            bounds = self.bounds[s] = ExitBounds(run.features, self.kill, self.tick[s])
        return first_exit_bar(watch, bounds, self.close_time[s], start, j)

    def _watch(self, run: SymbolRun, start: int) -> ExitWatch | None:
        """The exit brain's view of ``run``'s position before bar ``start``, as floats."""
        position, state = run.position, run.exit_state
        assert position is not None and state is not None
        if run.strength_at_entry is None:
            return None  # judged once at its entry bar's close before any bar is skipped
        exits = self.desk.exits
        harvest, side = exits.harvest, position.side
        stage = max(state.ladder_stage, position.ladder_stage)
        tranche_r = (
            float(trigger_r(harvest.tranches[stage], position.leverage, harvest))
            if stage < len(harvest.tranches)
            else None
        )
        break_even_due = False
        if harvest.break_even_after_first_tranche and stage >= 1:
            level = break_even_stop(
                side, position.entry_price, exits.taker_fee_rate, run.instrument.tick_size
            )
            break_even_due = tighten(side, position.stop_price, level) != position.stop_price
        best = float(state.best_price)
        if run.judged_bar + 1 < start:  # closes since the last judgement count as well
            closes = run.series.close[run.judged_bar + 1 : start]
            best = max(best, float(closes.max())) if side.sign > 0 else min(best, closes.min())
        entry = float(position.entry_price)
        risk = abs(entry - float(position.initial_stop))
        if not risk > 0.0 or not math.isfinite(risk):
            return None
        return ExitWatch(
            sign=side.sign,
            entry=entry,
            risk=risk,
            stop=float(position.stop_price),
            best=float(best),
            opened_at=position.opened_at,
            strength_at_entry=float(run.strength_at_entry),
            tranche_r=tranche_r,
            break_even_due=break_even_due,
            trail_r=float(harvest.trail_activation_r),
            trail_atr_multiple=float(harvest.trail_atr_multiple),
            max_holding_ms=exits.max_holding_ms,
            kill=self.kill,
        )
