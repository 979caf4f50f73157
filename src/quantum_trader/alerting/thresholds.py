"""When each alert fires: thresholds and ``for:`` durations, in seconds and fractions.

One typed record with one default per figure. ``quantum ops render --set NAME=VALUE``
overrides any of them; the limits the system itself enforces (the risk guard's caps, the
model's PSI limit, the heartbeat TTL) are exported as metrics or read from the settings,
never repeated here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as checked_dataclass


@checked_dataclass(frozen=True)
class AlertThresholds:
    service_down_for_s: int = 60  # a service's /metrics unanswered this long
    heartbeat_stale_s: int = 30  # a heartbeat older than this ...
    heartbeat_stale_for_s: int = 30  # ... for this long
    crash_loop_restarts: int = 3  # restarts of one service within 15 minutes
    exporter_down_for_s: int = 60  # the metrics service unanswered (every Redis alert is blind)
    redis_down_for_s: int = 30
    exchange_down_for_s: int = 120
    state_lost_for_s: int = 60
    lag_s: int = 60  # a group's oldest undelivered entry older than this ...
    pending_age_s: int = 120  # ... or its oldest unacknowledged one older than this ...
    bus_for_s: int = 120  # ... for this long
    dead_letter_for_s: int = 60  # a dead letter within 10 minutes, held this long
    unprotected_s: int = 30  # a position without a covering stop for longer than this ...
    unprotected_for_s: int = 15  # ... held this long (it is already a duration)
    rejection_ratio: float = 0.2  # rejected ÷ answered orders over 15 minutes ...
    rejection_min_orders: int = 5  # ... among at least this many orders
    rejection_for_s: int = 300
    unknown_outcome_for_s: int = 120  # an order's fate unknown this long
    halt_for_s: int = 30
    kill_switch_for_s: int = 60
    reduce_only_for_s: int = 600  # REDUCE_ONLY longer than this
    equity_stale_s: int = 60  # the account unread for longer than this ...
    equity_stale_for_s: int = 60  # ... (or the risk guard says EQUITY_STALE) this long
    exposure_near_ratio: float = 0.9  # a measure above this × its risk limit ...
    exposure_for_s: int = 300  # ... this long
    repairs_per_hour: int = 5  # more reconcile repairs than this in an hour
    repairs_for_s: int = 300
    weight_near_ratio: float = 0.8  # request weight above this × the exchange's limit ...
    weight_for_s: int = 60  # ... this long
    drift_for_s: int = 900  # the model drifted (or stopped entering) this long

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value < 0:
                raise ValueError(f"{f.name} must be >= 0, got {value}")
        for name in ("rejection_ratio", "exposure_near_ratio", "weight_near_ratio"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")

    def with_overrides(self, pairs: Iterable[str]) -> AlertThresholds:
        """``["lag_s=30", "rejection_ratio=0.1"]`` laid over these; a ``ValueError`` names
        the first bad one."""
        known = {f.name: f.type for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for pair in pairs:
            name, sep, text = pair.partition("=")
            name = name.strip()
            if not sep or name not in known:
                raise ValueError(f"{pair!r}: give NAME=VALUE, NAME one of {', '.join(known)}")
            changes[name] = text.strip()
        try:
            return TypeAdapter(AlertThresholds).validate_python(
                {**dataclasses.asdict(self), **changes}
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{where}: {message}" if where else message) from None


def duration(seconds: float) -> str:
    """Seconds as a Prometheus duration: ``90`` -> ``90s``, ``600`` -> ``10m``."""
    whole = int(seconds)
    if whole != seconds or whole % 60 or not whole:
        return f"{seconds:g}s"
    return f"{whole // 3600}h" if whole % 3600 == 0 and whole else f"{whole // 60}m"
