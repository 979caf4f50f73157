"""One open position as an operator reads it: money in Decimal, shown as decimal strings.

* ``unrealized_pnl`` = (mark − entry) × qty × side; ``r`` = that move over the initial
  risk per unit |entry − initial stop| (None before a stop was ever placed);
* ``stop_distance_pct`` = how far the protective stop is from the mark, as a fraction;
* ``risk_amount`` = what the stop would still lose from the entry (negative: the stop
  locks in a profit), ``risk_pct`` of equity;
* ``liquidation_est`` — the isolated-margin liquidation price of this position alone at
  its leverage and the instrument's maintenance ratio. Positions are margined cross, so
  the account's whole balance stands behind it and the exchange liquidates later than
  this: a conservative bound, labelled as an estimate;
* ``kill_score`` and its components — from the exit brain's last exit decision for this
  position (None until it made one).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quantum_trader.bus.schemas import Plan
from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import fmt
from quantum_trader.domain.timefmt import iso_or_none

CENT = Decimal("0.01")
FOUR = Decimal("0.0001")


def _q(value: Decimal | None, quantum: Decimal = FOUR) -> str | None:
    return None if value is None else fmt(value.quantize(quantum))


def unrealized(p: LedgerPosition, mark: Decimal | None) -> Decimal | None:
    return None if mark is None else (mark - p.entry_price) * p.qty * p.side.sign


def liquidation_estimate(p: LedgerPosition, instrument: Instrument | None) -> Decimal | None:
    """Isolated: entry × (1 ∓ 1/leverage ± maintenance ratio), for LONG / SHORT."""
    if instrument is None or p.leverage < 1:
        return None
    mmr = instrument.bracket_for(p.qty * p.entry_price).maint_margin_ratio
    inverse = Decimal(1) / Decimal(p.leverage)
    factor = 1 - inverse + mmr if p.side.sign > 0 else 1 + inverse - mmr
    return max(Decimal(0), p.entry_price * factor)


def position_row(
    p: LedgerPosition,
    mark: Decimal | None,
    equity: Decimal | None,
    instrument: Instrument | None,
    ladder_tranches: int,
    last_plan: Plan | None,
) -> dict[str, Any]:
    pnl = unrealized(p, mark)
    unit_risk = abs(p.entry_price - p.initial_stop) if p.initial_stop > 0 else Decimal(0)
    r = (mark - p.entry_price) * p.side.sign / unit_risk if mark and unit_risk else None
    stop_distance = abs(mark - p.stop_price) / mark if mark and p.stop_price > 0 else None
    at_stop = (p.entry_price - p.stop_price) * p.side.sign * p.qty if p.stop_price > 0 else None
    tick = instrument.tick_size if instrument else None
    liquidation = liquidation_estimate(p, instrument)
    plan = last_plan if last_plan is not None and last_plan.position_id == p.position_id else None
    notional = p.qty * mark if mark else p.qty * p.entry_price
    return {
        "symbol": p.symbol,
        "position_id": p.position_id,
        "side": p.side.value,
        "qty": fmt(p.qty),
        "entry_price": fmt(p.entry_price),
        "mark": fmt(mark) if mark is not None else None,
        "notional": _q(notional, CENT),
        "unrealized_pnl": _q(pnl),
        "unrealized_positive": pnl is not None and pnl >= 0,
        "realized_pnl": fmt(p.realized_pnl),
        "fees": fmt(p.fees),
        "r": _q(r, CENT),
        "stop": fmt(p.stop_price) if p.stop_price > 0 else None,
        "initial_stop": fmt(p.initial_stop) if p.initial_stop > 0 else None,
        "stop_distance_pct": _q(stop_distance * 100 if stop_distance is not None else None, CENT),
        "stop_order_id": p.stop_order_id,
        "protected": p.stop_price > 0 and bool(p.stop_order_id),
        "ladder_stage": p.ladder_stage,
        "ladder_tranches": ladder_tranches,
        "kill_score": f"{plan.kill_score:.2f}" if plan and plan.kill_score is not None else None,
        "kill_components": {k: f"{v:.2f}" for k, v in sorted(plan.kill_components.items())}
        if plan
        else {},
        "kill_at": iso_or_none(plan.created_at) if plan else None,
        "liquidation_est": fmt(tick_round(liquidation, tick)) if liquidation is not None else None,
        "risk_amount": _q(at_stop, CENT),
        "risk_pct": _q(at_stop / equity * 100, CENT) if at_stop is not None and equity else None,
        "leverage": p.leverage,
        "opened_at": iso_or_none(p.opened_at),
        "opened_at_ms": p.opened_at,
        "source": p.source,
        "tick_size": fmt(tick) if tick else None,
    }


def tick_round(price: Decimal, tick: Decimal | None) -> Decimal:
    if not tick:
        return price.quantize(FOUR)
    return (price / tick).to_integral_value() * tick
