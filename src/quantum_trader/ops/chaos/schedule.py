"""The seeded fault schedule: which fault strikes at which bar, drawn from the seed.

A run is deterministic in what is injected (the list below depends on the seed, the bar
count and the kinds only) even though the processes it strikes interleave freely.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from quantum_trader.ops.service_main import SERVICES
from quantum_trader.ops.stepped.faults import RunConfig

# kind -> what it does (the report's legend)
FAULT_KINDS: dict[str, str] = {
    "kill_service": "SIGKILL one service process; it is restarted",
    "kill_mid_order": "SIGKILL the apply layer the moment the exchange has an order",
    "redis_restart": "restart redis-server (AOF, fsync always)",
    "exchange_5xx": "502 pages and -1001 internal errors for a while",
    "exchange_429": "429 bursts and -1003 order rate limits",
    "exchange_latency": "every REST request delayed",
    "accepted_timeout": "orders executed, their replies lost",
    "unknown_status": "-1006 execution status unknown (order placed or not)",
    "drop_events": "user-data events dropped",
    "delay_events": "user-data events held back, then released",
    "ws_drop": "the user-data WebSocket dropped",
    "listen_key_expiry": "the listen key expires",
    "duplicate_delivery": "old plans, intents and fills delivered again",
    "reorder_delivery": "old messages delivered again in reverse order",
    "manual_open": "a position opened by hand on the exchange",
    "manual_close": "a position closed by hand on the exchange",
    "manual_stop_cancel": "a protective stop cancelled by hand",
    "signal_burst": "a burst of identical trade intents",
    "malformed": "garbage published on every stream",
    "wrong_type_key": "a key written with the wrong Redis type, then repaired",
    "clock_skew": "one service's clock shifted, later restored",
    "margin_exhaustion": "a huge position by hand eats the margin, later closed",
    "extra_executors": "a second and a third apply-layer process on the same group, "
    "fed copies of recent plans, for a few bars",
    "stop_mid_order": "SIGSTOP the apply layer the moment the exchange has an entry order; "
    "a copy of its plan goes to another executor; SIGCONT once its liveness expired",
    "state_loss": "FLUSHALL: Redis forgets everything (a failover to an empty replica); "
    "entries halt until a reconcile round and an operator's confirmation",
    "redis_oom": "Redis out of memory (maxmemory, noeviction) the moment the exchange has "
    "an entry order, for a second of wall time",
}
EXPENSIVE = (
    "kill_service",
    "kill_mid_order",
    "redis_restart",
    "extra_executors",
    "stop_mid_order",
    "state_loss",
    "redis_oom",
)


@dataclass(frozen=True, slots=True)
class Fault:
    bar: int  # index among the traded bars (0 = first bar after warm-up)
    kind: str
    params: dict[str, object] = field(default_factory=dict)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    if not text or text == "all":
        return tuple(FAULT_KINDS)
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown:
        raise ValueError(
            f"unknown fault kinds: {', '.join(unknown)}; known: {', '.join(FAULT_KINDS)}"
        )
    return kinds


def build_schedule(
    seed: int,
    bars: int,
    symbols: Sequence[str],
    kinds: Sequence[str],
    per_kind: int,
    expensive_per_kind: int | None = None,
) -> list[Fault]:
    """``per_kind`` faults of every kind (``expensive_per_kind`` for process kills and
    Redis restarts), spread over bars 1 … bars-3 so the last bars let the system settle."""
    rng = random.Random(seed)
    last = max(2, bars - 3)
    faults: list[Fault] = []
    for kind in kinds:
        n = per_kind if kind not in EXPENSIVE or expensive_per_kind is None else expensive_per_kind
        for _ in range(n):
            faults.append(Fault(rng.randint(1, last), kind, _params(rng, kind, symbols)))
    faults.sort(key=lambda f: (f.bar, f.kind))
    return faults


def _params(rng: random.Random, kind: str, symbols: Sequence[str]) -> dict[str, object]:
    symbol = rng.choice(list(symbols))
    if kind == "kill_service":
        return {"service": rng.choice(SERVICES)}
    if kind in ("manual_open", "margin_exhaustion"):
        return {"symbol": symbol, "side": rng.choice(["BUY", "SELL"])}
    if kind in ("manual_close", "manual_stop_cancel", "wrong_type_key"):
        return {"symbol": symbol}
    if kind == "clock_skew":
        return {"service": rng.choice(SERVICES), "skew_ms": rng.choice([-45_000, 20_000, 90_000])}
    if kind == "signal_burst":
        return {"symbol": symbol, "copies": rng.randint(5, 20)}
    if kind in ("duplicate_delivery", "reorder_delivery"):
        return {"count": rng.randint(3, 10)}
    return {}


@dataclass
class ChaosConfig(RunConfig):
    """A stepped multi-process run with faults: which kinds, how many of each."""

    kinds: tuple[str, ...] = tuple(FAULT_KINDS)
    per_kind: int = 50
    expensive_per_kind: int | None = None  # kills / Redis restarts (None: per_kind)
