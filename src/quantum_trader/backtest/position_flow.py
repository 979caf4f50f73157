"""One backtest account: the services' decisions, wired together without a bus.

:class:`Desk` holds what the services hold in Redis (ledger positions, exit states,
admitted intents and executed plans, cooldowns, the risk state) and calls the pure
``decide/`` functions in the order the services do:

* signal at a bar's close -> the entry path of :mod:`quantum_trader.backtest.entries`
  (which drives this desk: it imports this module, never the other way round)
  (``entry_plan.admit`` -> ``entry_plan.size_admitted`` -> ``step_risk`` ->
  ``check_entry_gate``) at the next open -> entry order, protective stop (and, with
  fixed exits, a target) on the fill;
* every open position at every bar's close -> ``judge_position`` (the exit brain's);
  its decisions execute at the next open through ``exit_step`` and ``after_close``
  (:mod:`quantum_trader.decide.exit_execution`), as the apply layer executes their plans:
  the same refusals, close quantities, labels, stop re-placement and ladder stage; with
  ``signal_exit`` a strategy's FLAT signal is a full close at the next open too;
* every order is one of :mod:`quantum_trader.decide.order_requests` (the same types,
  flags and client ids as live);
* every exchange fill -> ``apply_fill`` (ledger) and the trade log; a position that
  went flat -> ``position_closed`` (:mod:`quantum_trader.decide.position_close`): its
  round trip into the risk guard, the symbol's cooldown extended, as in the services.

Nothing here decides anything a ``decide/`` function decides; it only moves data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

import quantum_trader.decide.exit_labels as why
from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.market_view import FeatureSeries
from quantum_trader.backtest.order_desk import OrderDesk
from quantum_trader.backtest.signals import SignalSeries
from quantum_trader.backtest.trade_log import TradeLog
from quantum_trader.data.bars import BarSeries, FloatArray
from quantum_trader.decide.exit_brain import judge_position
from quantum_trader.decide.exit_execution import (
    STOP_UNCHANGED,
    ExitRequest,
    MoveStop,
    Skip,
    after_close,
    exit_step,
)
from quantum_trader.decide.exit_model import ExitDecision, ExitState, exit_plan_id
from quantum_trader.decide.harvest_ladder import tighten
from quantum_trader.decide.order_requests import exit_order, stop_order, unprotected_exit
from quantum_trader.decide.position_close import extended, plan_cooldown_ms, position_closed
from quantum_trader.decide.position_ledger import (
    LedgerPosition,
    apply_fill,
    with_ladder_stage,
    with_stop,
)
from quantum_trader.decide.risk_guard import RiskInput, RiskState, step_risk
from quantum_trader.domain.enums import ExitRules, PlanAction
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ZERO
from quantum_trader.domain.orders import OrderRequest
from quantum_trader.exchange.sim import MatchingCore
from quantum_trader.exchange.sim.execution import MarginSummary
from quantum_trader.strategies import FLAT

Pending = tuple[ExitDecision | None, str]  # None: the strategy's FLAT signal


@dataclass(slots=True, eq=False)
class SymbolRun:
    """One symbol's bars, precomputed signals and features, and its live bookkeeping."""

    series: BarSeries
    instrument: Instrument
    signals: SignalSeries
    features: FeatureSeries | None  # the exit brain's market features (None: no exit brain)
    continuous: bool = False  # prices as written in the data, not rounded to the tick
    marks: BarSeries | None = None  # the mark's own bars on the same open times (None: last)
    position: LedgerPosition | None = None
    exit_state: ExitState | None = None
    strength_at_entry: Decimal | None = None
    stop_reason: str = why.STOP
    stop_qty: Decimal = ZERO  # quantity of the working protective stop
    target_order_id: str = ""  # the working fixed take-profit, if any
    pending_entry: int | None = None  # the bar whose signal enters at the next open
    pending_exits: list[Pending] = field(default_factory=list)
    cooldown_until: int = -1
    last_bar: int = -1  # last bar whose close was handled
    book_bar: int = -1  # last bar the exchange's book of this symbol reflects
    judged_bar: int = -1  # last bar whose close the exit brain judged
    quiet_until: int = -1  # closes up to this bar are known to need no judging
    interval_ms: int = field(init=False, default=0)
    _unit_tick: Decimal | None = field(init=False, default=None)  # the tick if it is 10**-k
    # The lowest / highest price of each bar that an order or liquidation can act on:
    # the last price's range, widened by the mark's when the mark has its own bars.
    reach_low: FloatArray = field(init=False, repr=False)
    reach_high: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.interval_ms = self.series.interval_ms
        self.reach_low, self.reach_high = self.series.low, self.series.high
        if self.marks is not None:
            self.reach_low = np.minimum(self.series.low, self.marks.low)
            self.reach_high = np.maximum(self.series.high, self.marks.high)
        unit = self.instrument.tick_size.normalize()  # "0.10" -> 0.1: quantizing rounds to it
        digits, exponent = unit.as_tuple().digits, unit.as_tuple().exponent
        if digits == (1,) and isinstance(exponent, int) and exponent <= 0:
            self._unit_tick = unit

    @property
    def symbol(self) -> str:
        return self.series.symbol

    def mark_open(self, i: int) -> Decimal | None:
        """Bar ``i``'s mark at its open, as written (a mark has more decimals than the
        tick); None: the mark is the last price."""
        return None if self.marks is None else Decimal(repr(float(self.marks.open[i])))

    def mark_close(self, i: int) -> Decimal | None:
        return None if self.marks is None else Decimal(repr(float(self.marks.close[i])))

    def mark_close_f(self, i: int) -> float:
        """Bar ``i``'s closing mark as a float (the last price's close without marks)."""
        return float((self.series if self.marks is None else self.marks).close[i])

    def mark_bar(self, i: int) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
        m = self.marks
        if m is None:
            return None
        o, h, low, c = (
            Decimal(repr(float(x))) for x in (m.open[i], m.high[i], m.low[i], m.close[i])
        )
        return o, h, low, c

    def price(self, value: float) -> Decimal:
        """A bar price as written (its shortest repr), on the tick unless continuous."""
        exact = Decimal(repr(value))
        if self.continuous:
            return exact
        if self._unit_tick is not None:  # round_price's result, without its division
            nearest = exact.quantize(self._unit_tick, rounding=ROUND_HALF_EVEN)
            return nearest.quantize(self.instrument.tick_size)
        return self.instrument.round_price(exact)


class Desk:
    """The apply layer, ledger, exit brain and risk guard of one backtest account."""

    def __init__(self, core: MatchingCore, runs: dict[str, SymbolRun], config: EngineConfig):
        self.core = core
        self.runs = runs
        self.config = config
        self.log = TradeLog()
        self.orders = OrderDesk(core, self.log)
        self.sizing = config.sizing_config()
        self.exits = config.exit_config()
        self.risk = RiskState()
        self.admitted: dict[str, int] = {}  # intent id -> expiry, as the intent bridge keeps
        self.seen_intents: frozenset[str] = frozenset()
        self.executed_plans: set[str] = set()
        self.skipped: dict[str, int] = {}
        self.risk_later: list[tuple[RiskInput, int]] | None = None  # see ``hold_risk``
        self.configured = frozenset(runs)
        self.tradable = frozenset(i.symbol for i in core.instruments())
        self.fills_seen = 0
        self.sizing_account: tuple[int, MarginSummary] | None = None  # (bar time, account)
        self.touched: set[str] = set()  # symbols with fills since the replay last looked
        self.exit_brain = config.exit_rules is ExitRules.EXIT_BRAIN

    # -- bar close --------------------------------------------------------------------

    def on_close(self, run: SymbolRun, i: int, now: int) -> None:
        """Everything decided at the close of bar ``i`` (``now`` = its close time)."""
        side = run.signals.sides.get(i)
        last = i + 1 >= len(run.series)
        known_at = int(run.series.open_time[i]) + run.interval_ms
        # A strategy's FLAT signal is not an intent: as in the services, exits belong to
        # the exit brain (the signal engine publishes LONG / SHORT intents only) — unless
        # the strategy's rules make it a signal exit.
        in_window = known_at >= self.config.trade_from_ms and not last
        if side is not None and in_window:
            if side is not FLAT:
                if side in self.config.sides:
                    run.pending_entry = i
            elif self.config.signal_exit and run.position is not None:
                run.pending_exits.append((None, why.SIGNAL))
        # A close the quiet-bar bounds cleared (``quiet_until``) would propose nothing.
        judged = run.position is not None and run.exit_state is not None
        if judged and not last and i > run.quiet_until:
            self._judge(run, i, now)
        run.last_bar = i

    def _judge(self, run: SymbolRun, i: int, now: int) -> None:
        position, features = run.position, run.features
        assert position is not None and run.exit_state is not None and features is not None
        price = run.price(float(run.series.close[i]))
        best = run.exit_state.best_price
        if run.judged_bar + 1 < i:  # quiet bars were skipped: fold in their best close
            closes = run.series.close[run.judged_bar + 1 : i]
            k = int(closes.argmax() if position.side.sign > 0 else closes.argmin())
            best = tighten(position.side, best, run.price(float(closes[k])))
        run.judged_bar = i
        exit_features, strength = features.exit_features(
            i, price, position.side.sign, run.strength_at_entry
        )
        if run.strength_at_entry is None:
            run.strength_at_entry = strength
        state = replace(run.exit_state, best_price=best)
        run.exit_state, decisions = judge_position(
            position, state, exit_features, run.instrument, self.exits, now
        )
        run.pending_exits.extend((d, why.exit_label(d.action, d.reason_codes)) for d in decisions)

    # -- bar open ---------------------------------------------------------------------

    def on_open(self, run: SymbolRun, i: int, now: int) -> Decimal:
        """Execute the exits the close of bar ``i-1`` decided, at bar ``i``'s open price
        (returned: the entry it decided, if any, follows at that price — see
        :func:`quantum_trader.backtest.entries.open_entry`)."""
        price = run.price(float(run.series.open[i]))
        self.core.set_price(run.symbol, price, now, run.mark_open(i))
        self.collect(run, i, now)
        exits, run.pending_exits = run.pending_exits, []
        for decision, reason in exits:
            self._execute_exit(run, decision, reason, price, i, now)
        return price

    def protect(self, run: SymbolRun, stop: Decimal, reason: str, i: int, now: int) -> None:
        """A stop for the whole position at ``stop`` (new first, then cancel the old one)."""
        position = run.position
        assert position is not None
        old = position.stop_order_id
        coid = self.orders.conditional(stop_order(position, stop))
        if coid is None:  # would trigger at once: unprotected, so leave at market
            self._closing(run, unprotected_exit(position), reason, i, now)
            return
        self.log.tag(coid, reason)
        run.stop_reason = reason
        run.stop_qty = position.qty
        run.position = with_stop(position, stop, coid, now)
        self.log.stop_at(run.symbol, stop, int(run.series.open_time[i]))
        if old and old != coid:
            self.orders.cancel(run.symbol, old)

    def _execute_exit(
        self,
        run: SymbolRun,
        decision: ExitDecision | None,
        reason: str,
        price: Decimal,
        i: int,
        now: int,
    ) -> None:
        position = run.position
        request = (
            ExitRequest.of(decision)
            if decision is not None
            else ExitRequest(
                exit_plan_id(position.position_id, f"signal:{i}") if position else "",
                position.position_id if position else "",
                PlanAction.FULL_CLOSE,
                label=reason,
            )
        )
        mark = run.mark_open(i)  # the position's mark, as the apply layer reads it
        step = exit_step(
            request,
            position,
            position.qty if position else None,
            run.instrument,
            price if mark is None else mark,
        )
        if isinstance(step, Skip):
            if step.reason != STOP_UNCHANGED:
                self.skip(step.reason)
            return
        if isinstance(step, MoveStop):
            self.protect(run, step.stop_price, step.label, i, now)
            return
        self._closing(run, step.order, step.label, i, now, request)

    def close(
        self, run: SymbolRun, qty: Decimal, reason: str, plan_id: str, i: int, now: int
    ) -> None:
        """Close ``qty`` at market for the exit plan ``plan_id`` (the end of the data, a
        target already crossed)."""
        position = run.position
        assert position is not None
        request = ExitRequest(plan_id, position.position_id, PlanAction.FULL_CLOSE, label=reason)
        order = exit_order(plan_id, run.symbol, position.side, qty)
        self._closing(run, order, reason, i, now, request)

    def _closing(
        self,
        run: SymbolRun,
        order: OrderRequest,
        reason: str,
        i: int,
        now: int,
        request: ExitRequest | None = None,
    ) -> None:
        """Send a market exit, fold its fills, then cancel or re-place the stop and record
        the ladder stage (:func:`~quantum_trader.decide.exit_execution.after_close`)."""
        before = run.position
        sent = self.orders.send(order, reason)
        self.collect(run, i, now)
        if request is not None and sent:  # an exit plan executed: its own cooldown
            cooldown = plan_cooldown_ms(request.action, True, self.config.apply.cooldown_ms)
            run.cooldown_until = max(run.cooldown_until, now + cooldown)
        if request is None or run.position is None:
            return  # flat: the stop went with it (collect cancels it)
        follow = after_close(request, before, run.position)
        if follow.replace_stop:
            self.protect(run, run.position.stop_price, run.stop_reason, i, now)
        if follow.ladder_stage and run.position is not None:
            run.position = with_ladder_stage(run.position, follow.ladder_stage, now)

    def close_at_end(self, run: SymbolRun, i: int, now: int) -> None:
        """End of data: close what is left at the last close (reason ``end``)."""
        if run.position is None:
            return
        self.core.set_price(
            run.symbol, run.price(float(run.series.close[i])), now, run.mark_close(i)
        )
        self.collect(run, i, now)
        if run.position is not None:
            plan_id = exit_plan_id(run.position.position_id, "end")
            self.close(run, run.position.qty, why.END, plan_id, i, now)

    # -- fills ------------------------------------------------------------------------

    def collect(self, current: SymbolRun, i: int, now: int) -> None:
        """Fold every fill the exchange booked into the ledger and the trade log.

        A fill belongs to the bar being processed (``i`` of ``current``); a fill on
        another symbol (a cross-margin liquidation) to that symbol's latest bar.
        """
        fills = self.core.fills_from(self.fills_seen)
        if not fills:
            return
        self.fills_seen += len(fills)
        for fill in fills:
            self.touched.add(fill.symbol)
            run = self.runs[fill.symbol]
            index = i if run is current else max(run.book_bar, 0)
            self.log.on_fill(fill, index, int(run.series.open_time[index]))
            outcome = apply_fill(run.position, fill, self.config.leverage)
            run.position = outcome.position
            if outcome.closed is not None:
                self._flat(run, outcome.closed, fill.ts, now)

    def _flat(self, run: SymbolRun, closed: LedgerPosition, fill_ts: int, now: int) -> None:
        self.orders.cancel(run.symbol, closed.stop_order_id)
        self.orders.cancel(run.symbol, run.target_order_id)
        run.target_order_id = ""
        run.exit_state = None
        run.pending_exits = []
        after = position_closed(closed, fill_ts, self.config.apply.cooldown_ms)
        run.cooldown_until = extended(run.cooldown_until, after)
        if not self.config.risk_guard:
            return
        if self.risk_later is not None:
            self.risk_later.append((after.trade, now))
        else:
            self.risk, _ = step_risk(self.risk, after.trade, self.config.risk, now)

    def hold_risk(self) -> None:
        """From now on, closed trades reach the risk guard only at :meth:`release_risk`:
        a trade closed at a bar's open (an exit executed there, a stop the open gapped
        through) is counted by the running risk guard at its next tick, after the
        entries decided at that open were gated."""
        self.risk_later = []

    def release_risk(self) -> None:
        held, self.risk_later = self.risk_later or [], None
        for trade, now in held:
            self.risk, _ = step_risk(self.risk, trade, self.config.risk, now)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
