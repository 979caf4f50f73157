"""The risk guard's memory that must outlive it: its ``RiskState`` kept in the data
directory (the durable copy ``ops.safety_state.SafetyStore`` keeps beside the kill
switch and the breaker), restored when the guard starts.

Without it a restarted guard started cold: the day's starting equity became the equity
after the loss, the drawdown peak the trough, the losing streak zero — a daily-loss HALT
or a streak lockout lifted by a crash (or by Redis forgetting ``risk:state``). The
decision rules make a restored state safe to use late: every counter lives in a window
derived from ``now``, so a state from an earlier day or window cannot block.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from decimal import Decimal
from typing import Any, Protocol

from quantum_trader.decide.risk_guard import RiskState
from quantum_trader.domain.enums import RiskMode

log = logging.getLogger(__name__)
FIELD = "risk_state"
# What a restart must not lose; the account facts (equity, exposure, …) are read anew.
REMEMBERED = (
    "mode",
    "reasons",
    "since",
    "reason_since",
    "day_index",
    "day_start_equity",
    "drawdown_window_index",
    "peak_equity",
    "loss_streak",
    "last_loss_at",
    "loss_lockout_until",
)


class DurableCopy(Protocol):
    def read(self) -> dict[str, Any]: ...

    def update(self, **changes: Any) -> None: ...


def state_to_json(state: RiskState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in REMEMBERED:
        value = getattr(state, name)
        if isinstance(value, RiskMode):
            value = value.value
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[name] = value
    return out


def state_from_json(data: dict[str, Any]) -> RiskState:
    types = {f.name: f.type for f in fields(RiskState)}
    values: dict[str, Any] = {}
    for name in REMEMBERED:
        if name not in data:
            continue
        raw, kind = data[name], str(types[name])
        if raw is None:
            values[name] = None
        elif name == "mode":
            values[name] = RiskMode(raw)
        elif name == "reasons":
            values[name] = tuple(str(r) for r in raw)
        elif name == "reason_since":
            values[name] = tuple((str(r), int(t)) for r, t in raw)
        elif "Decimal" in kind:
            values[name] = Decimal(str(raw))
        else:
            values[name] = int(raw)
    return RiskState(**values)


class RiskMemory:
    """Restores the state at start; writes it whenever what it remembers changed."""

    def __init__(self, durable: DurableCopy | None) -> None:
        self.durable = durable
        self._last: dict[str, Any] | None = None

    def restore(self) -> RiskState:
        """The remembered state (a cold start only when nothing was ever written).

        An unreadable copy is an error, not a cold start: starting cold would lift the
        very HALT this exists to keep. The guard then does not start — its risk state
        goes stale, which the gate treats as REDUCE_ONLY — until an operator fixes or
        moves the file the message names."""
        if self.durable is None:
            return RiskState()
        try:
            saved = self.durable.read().get(FIELD)
            state = state_from_json(saved) if isinstance(saved, dict) else RiskState()
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise RuntimeError(
                f"durable risk state unreadable ({exc}): fix or move the safety file"
            ) from exc
        self._last = state_to_json(state)
        return state

    def remember(self, state: RiskState) -> None:
        if self.durable is None:
            return
        current = state_to_json(state)
        if current == self._last:
            return
        try:
            self.durable.update(**{FIELD: current})
        except OSError as exc:  # a full disk must not stop the guard: Redis still has it
            log.warning("durable risk state not written", extra={"err": str(exc)})
            return
        self._last = current
