"""The entry path of one backtest account, as the intent bridge and apply layer run it.

signal at a bar's close -> ``TradeIntent`` (the signal engine's ``price_distance``) ->
``decide.entry_plan``: ``admit`` then ``size_admitted`` (the bridge's own two steps; the
account read once per decided bar, as the bridge does) -> ``step_risk`` on an account
snapshot -> ``check_entry_gate`` at the next open -> a MARKET entry whose client id
derives from the plan id -> on its fill a reduce-only protective stop (the sized one; with
fixed exits ``entry_plan.fixed_levels`` of the fill price, stop and target both as
exchange orders).

Every account read is one ``core.margin_summary()`` per admitted intent (the totals of
``account()``): sizing, the risk snapshot and the gate see the same instant.
"""

from __future__ import annotations

from decimal import Decimal

import quantum_trader.decide.exit_labels as why
from quantum_trader.backtest.position_flow import Desk, SymbolRun
from quantum_trader.decide.entry_gates import (
    GateOutcome,
    GateSnapshot,
    check_entry_gate,
    gate_exposure,
)
from quantum_trader.decide.entry_plan import (
    EntrySizingRules,
    admit,
    fixed_levels,
    price_distance,
    size_admitted,
)
from quantum_trader.decide.exit_model import ExitState, exit_plan_id
from quantum_trader.decide.intent_policy import AdmittedIntent, TradeIntent, UniverseSnapshot
from quantum_trader.decide.order_requests import entry_order, target_order
from quantum_trader.decide.position_close import plan_cooldown_ms
from quantum_trader.decide.position_ledger import as_open_position, judgeable
from quantum_trader.decide.reasons import Rejection
from quantum_trader.decide.risk_guard import account_snapshot, step_risk
from quantum_trader.decide.sizing import AccountCapacity, SizedEntry
from quantum_trader.domain.enums import ExitRules, PlanAction, PositionSide
from quantum_trader.domain.money import ZERO, to_decimal
from quantum_trader.exchange.sim.execution import MarginSummary
from quantum_trader.strategies import Signal

PRUNE_AT = 256  # admitted intent ids kept before the expired ones are dropped


def open_entry(desk: Desk, run: SymbolRun, i: int, now: int) -> None:
    """The entry the last close decided, at bar ``i``'s open (after every exit of it)."""
    if run.pending_entry is not None:
        signal_bar, run.pending_entry = run.pending_entry, None
        enter(desk, run, signal_bar, run.price(float(run.series.open[i])), i, now)


def enter(desk: Desk, run: SymbolRun, signal_bar: int, price: Decimal, i: int, now: int) -> None:
    """The entry signals of ``signal_bar`` at bar ``i``'s open (``price``), each through
    every check in the strategies' order: the first that passes opens, the gate skips the
    rest (``position_exists``, ``cooldown``) as it skips their plans in the services."""
    for signal in run.signals.entries(signal_bar):
        if signal.side in desk.config.sides:
            _enter(desk, run, signal, signal_bar, price, i, now)


def _enter(
    desk: Desk, run: SymbolRun, signal: Signal, signal_bar: int, price: Decimal, i: int, now: int
) -> None:
    config = desk.config
    decided_at = int(run.series.open_time[signal_bar]) + run.interval_ms
    assert not signal.is_exit and isinstance(signal.side, PositionSide)
    intent = TradeIntent(
        intent_id=signal.intent_id,
        symbol=signal.symbol,
        side=signal.side,
        confidence=to_decimal(signal.confidence),
        strategy=signal.strategy,
        bar_time=signal.bar_time,
        created_at=decided_at,
        entry_price=run.price(signal.price),
        stop_distance=price_distance(signal.stop_distance),
        take_profit_distance=(
            None
            if signal.take_profit_distance is None
            else price_distance(signal.take_profit_distance)
        ),
    )
    universe = UniverseSnapshot(desk.configured, desk.tradable, decided_at)
    desk.seen_intents, admitted = admit(
        intent, desk.seen_intents, universe, config.policy, decided_at
    )
    if isinstance(admitted, Rejection):
        return desk.skip(admitted.reason)
    _remember(desk, intent.intent_id, admitted.expires_at, decided_at)
    account = desk.core.margin_summary()
    sized = _size(desk, run, admitted, price, _sizing_account(desk, signal.bar_time, account))
    if isinstance(sized, Rejection):
        return desk.skip(sized.reason)
    gross = account.gross_notional
    open_positions = sum(1 for r in desk.runs.values() if r.position is not None)
    if config.risk_guard:
        snapshot = account_snapshot(
            account.margin_balance, account.initial_margin, open_positions, gross, now
        )
        desk.risk, _ = step_risk(desk.risk, snapshot, config.risk, now)
    position = run.position
    verdict = check_entry_gate(
        GateSnapshot(
            plan_side=sized.side,
            plan_expires_at=decided_at + config.policy.plan_ttl_ms,
            plan_notional=sized.notional,
            plan_seen=admitted.plan_id in desk.executed_plans,
            position_side=position.side if position else None,
            position_qty=position.qty if position else ZERO,
            inflight=False,
            cooldown=now < run.cooldown_until,
            risk_mode=desk.risk.mode,
            open_positions=open_positions,
            gross_exposure=gate_exposure(
                (r.position.qty, r.position.entry_price)
                for r in desk.runs.values()
                if r.position is not None
            ),
            allow_pyramiding=config.gate.allow_pyramiding,
            max_adds=config.gate.max_adds,
            adds_count=position.entry_orders - 1 if position else 0,
            max_open_positions=config.gate.max_open_positions,
            max_gross_exposure=config.gate.max_gross_exposure,
        ),
        now,
    )
    if verdict.outcome is GateOutcome.SKIP:
        return desk.skip(verdict.reason or "gate")
    desk.executed_plans.add(admitted.plan_id)
    _open(desk, run, admitted.plan_id, sized, signal, i, now)
    return None


def _sizing_account(desk: Desk, bar_time: int, fresh: MarginSummary) -> MarginSummary:
    """The account every entry of one decided bar is sized from: read for the first of
    them, as the intent bridge reads it."""
    if desk.sizing_account is None or desk.sizing_account[0] != bar_time:
        desk.sizing_account = (bar_time, fresh)
    return desk.sizing_account[1]


def _remember(desk: Desk, intent_id: str, expires_at: int, now: int) -> None:
    """Keep the admitted id; drop expired ones now and then, as the intent bridge does on
    each universe refresh (an expired intent is refused on its TTL anyway)."""
    desk.admitted[intent_id] = expires_at
    if len(desk.admitted) >= PRUNE_AT:
        desk.admitted = {k: until for k, until in desk.admitted.items() if until >= now}
        desk.seen_intents = frozenset(desk.admitted)


def _size(
    desk: Desk, run: SymbolRun, admitted: AdmittedIntent, price: Decimal, account: MarginSummary
) -> SizedEntry | Rejection:
    rules = EntrySizingRules(desk.config.entry_sizing, run.continuous)
    capacity = AccountCapacity(account.margin_balance, account.available_balance)
    return size_admitted(admitted, capacity, run.instrument, desk.sizing, rules, price)


def _open(
    desk: Desk, run: SymbolRun, plan_id: str, sized: SizedEntry, signal: Signal, i: int, now: int
) -> None:
    order = entry_order(plan_id, run.symbol, sized.side, sized.qty)
    desk.log.entered_by(order.client_order_id, signal.strategy)  # the trade's strategy
    if not desk.orders.send(order, "entry"):
        return
    desk.collect(run, i, now)
    cooldown = plan_cooldown_ms(PlanAction.OPEN, True, desk.config.apply.cooldown_ms)
    run.cooldown_until = max(run.cooldown_until, now + cooldown)
    if run.position is None:
        return  # stopped out or liquidated at once: nothing left to protect
    run.judged_bar = i - 1  # the exit brain's first look is this bar's close
    run.quiet_until = -1
    if desk.config.exit_rules is ExitRules.FIXED:
        _fixed_exits(desk, run, signal, i, now)
        return
    desk.protect(run, sized.stop_price, why.STOP, i, now)
    if run.position is not None:
        # as the exit brain service: a fill at or through its stop is left to that stop
        judged = judgeable(run.position)
        run.exit_state = ExitState.opening(as_open_position(run.position)) if judged else None
        run.strength_at_entry = None
        desk.log.set_stop(run.symbol, run.position.initial_stop)


def _fixed_exits(desk: Desk, run: SymbolRun, signal: Signal, i: int, now: int) -> None:
    """Stop and target at the signal's fractions of the entry fill, as exchange orders."""
    position = run.position
    assert position is not None
    stop_fraction = signal.stop_pct or signal.stop_distance / signal.price
    target_fraction = signal.target_pct
    if target_fraction is None and signal.take_profit_distance is not None:
        target_fraction = signal.take_profit_distance / signal.price
    tick = None if run.continuous else run.instrument.tick_size
    stop, target = fixed_levels(
        position.side, position.entry_price, stop_fraction, target_fraction, tick
    )
    desk.protect(run, stop, why.STOP, i, now)
    position = run.position
    if position is None:
        return
    desk.log.set_stop(run.symbol, position.initial_stop)
    if target is None:
        return
    coid = desk.orders.conditional(target_order(position, target))
    if coid is None:  # already through the target: take it at market
        plan_id = exit_plan_id(position.position_id, f"target:{target}")
        desk.close(run, position.qty, why.TAKE_PROFIT, plan_id, i, now)
        return
    desk.log.tag(coid, why.TAKE_PROFIT)
    run.target_order_id = coid
