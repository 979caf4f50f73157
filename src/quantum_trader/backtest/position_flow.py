"""One backtest account: the services' decisions, wired together without a bus.

:class:`Desk` holds what the services hold in Redis (ledger positions, exit states,
admitted intents and executed plans, cooldowns, the risk state) and calls the pure
``decide/`` functions in the order the services do:

* signal at a bar's close -> ``admit_intent`` -> ``size_entry`` (account equity and
  available margin from the exchange) -> ``step_risk`` (account snapshot) ->
  ``check_entry_gate`` at the next open -> entry order, protective stop on the fill;
* every open position at every bar's close -> ``evaluate_exit`` -> PARTIAL / FULL_CLOSE
  through ``close_qty_for`` at the next open, UPDATE_STOP by place-new-then-cancel-old;
* every exchange fill -> ``apply_fill`` (ledger) and the trade log; a position that
  went flat -> ``TradeClosed`` into the risk guard, the symbol's cooldown starts.

Nothing here decides anything a ``decide/`` function decides; it only moves data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from quantum_trader.backtest import trades as why
from quantum_trader.backtest.config import EngineConfig
from quantum_trader.backtest.market_view import FeatureSeries
from quantum_trader.backtest.order_desk import OrderDesk, client_order_id
from quantum_trader.backtest.trade_log import TradeLog
from quantum_trader.data.bars import BarSeries
from quantum_trader.decide import reasons
from quantum_trader.decide.close_qty import (
    LivePosition,
    StopAdjustment,
    close_qty_for,
    protective_stop_after_close,
)
from quantum_trader.decide.entry_gates import GateOutcome, GateSnapshot, check_entry_gate
from quantum_trader.decide.exit_brain import evaluate_exit
from quantum_trader.decide.exit_model import ExitDecision, ExitState
from quantum_trader.decide.intent_policy import TradeIntent, UniverseSnapshot, admit_intent
from quantum_trader.decide.position_ledger import (
    LedgerPosition,
    apply_fill,
    as_open_position,
    with_ladder_stage,
    with_stop,
)
from quantum_trader.decide.reasons import Rejection
from quantum_trader.decide.risk_guard import AccountSnapshot, RiskState, TradeClosed, step_risk
from quantum_trader.decide.sizing import AccountCapacity, SizedEntry, SizingRequest, size_entry
from quantum_trader.domain.enums import PlanAction, PositionSide
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import ONE, ZERO, to_decimal
from quantum_trader.exchange.sim import MatchingCore
from quantum_trader.strategies import Signal

Pending = tuple[ExitDecision | None, str]  # None: the strategy's FLAT signal


@dataclass(slots=True, eq=False)
class SymbolRun:
    """One symbol's bars, precomputed signals and features, and its live bookkeeping."""

    series: BarSeries
    instrument: Instrument
    signals: dict[int, Signal]
    features: FeatureSeries
    position: LedgerPosition | None = None
    exit_state: ExitState | None = None
    strength_at_entry: Decimal | None = None
    stop_reason: str = why.STOP
    stop_qty: Decimal = ZERO  # quantity of the working protective stop
    pending_entry: tuple[int, Signal] | None = None  # (signal bar, signal)
    pending_exits: list[Pending] = field(default_factory=list)
    cooldown_until: int = -1
    last_bar: int = -1  # last bar index processed

    @property
    def symbol(self) -> str:
        return self.series.symbol

    def price(self, value: float) -> Decimal:
        return self.instrument.round_price(Decimal(repr(value)))


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
        self.seen_intents: frozenset[str] = frozenset()
        self.executed_plans: set[str] = set()
        self.skipped: dict[str, int] = {}
        tradable = frozenset(i.symbol for i in core.instruments())
        self._configured = frozenset(runs)
        self._tradable = tradable

    # -- bar close --------------------------------------------------------------------

    def on_close(self, run: SymbolRun, i: int, now: int) -> None:
        """Everything decided at the close of bar ``i`` (``now`` = its close time)."""
        signal = run.signals.get(i)
        last = i + 1 >= len(run.series)
        known_at = int(run.series.open_time[i]) + run.series.interval_ms
        # A strategy's FLAT signal is not an intent: as in the services, exits belong to
        # the exit brain (the signal engine publishes LONG / SHORT intents only).
        in_window = known_at >= self.config.trade_from_ms and not last
        if signal is not None and not signal.is_exit and in_window:
            run.pending_entry = (i, signal)
        if run.position is not None and run.exit_state is not None and not last:
            self._judge(run, i, now)
        run.last_bar = i

    def _judge(self, run: SymbolRun, i: int, now: int) -> None:
        position = run.position
        assert position is not None and run.exit_state is not None
        price = run.price(float(run.series.close[i]))
        features, strength = run.features.exit_features(
            i, price, position.side.sign, run.strength_at_entry
        )
        if run.strength_at_entry is None:
            run.strength_at_entry = strength
        open_position = as_open_position(position)
        state = replace(
            run.exit_state,
            ladder_stage=max(run.exit_state.ladder_stage, position.ladder_stage),
            current_stop=position.stop_price,
        )
        run.exit_state, decisions = evaluate_exit(
            open_position, state, features, run.instrument, self.exits, now
        )
        run.pending_exits.extend((d, _exit_reason(d)) for d in decisions)

    # -- bar open ---------------------------------------------------------------------

    def on_open(self, run: SymbolRun, i: int, now: int) -> None:
        """Execute what the close of bar ``i-1`` decided, at bar ``i``'s open price."""
        price = run.price(float(run.series.open[i]))
        self.core.set_price(run.symbol, price, now)
        self.collect(run, i, now)
        exits, run.pending_exits = run.pending_exits, []
        for decision, reason in exits:
            self._execute_exit(run, decision, reason, price, i, now)
        if run.pending_entry is not None:
            signal_bar, signal = run.pending_entry
            run.pending_entry = None
            self._enter(run, signal_bar, signal, i, now)

    def _enter(self, run: SymbolRun, signal_bar: int, signal: Signal, i: int, now: int) -> None:
        decided_at = int(run.series.open_time[signal_bar]) + run.series.interval_ms
        assert not signal.is_exit and isinstance(signal.side, PositionSide)
        intent = TradeIntent(
            intent_id=signal.intent_id,
            symbol=signal.symbol,
            side=signal.side,
            confidence=to_decimal(round(signal.confidence, 6)),
            strategy=signal.strategy,
            bar_time=signal.bar_time,
            created_at=decided_at,
            entry_price=run.price(signal.price),
            stop_distance=_distance(signal.stop_distance),
            take_profit_distance=(
                None
                if signal.take_profit_distance is None
                else _distance(signal.take_profit_distance)
            ),
        )
        universe = UniverseSnapshot(self._configured, self._tradable, decided_at)
        self.seen_intents, admitted = admit_intent(
            intent, self.seen_intents, universe, self.config.policy, decided_at
        )
        if isinstance(admitted, Rejection):
            return self._skip(admitted.reason)
        account = self.core.account()
        sized = size_entry(
            SizingRequest(intent.side, intent.entry_price, intent.stop_distance),
            AccountCapacity(account.margin_balance, account.available_balance),
            run.instrument,
            self.sizing,
        )
        if isinstance(sized, Rejection):
            return self._skip(sized.reason)
        gross = self._gross_exposure()
        self.risk, _ = step_risk(self.risk, self._snapshot(gross, now), self.config.risk, now)
        position = run.position
        verdict = check_entry_gate(
            GateSnapshot(
                plan_side=sized.side,
                plan_expires_at=decided_at + self.config.plan_ttl_ms,
                plan_notional=sized.notional,
                plan_seen=admitted.plan_id in self.executed_plans,
                position_side=position.side if position else None,
                position_qty=position.qty if position else ZERO,
                inflight=False,
                cooldown=now < run.cooldown_until,
                risk_mode=self.risk.mode,
                open_positions=self._open_positions(),
                gross_exposure=gross,
                allow_pyramiding=False,
                max_adds=0,
                adds_count=position.entry_orders - 1 if position else 0,
                max_open_positions=self.config.max_open_positions,
                max_gross_exposure=account.margin_balance * self.config.max_gross_exposure_ratio,
            ),
            now,
        )
        if verdict.outcome is GateOutcome.SKIP:
            return self._skip(verdict.reason or "gate")
        self.executed_plans.add(admitted.plan_id)
        self._open(run, admitted.plan_id, sized, i, now)
        return None

    def _open(self, run: SymbolRun, plan_id: str, sized: SizedEntry, i: int, now: int) -> None:
        coid = client_order_id("e", plan_id)
        if not self.orders.market(run.symbol, sized.side, sized.qty, coid, "entry", exit_=False):
            return
        self.collect(run, i, now)
        run.cooldown_until = now + self.config.cooldown_ms
        if run.position is None:
            return  # stopped out or liquidated at once: nothing left to protect
        self.protect(run, sized.stop_price, why.STOP, i, now)
        if run.position is not None:
            run.exit_state = ExitState.opening(as_open_position(run.position))
            run.strength_at_entry = None
            self.log.set_stop(run.symbol, run.position.initial_stop)

    def protect(self, run: SymbolRun, stop: Decimal, reason: str, i: int, now: int) -> None:
        """A stop for the whole position at ``stop`` (new first, then cancel the old one)."""
        position = run.position
        assert position is not None
        old = position.stop_order_id
        coid = self.orders.protective_stop(
            run.symbol, position.side, position.position_id, stop, position.qty
        )
        if coid is None:  # would trigger at once: unprotected, so leave at market
            self._close(run, position.qty, reason, f"unprotected:{stop}", i, now)
            return
        self.log.tag(coid, reason)
        run.stop_reason = reason
        run.stop_qty = position.qty
        run.position = with_stop(position, stop, coid, now)
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
        live = (
            None
            if position is None
            else LivePosition(position.position_id, position.symbol, position.side, position.qty)
        )
        if decision is not None and decision.action is PlanAction.UPDATE_STOP:
            if position is None or position.position_id != decision.position_id:
                return self._skip(reasons.STALE_POSITION if position else reasons.NO_POSITION)
            assert decision.new_stop is not None
            if decision.new_stop != position.stop_price:
                self.protect(run, decision.new_stop, reason, i, now)
            return None
        plan_position = decision.position_id if decision else (live.position_id if live else "")
        fraction = decision.fraction if decision and decision.fraction is not None else ONE
        order = close_qty_for(live, plan_position, fraction, run.instrument, price)
        if isinstance(order, Rejection):
            return self._skip(order.reason)
        purpose = decision.plan_id if decision else f"signal:{i}"
        self._close(run, order.qty, reason, purpose, i, now)
        if decision is not None and decision.action is not PlanAction.FULL_CLOSE:
            stage = run.exit_state.ladder_stage if run.exit_state else 0
            if run.position is not None:
                run.position = with_ladder_stage(run.position, stage, now)
        return None

    def _close(
        self, run: SymbolRun, qty: Decimal, reason: str, purpose: str, i: int, now: int
    ) -> None:
        position = run.position
        assert position is not None
        coid = client_order_id("x", position.position_id, purpose)
        self.orders.market(run.symbol, position.side, qty, coid, reason, exit_=True)
        self.collect(run, i, now)
        left = run.position
        if left is None or left.stop_price <= ZERO:
            return  # flat (the stop was cancelled with it) or never protected
        change = protective_stop_after_close(left.qty, run.stop_qty)
        if change.adjustment is StopAdjustment.RESIZE:
            self.protect(run, left.stop_price, run.stop_reason, i, now)
        elif change.adjustment is StopAdjustment.CANCEL:
            self.orders.cancel(run.symbol, left.stop_order_id)

    def close_at_end(self, run: SymbolRun, i: int, now: int) -> None:
        """End of data: close what is left at the last close (reason ``end``)."""
        if run.position is None:
            return
        self.core.set_price(run.symbol, run.price(float(run.series.close[i])), now)
        self.collect(run, i, now)
        if run.position is not None:
            self._close(run, run.position.qty, why.END, "end", i, now)

    # -- fills ------------------------------------------------------------------------

    def collect(self, current: SymbolRun, i: int, now: int) -> None:
        """Fold every fill the exchange reported into the ledger and the trade log.

        A fill belongs to the bar being processed (``i`` of ``current``); a fill on
        another symbol (a cross-margin liquidation) to that symbol's latest bar.
        """
        for fill in self.orders.fills():
            run = self.runs[fill.symbol]
            index = i if run is current else max(run.last_bar, 0)
            self.log.on_fill(fill, index, int(run.series.open_time[index]))
            outcome = apply_fill(run.position, fill, self.config.leverage)
            run.position = outcome.position
            if outcome.closed is not None:
                self._flat(run, outcome.closed, now)

    def _flat(self, run: SymbolRun, closed: LedgerPosition, now: int) -> None:
        self.orders.cancel(run.symbol, closed.stop_order_id)
        run.exit_state = None
        run.pending_exits = []
        run.cooldown_until = now + self.config.cooldown_ms
        pnl = closed.realized_pnl - closed.fees
        self.risk, _ = step_risk(self.risk, TradeClosed(pnl, now), self.config.risk, now)

    # -- account facts ----------------------------------------------------------------

    def _open_positions(self) -> int:
        return sum(1 for r in self.runs.values() if r.position is not None)

    def _gross_exposure(self) -> Decimal:
        return sum((p.qty * abs(p.mark_price) for p in self.core.positions()), start=ZERO)

    def _snapshot(self, gross: Decimal, now: int) -> AccountSnapshot:
        account = self.core.account()
        balance = account.margin_balance
        utilisation = account.initial_margin / balance if balance > ZERO else ONE
        return AccountSnapshot(balance, self._open_positions(), gross, utilisation, now)

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _distance(value: float) -> Decimal:
    return to_decimal(float(f"{value:.12g}"))


def _exit_reason(decision: ExitDecision) -> str:
    """The trade's exit reason for the fills of this decision's orders."""
    codes = decision.reason_codes
    if decision.action is PlanAction.UPDATE_STOP:
        if reasons.TRAILING_STOP in codes:
            return why.TRAILING_STOP
        return "break_even" if reasons.BREAK_EVEN in codes else why.STOP
    for code in codes:
        if code.startswith(reasons.HARVEST_TRANCHE):
            return code
    for code, reason in (
        (reasons.STOP_BREACHED, why.STOP),
        (reasons.KILL_SCORE, why.KILL_SCORE),
        (reasons.TIME_STOP, why.TIME_STOP),
    ):
        if code in codes:
            return reason
    return codes[0] if codes else why.STOP
