"""Reason codes: every "no" a decision gives carries one of these strings.

They travel on the wire (apply.result ``reason``, risk-mode events, repair events), so
they are plain strings, defined once here and never spelled ad hoc elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Intent admission (intent_policy)
UNIVERSE_STALE: Final = "universe_stale"
UNIVERSE_EMPTY: Final = "universe_empty"
SYMBOL_NOT_ALLOWED: Final = "symbol_not_allowed"
LOW_CONFIDENCE: Final = "low_confidence"
DUPLICATE_INTENT: Final = "duplicate_intent"
EXPIRED: Final = "expired"
# Redis lost the system's state (its epoch marker is gone or another's): entries halt
# until a reconcile round and an operator's `quantum state confirm`.
STATE_LOST: Final = "state_lost"
# The risk guard's mode is older than the gate accepts: its guard may be dead.
RISK_STATE_STALE: Final = "risk_state_stale"

# Sizing (sizing)
INVALID_ENTRY_PRICE: Final = "invalid_entry_price"
NO_EQUITY: Final = "no_equity"
INVALID_STOP: Final = "invalid_stop"
INVALID_TAKE_PROFIT: Final = "invalid_take_profit"
BELOW_MIN_QTY: Final = "below_min_qty"
BELOW_MIN_NOTIONAL: Final = "below_min_notional"

# Entry gate (entry_gates); EXPIRED above is shared
DUPLICATE_PLAN: Final = "duplicate_plan"
POSITION_EXISTS: Final = "position_exists"
INFLIGHT: Final = "inflight"
COOLDOWN: Final = "cooldown"
RISK_REDUCE_ONLY: Final = "risk_reduce_only"
RISK_HALT: Final = "risk_halt"
MAX_POSITIONS: Final = "max_positions"
MAX_EXPOSURE: Final = "max_exposure"
# An operator paused new entries on this symbol until a market time (a lock with expiry).
SYMBOL_PAUSED: Final = "symbol_paused"

# Risk guard (risk_guard); service health reasons are SERVICE_DOWN_PREFIX + service name
EQUITY_STALE: Final = "EQUITY_STALE"
DAILY_LOSS_LIMIT: Final = "daily_loss_limit"
MAX_DRAWDOWN: Final = "max_drawdown"
CONSECUTIVE_LOSSES: Final = "consecutive_losses"
MAX_OPEN_POSITIONS: Final = "max_open_positions"
MAX_GROSS_EXPOSURE: Final = "max_gross_exposure"
MARGIN_UTILISATION: Final = "margin_utilisation"
KILL_SWITCH: Final = "kill_switch"
CIRCUIT_BREAKER: Final = "circuit_breaker"
SERVICE_DOWN_PREFIX: Final = "service_down:"

# Exits (exit_brain, harvest_ladder, kill_score)
HARVEST_TRANCHE: Final = "harvest_tranche"  # followed by ":<n>" on the decision
BREAK_EVEN: Final = "break_even"
TRAILING_STOP: Final = "trailing_stop"
KILL_SCORE: Final = "kill_score"
TIME_STOP: Final = "time_stop"
STOP_BREACHED: Final = "stop_breached"
# Exits an operator asked for (the dashboard's close and stop-move actions).
OPERATOR_CLOSE: Final = "operator_close"
OPERATOR_STOP: Final = "operator_stop"

# Close quantity at execution (close_qty)
NO_POSITION: Final = "no_position"
STALE_POSITION: Final = "stale_position"
INVALID_FRACTION: Final = "invalid_fraction"
REMAINDER_BELOW_MIN: Final = "remainder_below_min"
PARTIAL_BELOW_MIN: Final = "partial_below_min"

# Reconcile (reconcile)
NOT_ON_EXCHANGE: Final = "not_on_exchange"
SIDE_FLIPPED: Final = "side_flipped"
DUPLICATE_STOP: Final = "duplicate_stop"
# An entry that filled but whose protective stop was refused: it was closed at market.
EXECUTED_THEN_CLOSED_STOP_REFUSED: Final = "executed_then_closed:stop_refused"
NO_LEASE: Final = "no_lease"
LEASE_EXPIRED: Final = "lease_expired"

# Executors (apply layer): one plan, several processes
# Another live executor holds the plan's reservation; it publishes the result.
IN_PROGRESS_ELSEWHERE: Final = "in_progress_elsewhere"
# The reservation's owner stopped before its order was seen on the exchange: not placed.
OWNER_LOST: Final = "owner_lost_before_order"
# This executor's reservation was taken over while it was stopped: it must not place.
SUPERSEDED: Final = "superseded"
# The entry's reservation reached fewer replicas than ``redis.wait_replicas`` within
# ``redis.wait_timeout_ms``: a failover could lose it, so no order was placed.
NOT_DURABLE: Final = "not_durable"
# Sharded: the plan's symbol is in a shard whose lease this executor does not hold (or
# no longer holds: lost while it was stopped). Nothing is decided or published; the plan
# is handed to its shard's lane for the owner (services/shard_lanes.py).
NOT_SHARD_OWNER: Final = "not_shard_owner"


def service_down(service: str) -> str:
    """Reason code for an unhealthy service, e.g. ``service_down:apply-layer``."""
    return f"{SERVICE_DOWN_PREFIX}{service}"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A decision's "no": a reason code from this module and a human-readable detail."""

    reason: str
    detail: str = ""
