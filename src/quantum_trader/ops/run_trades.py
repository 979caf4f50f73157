"""A paper run's trades in the backtest's trade format, from the venue's own fills.

The same fold the backtester uses (``backtest.trade_log.TradeLog``): one trade per
position from its opening fill to the fill that flattened it, every exit fill listed,
funding settled per position. Exit reasons are the ones the system recorded: an exit
plan's reason code (the apply layer's ``exit:reasons``), and for the protective stop
``stop`` while it still sits at the entry plan's stop, ``trailing_stop`` once moved.
A position's strategy is the one on the intent its entry plan was made from.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from quantum_trader.backtest.trade_log import TradeLog
from quantum_trader.bus.schemas import Plan, TradeIntent
from quantum_trader.data.bars import BarSeries
from quantum_trader.decide.exit_labels import STOP, TRAILING_STOP
from quantum_trader.decide.intent_policy import plan_id_for_intent
from quantum_trader.decide.order_requests import entry_order_id
from quantum_trader.domain.enums import PlanKind
from quantum_trader.domain.order_ids import is_stop
from quantum_trader.exchange.sim import MatchingCore


def _bar_of(series: BarSeries, ts: int) -> tuple[int, int]:
    """The index and open time of the bar in which ``ts`` falls."""
    times = series.open_time.tolist()
    k = max(0, bisect_right(times, ts) - 1)
    return k, int(times[k])


def paper_trades(
    core: MatchingCore,
    series: Mapping[str, BarSeries],
    plans: Sequence[Plan],
    exit_reasons: Mapping[str, str],
    intents: Sequence[TradeIntent] = (),
) -> list[dict[str, Any]]:
    """Closed positions as ``Trade.as_json()`` dicts, in the order they closed
    (``intents``: the signal engine's, which name each entry plan's strategy)."""
    log = TradeLog()
    strategy_of = {plan_id_for_intent(i.intent_id): i.strategy for i in intents}
    for plan in plans:
        if plan.kind is PlanKind.OPEN and plan.plan_id in strategy_of:
            log.entered_by(entry_order_id(plan.plan_id), strategy_of[plan.plan_id])
    entry_stop = {
        entry_order_id(p.plan_id): p.stop_price
        for p in plans
        if p.kind is PlanKind.OPEN and p.stop_price is not None
    }
    stop_of = {o.client_order_id: o.stop_price for o in core.all_orders()}
    initial: dict[str, Decimal] = {}
    history = core.history()
    fills = sorted(
        history.fills, key=lambda f: (f.ts, int(f.trade_id) if f.trade_id.isdigit() else 0)
    )
    for fill in fills:
        cid = fill.client_order_id
        if cid in exit_reasons:
            log.tag(cid, exit_reasons[cid])
        elif is_stop(cid):
            moved = stop_of.get(cid) != initial.get(fill.symbol)
            log.tag(cid, TRAILING_STOP if moved else STOP)
        index, opened = _bar_of(series[fill.symbol], fill.ts)
        log.on_fill(fill, index, opened)
        if cid in entry_stop:
            initial[fill.symbol] = entry_stop[cid]
            log.set_stop(fill.symbol, entry_stop[cid])
    return [trade.as_json() for trade in log.trades(history.funding)]
