"""What follows a fill that closed a position, whoever sent the closing order.

A position goes flat on the exchange's stop, a take-profit, an exit plan, a liquidation or
a hand on the exchange. Whatever closed it, two things follow, decided here once for the
ledger service, the risk guard and the backtester:

* the symbol's re-entry cooldown runs until ``fill time + cooldown_ms`` (market time: the
  entry gate compares it with a plan's time; a close only ever extends it);
* the risk guard counts one round trip, net of fees, at the fill's time.

And a plan the apply layer finishes starts a cooldown of its own (``plan_cooldown_ms``):
an executed entry or close — a partial harvest too — but not a stop move or a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.decide.risk_guard import TradeClosed
from quantum_trader.domain.enums import PlanAction


@dataclass(frozen=True, slots=True)
class PositionClosed:
    symbol: str
    cooldown_until: int  # market ms the re-entry cooldown ends; 0: no cooldown
    trade: TradeClosed  # the round trip for the risk guard


def position_closed(closed: LedgerPosition, fill_ts: int, cooldown_ms: int) -> PositionClosed:
    """The consequences of ``closed`` (the position as it was) going flat at ``fill_ts``."""
    if cooldown_ms < 0:
        raise ValueError(f"cooldown_ms must be >= 0, got {cooldown_ms}")
    return PositionClosed(
        closed.symbol,
        fill_ts + cooldown_ms if cooldown_ms else 0,
        TradeClosed(closed.realized_pnl - closed.fees, fill_ts),
    )


def extended(current_until: int, closed: PositionClosed) -> int:
    """The cooldown's end after ``closed``: later of the two (a close never shortens it)."""
    return max(current_until, closed.cooldown_until)


def plan_cooldown_ms(action: PlanAction, executed: bool, cooldown_ms: int) -> int:
    """The cooldown a finished plan starts at its finish (0: none): ``cooldown_ms`` after
    an executed entry, close or partial close; none after a stop move or a plan that did
    not execute."""
    return cooldown_ms if executed and action is not PlanAction.UPDATE_STOP else 0
