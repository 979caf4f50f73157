"""What the notifier watches besides the streams: services going dead and coming back,
and the market day ending.

**Services.** Liveness is what the supervisor reads: ``health:{service}``, a heartbeat
with a TTL that each service's own loop writes once it turns. A service whose key is
gone, or says anything but ``running``, for ``service_down_after_s`` of the steady
timer is dead: one ``service_dead`` notice; once it beats ``running`` again, one
``service_recovered``. The state lives in ``notify:services``, written in the same step
that queues the notice, so a restarted notifier neither repeats nor forgets either.

**The day.** At UTC midnight of the system's clock (market time) the day just ended is
summarised from the trade journal (positions closed that day, PnL, fees, win rate,
exits by reason) and Redis (open positions, risk mode, the sizing basis' equity), once
(``notify:summary_day`` and the notice's key ``daily_summary:<day>``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from quantum_trader.alerting.notifier import Notifier
from quantum_trader.alerting.notify_messages import (
    DayFigures,
    service_dead_notice,
    service_recovered_notice,
    summary_notice,
)
from quantum_trader.alerting.notify_rules import DAY_MS, day_owed, day_start_ms
from quantum_trader.bus.codec import DecodeError, decode
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import Heartbeat
from quantum_trader.runtime.supervisor import EXIT_PATH
from quantum_trader.services.journal import Journal

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    dead: bool
    since: int  # timer ms: when it went silent (dead) or was last seen (alive)
    last_seen: int | None = None

    def as_json(self) -> str:
        return json.dumps({"dead": self.dead, "since": self.since, "last_seen": self.last_seen})

    @classmethod
    def from_json(cls, raw: object) -> ServiceState | None:
        try:
            data = json.loads(as_text(raw))
            return cls(bool(data["dead"]), int(data["since"]), data.get("last_seen"))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class ServiceWatch:
    """Dead and recovered services, each told once."""

    notifier: Notifier
    services: Sequence[str]
    states: dict[str, ServiceState] = field(default_factory=dict)
    silent_since: dict[str, int] = field(default_factory=dict)  # timer ms
    last_seen: dict[str, int] = field(default_factory=dict)
    loaded: bool = False

    async def _load(self) -> None:
        raw = await self.notifier.redis.hgetall(self.notifier.bus.keys.notify_services)
        for name, value in raw.items():
            state = ServiceState.from_json(value)
            if state is not None:
                self.states[as_text(name)] = state
                if state.last_seen:
                    self.last_seen[as_text(name)] = int(state.last_seen)
        self.loaded = True

    async def running(self, service: str) -> bool:
        raw = await self.notifier.redis.get(self.notifier.bus.keys.health(service))
        if raw is None:
            return False
        try:
            beat = decode(raw)
        except DecodeError:
            return False
        return isinstance(beat, Heartbeat) and beat.status == "running"

    async def check(self) -> None:
        if not self.loaded:
            await self._load()
        down_after = int(self.notifier.settings.service_down_after_s * 1000)
        for service in self.services:
            now = self.notifier.timer.now_ms()
            known = self.states.get(service)
            if await self.running(service):
                self.silent_since.pop(service, None)
                self.last_seen[service] = now
                if known is not None and known.dead:
                    alive = ServiceState(False, now, now)
                    notice = service_recovered_notice(service, known.since, now)
                    await self.notifier.enqueue(notice, (service, alive.as_json()))
                    self.states[service] = alive
                elif known is None:
                    await self._remember(service, ServiceState(False, now, now))
                continue
            since = self.silent_since.setdefault(service, now)
            if (known is None or not known.dead) and now - since >= down_after:
                seen = self.last_seen.get(service)
                dead = ServiceState(True, since, seen)
                notice = service_dead_notice(service, since, seen, now, service in EXIT_PATH)
                await self.notifier.enqueue(notice, (service, dead.as_json()))
                self.states[service] = dead

    async def _remember(self, service: str, state: ServiceState) -> None:
        await self.notifier.redis.hset(
            self.notifier.bus.keys.notify_services, service, state.as_json()
        )
        self.states[service] = state


@dataclass
class DailySummary:
    """The summary of each market day, sent once after its UTC midnight."""

    notifier: Notifier
    journal: Journal | None

    async def check(self) -> str | None:
        """Queue the summary owed now, if any; returns its day."""
        redis, keys = self.notifier.redis, self.notifier.bus.keys
        now = self.notifier.clock.now_ms()
        raw = await redis.get(keys.notify_summary_day)
        last = as_text(raw) if raw is not None else None
        owed, done = day_owed(now, last)
        if owed is not None:
            figures = await self.figures(owed)
            await self.notifier.enqueue(summary_notice(figures, now))
        if done != last:
            await redis.set(keys.notify_summary_day, done)
        return owed

    async def figures(self, day: str) -> DayFigures:
        start = day_start_ms(day)
        rows = await asyncio.to_thread(self._closed, start, start + DAY_MS)
        nets = [Decimal(r.realized_pnl) - Decimal(r.fees) for r in rows]
        by_reason: dict[str, int] = {}
        for row in rows:
            by_reason[row.exit_reason] = by_reason.get(row.exit_reason, 0) + 1
        redis, keys = self.notifier.redis, self.notifier.bus.keys
        equity = await redis.hget(keys.sizing_basis, "equity")
        return DayFigures(
            day=day,
            trades=len(rows),
            wins=sum(1 for n in nets if n > 0),
            realized_pnl=sum((Decimal(r.realized_pnl) for r in rows), Decimal(0)),
            fees=sum((Decimal(r.fees) for r in rows), Decimal(0)),
            best=max(nets) if nets else None,
            worst=min(nets) if nets else None,
            closes_by_reason=by_reason,
            open_positions=int(await redis.scard(keys.positions)),
            risk_mode=await self._risk_mode(),
            equity=Decimal(as_text(equity)) if equity is not None else None,
        )

    def _closed(self, start: int, end: int) -> list[Any]:
        if self.journal is None:
            return []
        return [r for r in self.journal.closed() if start <= int(r.closed_at) < end]

    async def _risk_mode(self) -> str:
        """The risk guard's mode, and every override holding entries besides it."""
        redis, keys = self.notifier.redis, self.notifier.bus.keys
        raw = await redis.get(keys.risk_state)
        try:
            mode = str(json.loads(as_text(raw))["mode"]) if raw is not None else "UNKNOWN"
        except (ValueError, KeyError, TypeError):
            mode = "UNKNOWN"
        held = [
            name
            for name, key in (
                ("kill switch", keys.risk_kill_switch),
                ("supervisor", keys.risk_supervisor),
                ("breaker", keys.risk_circuit),
            )
            if await redis.exists(key)
        ]
        return f"{mode} (+ {', '.join(held)})" if held else mode
