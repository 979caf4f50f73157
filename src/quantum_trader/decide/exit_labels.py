"""Why a position (or one of its exits) closed, as the trade list and the journal say it.

One mapping from an exit decision's action and reason codes to the label of the fills
its orders make, used by the apply layer (which records it against each exit order and
moved stop before placing it) and by the backtester alike, so the same exit carries the
same label in a backtest's trade list and in a paper or live run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from quantum_trader.decide import reasons
from quantum_trader.domain.enums import PlanAction

STOP: Final = "stop"
TAKE_PROFIT: Final = "take_profit"
TRAILING_STOP: Final = "trailing_stop"
BREAK_EVEN: Final = "break_even"
KILL_SCORE: Final = "kill_score"
TIME_STOP: Final = "time_stop"
SIGNAL: Final = "signal"
END: Final = "end"
LIQUIDATION: Final = "liquidation"

_BY_CODE = (
    (reasons.STOP_BREACHED, STOP),
    (reasons.KILL_SCORE, KILL_SCORE),
    (reasons.TIME_STOP, TIME_STOP),
)


def exit_label(action: PlanAction, reason_codes: Sequence[str]) -> str:
    """The label of the fills of this exit's order (a moved stop: of its trigger)."""
    if action is PlanAction.UPDATE_STOP:
        if reasons.TRAILING_STOP in reason_codes:
            return TRAILING_STOP
        return BREAK_EVEN if reasons.BREAK_EVEN in reason_codes else STOP
    for code in reason_codes:
        if code.startswith(reasons.HARVEST_TRANCHE):
            return code
    for code, label in _BY_CODE:
        if code in reason_codes:
            return label
    return reason_codes[0] if reason_codes else action.value.lower()


def harvest_label(tranche: int) -> str:
    """The n-th partial take-profit of the harvest ladder (1-based)."""
    return f"{reasons.HARVEST_TRANCHE}:{tranche}"


def tranche_of(reason_codes: Sequence[str]) -> int:
    """The harvest tranche an exit's reason codes name (0: not a harvest)."""
    prefix = harvest_label(0)[:-1]
    for code in reason_codes:
        if code.startswith(prefix):
            return int(code[len(prefix) :])
    return 0
