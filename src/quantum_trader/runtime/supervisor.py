"""The supervisor: runs the services, restarts crashed ones, and fails safe.

* A crashed service is restarted with exponential backoff; several restarts within a
  window are reported as a crash loop (FAILURES #3: 6,568 silent restarts).
* Heartbeats (``quantum:health:{service}``, written by each service's own loop) are
  watched; when a service the exits depend on (apply layer, exit brain, position monitor)
  has been silent for longer than ``down_after_ms``, entries stop: the supervisor writes
  ``quantum:risk:supervisor`` = REDUCE_ONLY with reason ``service_down:<name>``, which
  the apply layer's entry gate reads. It is lifted when every such service beats again.
* Every restart, crash loop and mode change is an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import DecodeError, decode
from quantum_trader.bus.schemas import Event, Heartbeat, derive_id
from quantum_trader.clock import Clock, pause, steady_clock
from quantum_trader.decide import reasons
from quantum_trader.domain.enums import RiskMode
from quantum_trader.runtime.safety_state import StateGuard
from quantum_trader.services.runtime import ServiceRuntime

log = structlog.get_logger(__name__)
EXIT_PATH = ("apply-layer", "exit-brain", "position-monitor")


@dataclass
class ServiceSpec:
    name: str
    build: Callable[[], ServiceRuntime]


@dataclass
class ServiceRecord:
    spec: ServiceSpec
    runtime: ServiceRuntime | None = None
    restarts: int = 0
    recent_crashes: list[int] = field(default_factory=list)  # timer ms
    last_error: str = ""
    crash_loop: bool = False


@dataclass
class Supervisor:
    specs: Sequence[ServiceSpec]
    redis: aioredis.Redis
    bus: Bus
    down_after_ms: int = 5_000
    watch_interval_s: float = 0.25
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 5.0
    crash_loop_restarts: int = 5
    crash_loop_window_s: float = 60.0
    exit_path: tuple[str, ...] = EXIT_PATH
    # Panic-flatten (off by default): after this many seconds with no working exit path,
    # close every position at market. A last resort an operator opts into.
    panic_flatten_after_s: float | None = None
    flatten: Callable[[], Awaitable[int]] | None = None
    flattened_at: int | None = None  # timer ms
    # Watches the state marker: a lost Redis restores kill switch and breaker at once.
    guard: StateGuard | None = None
    # Real time for restarts, backoff, crash loops and silence (heartbeat TTLs are real
    # time); a test drives it with a SimClock. Events carry the bus clock's time.
    timer: Clock = field(default_factory=steady_clock)
    records: dict[str, ServiceRecord] = field(default_factory=dict)
    down_since: dict[str, int] = field(default_factory=dict)  # timer ms
    fail_safe_reasons: tuple[str, ...] = ()
    fail_safe_written: bool = True  # False while Redis refuses the write (OOM, read-only)
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    _seq: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.records = {s.name: ServiceRecord(s) for s in self.specs}

    @property
    def restarts(self) -> int:
        return sum(r.restarts for r in self.records.values())

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._keep_running(r), name=f"sup:{n}")
            for n, r in self.records.items()
        ]
        tasks.append(asyncio.create_task(self._watch(), name="sup:watch"))
        try:
            await self.stop_event.wait()
        finally:
            for record in self.records.values():
                if record.runtime is not None:
                    record.runtime.stop_event.set()
            _, pending = await asyncio.wait(tasks, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        self.stop_event.set()

    def kill(self, name: str) -> None:
        """Crash a service on purpose (tests, chaos): its loops are cancelled."""
        record = self.records[name]
        if record.runtime is not None:
            record.runtime.stop_event.set()
            record.last_error = "killed"

    async def _keep_running(self, record: ServiceRecord) -> None:
        backoff = self.backoff_initial_s
        while not self.stop_event.is_set():
            record.runtime = record.spec.build()
            started = self.timer.now_ms()
            await self._event(
                "service_started", "info", record.spec.name, f"start #{record.restarts + 1}"
            )
            try:
                await record.runtime.run()
                if self.stop_event.is_set():
                    return
                error = record.last_error or "returned"
            except Exception as exc:  # a crashed service is restarted, never fatal here
                error = f"{type(exc).__name__}: {exc}"
            record.last_error = ""
            record.restarts += 1
            now = self.timer.now_ms()
            window_ms = self.crash_loop_window_s * 1000
            if now - started > window_ms:
                backoff = self.backoff_initial_s  # it ran a while: a fresh failure
            record.recent_crashes = [t for t in record.recent_crashes if now - t < window_ms] + [
                now
            ]
            looping = len(record.recent_crashes) >= self.crash_loop_restarts
            if looping and not record.crash_loop:
                await self._event(
                    "crash_loop",
                    "critical",
                    record.spec.name,
                    f"{len(record.recent_crashes)} restarts in "
                    f"{self.crash_loop_window_s:.0f}s; last: {error}",
                )
            record.crash_loop = looping
            await self._event("service_restart", "warning", record.spec.name, error)
            log.warning("service restarted", service=record.spec.name, error=error)
            if await pause(self.timer, backoff, self.stop_event):
                return
            backoff = min(backoff * 2, self.backoff_max_s)

    async def _watch(self) -> None:
        while not self.stop_event.is_set():
            with contextlib.suppress(Exception):
                await self.check_health()
            await pause(self.timer, self.watch_interval_s, self.stop_event)

    async def check_health(self) -> tuple[str, ...]:
        """Compare exit-path heartbeats with the threshold and set or lift the fail-safe
        (and first, with a guard, look at the state marker)."""
        if self.guard is not None:
            with contextlib.suppress(Exception):
                await self.guard.check()
        now = self.timer.now_ms()
        for name in self.exit_path:
            if name not in self.records:
                continue
            if await self.alive(name):
                self.down_since.pop(name, None)
            else:
                self.down_since.setdefault(name, now)
        down = tuple(
            sorted(
                reasons.service_down(n)
                for n, since in self.down_since.items()
                if now - since >= self.down_after_ms
            )
        )
        if down != self.fail_safe_reasons or not self.fail_safe_written:
            await self._set_fail_safe(down)
        await self._maybe_flatten(now)
        return down

    async def _maybe_flatten(self, now: int) -> None:
        if self.panic_flatten_after_s is None or self.flatten is None or not self.down_since:
            self.flattened_at = None if not self.down_since else self.flattened_at
            return
        silent_for = (now - min(self.down_since.values())) / 1000
        if silent_for < self.panic_flatten_after_s or self.flattened_at is not None:
            return
        self.flattened_at = now
        closed = await self.flatten()
        await self._event(
            "panic_flatten",
            "critical",
            "",
            f"no working exit path for {silent_for:.0f}s: closed {closed} positions at market",
        )

    async def alive(self, name: str) -> bool:
        """A heartbeat that exists (TTL) and says the service's loops are running."""
        raw = await self.redis.get(self.bus.keys.health(name))
        if raw is None:
            return False
        try:
            beat = decode(raw)
        except DecodeError:
            return False
        return isinstance(beat, Heartbeat) and beat.status == "running"

    async def _set_fail_safe(self, down: tuple[str, ...]) -> None:
        """Write (or lift) the fail-safe. The decision is kept in memory first, so
        ``/health`` and the log report it even when Redis refuses the write (out of
        memory, read-only replica); the write is retried on every check until it lands.
        Entries fail closed meanwhile anyway: the gate's reservation is a write too."""
        changed = down != self.fail_safe_reasons
        announce = changed or not self.fail_safe_written  # an event that could not go out
        self.fail_safe_reasons = down
        if changed:
            log.warning("fail-safe REDUCE_ONLY" if down else "fail-safe lifted", reasons=list(down))
        key = self.bus.keys.risk_supervisor
        try:
            if down:
                payload = {
                    "mode": RiskMode.REDUCE_ONLY.value,
                    "reasons": list(down),
                    "since": self.bus.clock.now_ms(),
                }
                await self.redis.set(key, json.dumps(payload))
            else:
                await self.redis.delete(key)
        except RedisError as exc:
            if self.fail_safe_written:
                log.error("fail-safe not written to Redis", reasons=list(down), error=str(exc))
            self.fail_safe_written = False
            return
        self.fail_safe_written = True
        if not announce:
            return
        if down:
            await self._event(
                "risk_mode_changed",
                "critical",
                "",
                f"REDUCE_ONLY: {', '.join(down)}",
                RiskMode.REDUCE_ONLY,
            )
        else:
            await self._event(
                "risk_mode_changed",
                "info",
                "",
                "services healthy again: fail-safe lifted",
                RiskMode.NORMAL,
            )

    def fail_safe(self) -> dict[str, object]:
        """The supervisor's own view, for ``/health``: what it decided, whether Redis
        took it, and whether the state marker is lost."""
        return {
            "reasons": list(self.fail_safe_reasons),
            "written": self.fail_safe_written,
            "state_lost": bool(self.guard and self.guard.lost),
        }

    async def _event(
        self, kind: str, severity: str, service: str, detail: str, mode: RiskMode | None = None
    ) -> None:
        now = self.bus.clock.now_ms()
        with contextlib.suppress(Exception):
            await self.bus.publish(
                self.bus.keys.events,
                Event(
                    msg_id=derive_id(
                        "sup", kind, service, now, detail, self.timer.now_ms(), next(self._seq)
                    ),
                    ts_event=now,
                    ts_init=now,
                    source="supervisor",
                    kind=kind,
                    severity=severity,
                    detail=f"{service}: {detail}" if service else detail,
                    risk_mode=mode,
                    evidence={"service": service} if service else {},
                ),
            )
