"""The system's state as ``/metrics`` reads it from Redis and, given one, the exchange:
heartbeats, the bus (lag, pending, dead letters), the risk mode and its reasons, the kill
switch, breaker, fail-safe and state marker, positions and exposure, reconcile repairs,
exit latencies and the model in service. The in-process run and the ``metrics`` service
export the same families from it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import redis.asyncio as aioredis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from quantum_trader.bus.codec import DecodeError, decode
from quantum_trader.bus.groups import topology
from quantum_trader.bus.keys import STREAM_NAMES, Keys
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import Heartbeat
from quantum_trader.decide import reasons
from quantum_trader.decide.reconcile import Repair
from quantum_trader.decide.risk_guard import RiskConfig
from quantum_trader.observability.bus_state import (
    DEAD_REASONS,
    LAG_COUNT_CAP,
    BusTallies,
    GroupState,
    group_states,
    stream_name,
)
from quantum_trader.observability.exchange_view import ExchangeView, limit_families
from quantum_trader.observability.families import (
    gauge,
    histogram_family,
    labelled_gauge,
    model_metrics,
    model_state,
    risk_mode_family,
)
from quantum_trader.runtime.supervisor import Supervisor
from quantum_trader.services.ledger import RedisLedger

# Reasons the risk guard may give, always exported (0 when not active), so a panel of the
# active ones never reads "no data"; ``service_down:<service>`` is added per service.
RISK_REASONS = (
    reasons.EQUITY_STALE,
    reasons.DAILY_LOSS_LIMIT,
    reasons.MAX_DRAWDOWN,
    reasons.CONSECUTIVE_LOSSES,
    reasons.MAX_OPEN_POSITIONS,
    reasons.MAX_GROSS_EXPOSURE,
    reasons.MARGIN_UTILISATION,
    reasons.KILL_SWITCH,
    reasons.CIRCUIT_BREAKER,
)
STRICTNESS = {"UNKNOWN": -1, "NORMAL": 0, "REDUCE_ONLY": 1, "HALT": 2}
REPAIR_KINDS = tuple(sorted(kind.__name__ for kind in get_args(Repair)))
DEAD_REASON_KINDS = (*(kind for _, kind in DEAD_REASONS), "other")


@dataclass
class Snapshot:
    """What ``/health`` reports; filled asynchronously before each scrape."""

    health_ttl_ms: dict[str, int]
    risk: dict[str, Any]
    open_positions: int
    gross_exposure: float
    model: dict[str, Any] = field(default_factory=dict)  # ``model:state``: the served model


def with_fail_safe(risk: dict[str, Any], supervisor: Supervisor | None) -> dict[str, Any]:
    """The risk mode Redis holds, made at least as strict as the supervisor's own
    decision — which Redis may have refused to store (out of memory)."""
    if supervisor is None or not supervisor.fail_safe_reasons or risk.get("mode") == "HALT":
        return risk
    return {**risk, "mode": "REDUCE_ONLY"}


def strictest(mode: str, other: str) -> str:
    return other if STRICTNESS.get(other, -1) > STRICTNESS.get(mode, -1) else mode


@dataclass
class Heartbeats:
    """Each service's heartbeat key: present and running, how old, and how often its
    process changed (a new instance is a restart)."""

    services: Sequence[str]
    ttl_ms: int
    timer: Callable[[], float] = time.monotonic
    beats: dict[str, Heartbeat] = field(default_factory=dict)
    ttl_left_ms: dict[str, int] = field(default_factory=dict)
    last_at: dict[str, float] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self.started_at = self.timer()

    async def refresh(self, redis: aioredis.Redis, keys: Keys) -> None:
        names = list(self.services)
        async with redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.pttl(keys.health(name))
            pipe.mget([keys.health(n) for n in names])
            replies = await pipe.execute()
        now, raws = self.timer(), replies[-1]
        self.ttl_left_ms = {n: int(t) for n, t in zip(names, replies[:-1], strict=True)}
        self.beats = {}
        for name, raw in zip(names, raws, strict=True):
            try:
                beat = decode(raw) if raw else None
            except DecodeError:
                beat = None
            if not isinstance(beat, Heartbeat):
                continue
            self.beats[name] = beat
            left = self.ttl_left_ms[name]
            if left > 0:
                self.last_at[name] = now - max(0, self.ttl_ms - left) / 1000
            if self.instances.get(name, beat.instance) != beat.instance:
                self.restarts[name] += 1
            self.instances[name] = beat.instance

    def up(self) -> dict[str, bool]:
        return {n: n in self.beats and self.beats[n].status == "running" for n in self.services}

    def ages(self) -> dict[str, float]:
        now = self.timer()
        return {n: now - self.last_at.get(n, self.started_at) for n in self.services}


@dataclass
class SystemState:
    redis: aioredis.Redis
    keys: Keys
    services: Sequence[str]
    heartbeat_ttl_ms: int = 5_000
    limits: RiskConfig = field(default_factory=RiskConfig)
    psi_limit: float | None = None
    exchange: ExchangeView | None = None
    supervisor: Supervisor | None = None
    heartbeats: Heartbeats = field(init=False)
    tallies: BusTallies = field(init=False)
    groups: list[GroupState] = field(default_factory=list)
    lengths: dict[str, int] = field(default_factory=dict)
    risk: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)
    ledger_positions: int = 0
    ledger_exposure: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)
    consumed: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.heartbeats = Heartbeats(self.services, self.heartbeat_ttl_ms)
        self.tallies = BusTallies(self.redis, self.keys)
        self.consumed = sorted({stream_name(self.keys, s) for s in topology(self.keys)})

    async def refresh(self) -> Snapshot:
        redis, keys = self.redis, self.keys
        await self.heartbeats.refresh(redis, keys)
        self.groups = await group_states(redis, keys)
        async with redis.pipeline(transaction=False) as pipe:
            for name in STREAM_NAMES:
                pipe.xlen(keys.stream(name))
            for key in (keys.risk_state, keys.risk_supervisor):
                pipe.get(key)
            for key in (keys.risk_kill_switch, keys.risk_circuit, keys.epoch):
                pipe.exists(key)
            replies = await pipe.execute()
        n = len(STREAM_NAMES)
        self.lengths = dict(zip(STREAM_NAMES, (int(x) for x in replies[:n]), strict=True))
        state, held = _json(replies[n]), _json(replies[n + 1])
        kill, circuit, epoch = (bool(x) for x in replies[n + 2 : n + 5])
        supervised = bool(self.supervisor is not None and self.supervisor.fail_safe_reasons)
        self.flags = {"kill_switch": kill, "circuit": circuit, "fail_safe": held is not None}
        self.flags["fail_safe"] = self.flags["fail_safe"] or supervised
        self.flags["state_marker_missing"] = not epoch
        self.risk = self._risk(state, held, kill, circuit)
        await self.tallies.update()
        self.model = await model_state(redis, keys)
        if self.exchange is not None:
            await self.exchange.refresh()
        else:
            positions = [p for p in await RedisLedger(redis, keys).all() if p.qty > 0]
            self.ledger_positions = len(positions)
            self.ledger_exposure = float(sum(p.qty * p.entry_price for p in positions))
        return Snapshot(
            dict(self.heartbeats.ttl_left_ms),
            self.risk,
            self.open_positions,
            self.gross_exposure,
            self.model,
        )

    def _risk(
        self, state: dict[str, Any] | None, held: dict[str, Any] | None, kill: bool, circuit: bool
    ) -> dict[str, Any]:
        risk: dict[str, Any] = dict(state) if state else {"mode": "UNKNOWN", "reasons": []}
        mode = str(risk.get("mode", "UNKNOWN"))
        active = [str(r) for r in risk.get("reasons") or []]
        if held is not None:
            mode = strictest(mode, str(held.get("mode", "REDUCE_ONLY")))
            active += [str(r) for r in held.get("reasons") or [] if str(r) not in active]
        if circuit:
            mode = strictest(mode, "HALT")
        if kill:
            mode = strictest(mode, "HALT")
            risk["kill_switch"] = True
        risk = with_fail_safe({**risk, "mode": mode, "reasons": active}, self.supervisor)
        if self.supervisor is not None:
            risk["reasons"] += [r for r in self.supervisor.fail_safe_reasons if r not in active]
        return risk

    @property
    def open_positions(self) -> int:
        if self.exchange is not None and self.exchange.read_at is not None:
            return len(self.exchange.positions)
        return self.ledger_positions

    @property
    def gross_exposure(self) -> float:
        if self.exchange is not None and self.exchange.read_at is not None:
            return float(self.exchange.gross_exposure)
        return self.ledger_exposure

    def families(self) -> Iterator[Metric]:
        yield from self._bus()
        yield from self._risk_families()
        if self.exchange is not None:
            yield from self.exchange.families()
        else:
            yield gauge(
                "quantum_open_positions", "Open positions in the ledger", self.open_positions
            )
            yield gauge(
                "quantum_gross_exposure_usdt",
                "Σ qty × entry of the ledger's positions",
                self.gross_exposure,
            )
            yield from limit_families(self.limits)
        repairs = CounterMetricFamily(
            "quantum_reconcile_repairs", "Reconcile repairs by kind", labels=["kind"]
        )
        known = dict.fromkeys(REPAIR_KINDS, 0)
        for kind, count in sorted({**known, **self.tallies.repairs}.items()):
            repairs.add_metric([kind], count)
        yield repairs
        yield histogram_family(
            "quantum_trigger_to_order_seconds",
            "The event that caused an exit → its order at the exchange (the system's clock)",
            "",
            {"": self.tallies.trigger_to_order},
        )
        yield from model_metrics(self.model, self.psi_limit)

    def _bus(self) -> Iterator[Metric]:
        yield labelled_gauge(
            "quantum_stream_length", "Entries on each stream", "stream", self.lengths
        )
        labels = ["stream", "group"]
        families = {
            "consumers": GaugeMetricFamily(
                "quantum_consumer_group_consumers", "Consumers in the group", labels=labels
            ),
            "lag": GaugeMetricFamily(
                "quantum_consumer_group_lag",
                f"Entries not delivered to the group yet (Redis 6: counted up to {LAG_COUNT_CAP})",
                labels=labels,
            ),
            "lag_seconds": GaugeMetricFamily(
                "quantum_consumer_group_lag_seconds",
                "Age of the oldest entry not delivered to the group yet (0: caught up)",
                labels=labels,
            ),
            "pending": GaugeMetricFamily(
                "quantum_consumer_group_pending",
                "Entries delivered to the group and not acknowledged",
                labels=labels,
            ),
            "oldest_pending_seconds": GaugeMetricFamily(
                "quantum_consumer_group_oldest_pending_seconds",
                "Age of the group's oldest unacknowledged entry (0: none)",
                labels=labels,
            ),
        }
        for g in self.groups:
            for attribute, family in families.items():
                family.add_metric([g.stream, g.group], float(getattr(g, attribute)))
        yield from families.values()
        dead = CounterMetricFamily(
            "quantum_dead_letters",
            "Dead letters by the stream they came from and the kind of reason",
            labels=["stream", "reason"],
        )
        # Every stream a group reads, by every kind of reason, from 0: the first dead letter
        # is then an increase, not a new series.
        counts = {(s, r): 0 for s in self.consumed for r in DEAD_REASON_KINDS}
        for (stream, reason), count in sorted({**counts, **self.tallies.dead}.items()):
            dead.add_metric([stream, reason], count)
        yield dead

    def _risk_families(self) -> Iterator[Metric]:
        yield risk_mode_family(self.risk.get("mode"))
        active = set(self.risk.get("reasons") or [])
        known = [*RISK_REASONS, *(reasons.service_down(s) for s in self.services)]
        shown = {r: 1.0 if r in active else 0.0 for r in [*known, *sorted(active - set(known))]}
        yield labelled_gauge(
            "quantum_risk_reason", "1: the reason holds the risk mode", "reason", shown
        )
        for name, flag, text in (
            ("quantum_kill_switch_engaged", "kill_switch", "1: an operator's kill switch is on"),
            ("quantum_circuit_breaker_tripped", "circuit", "1: the circuit breaker tripped"),
            ("quantum_fail_safe_engaged", "fail_safe", "1: the supervisor's fail-safe holds"),
            (
                "quantum_state_marker_missing",
                "state_marker_missing",
                "1: Redis lost the system's state marker (entries halt until confirmed)",
            ),
        ):
            yield gauge(name, text, 1.0 if self.flags.get(flag) else 0.0)


def _json(raw: object) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(as_text(raw))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
