"""Faults of the store itself: Redis forgetting everything, and Redis out of memory.

* **State loss** (``FLUSHALL``, as a failover to an empty replica would leave it): what
  the checker needs from the streams is kept first (plans, results, dead letters, exit
  reasons — the evidence would go with the flush, not the exchange's history), then
  Redis is flushed. Entries must halt from that moment until a reconcile round rebuilt
  the ledger and the operator's confirmation (``quantum state confirm``'s own function)
  wrote the marker back, one bar later: the window is recorded for the checker.
* **Out of memory**: ``maxmemory`` drops to one byte (``noeviction``: every write
  fails) the moment the exchange has an entry order, for about a second of wall time,
  so the fill meets a store that refuses its ledger write and the stop must go out
  anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import structlog

from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import as_text, stream_messages
from quantum_trader.bus.schemas import ApplyResult, DeadLetter, Plan
from quantum_trader.ops.stepped.faults import Kept
from quantum_trader.runtime.follow_clock import publish_time
from quantum_trader.runtime.safety_state import NotConfirmable, SafetyStore, confirm_after_loss

log = structlog.get_logger(__name__)
OOM_HOLD_S = 1.0
FOREVER = 2**62


@dataclass
class StoreFaults:
    redis: aioredis.Redis
    keys: Keys
    store: SafetyStore
    clock_key: str
    now: Callable[[], int]  # the exchange's time
    kept: Kept = field(default_factory=Kept)
    halts: list[tuple[int, int]] = field(default_factory=list)  # (lost at, confirmed at)
    oom_armed: list[int] = field(default_factory=list)  # the bars they were armed at
    starved: int = 0  # out-of-memory windows that struck
    starving: bool = False  # a window is on: the bar is not settled
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def lose_state(self, garbage: list[tuple[str, str]]) -> None:
        """Keep the evidence, then FLUSHALL; ``garbage`` keeps only entries every group
        of their stream dead-lettered already (the rest went with the flush)."""
        k = self.keys
        for stream in (k.apply_plan, k.apply_exit):
            self.kept.plans += [
                m for m in await stream_messages(self.redis, stream) if isinstance(m, Plan)
            ]
        results = await stream_messages(self.redis, k.apply_result)
        self.kept.results += [m for m in results if isinstance(m, ApplyResult)]
        dead = [m for m in await stream_messages(self.redis, k.dead) if isinstance(m, DeadLetter)]
        self.kept.dead += dead
        reasons = await self.redis.hgetall(k.exit_reasons)
        self.kept.exit_reasons.update({as_text(a): as_text(b) for a, b in reasons.items()})
        garbage[:] = await self._read_by_all(garbage)
        clock = await self.redis.get(self.clock_key)
        await self.redis.flushall()
        if not self.halts or self.halts[-1][1] != FOREVER:  # else: lost again, unconfirmed
            self.halts.append((self.now(), FOREVER))
        if clock is not None:  # the stepped clock is the harness's, not the system's state
            await publish_time(self.redis, self.clock_key, int(clock))

    async def _read_by_all(self, garbage: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The malformed entries every group of their stream has dead-lettered already:
        an entry one group lettered and another had not read yet goes with the flush,
        unread by the second (a stream's groups read at their own pace)."""
        lettered = {(d.source_stream, d.original_id, d.group) for d in self.kept.dead}
        groups: dict[str, list[str]] = {}
        for stream in {s for s, _ in garbage}:
            try:
                infos = await self.redis.xinfo_groups(stream)
            except aioredis.ResponseError:  # no such stream
                infos = []
            groups[stream] = [as_text(i["name"]) for i in infos]
        return [
            (stream, entry_id)
            for stream, entry_id in garbage
            if groups[stream] and all((stream, entry_id, g) in lettered for g in groups[stream])
        ]

    async def confirm(self) -> bool:
        """The operator's confirmation, once the position monitor has reconciled since
        the loss; False while it has not (the next bar tries again: the reconciler runs
        on the market clock, which stands still while this waits)."""
        if not self.halts or self.halts[-1][1] != FOREVER:
            return True
        try:
            await confirm_after_loss(
                self.redis, self.keys, self.store, "chaos: reconciled", self.now()
            )
        except NotConfirmable as exc:
            log.debug("state loss not confirmed yet", reason=str(exc))
            return False
        self.halts[-1] = (self.halts[-1][0], self.now())
        return True

    def arm_oom(self, bar: int) -> None:
        self.oom_armed.append(bar)

    def maybe_starve(self, entry_seen: bool, bar: int) -> bool:
        """Called while a bar settles: starve Redis once an entry order is out, or in the
        bar after the one it was armed at if no entry came."""
        if not self.oom_armed or self.starving or not (entry_seen or self.oom_armed[0] < bar):
            return False
        self.oom_armed.pop(0)
        self.starved += 1
        self.starving = True
        self.tasks.append(asyncio.get_running_loop().create_task(self._starve()))
        return True

    async def _starve(self) -> None:
        await self.redis.config_set("maxmemory", "1")
        try:
            await asyncio.sleep(OOM_HOLD_S)
        finally:
            await self.redis.config_set("maxmemory", "0")
            self.starving = False

    async def finish(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.redis.config_set("maxmemory", "0")

    def struck(self) -> dict[str, int]:
        return {
            "redis_oom": self.starved,
            "state_loss_confirmed": sum(1 for _, end in self.halts if end != FOREVER),
        }
