"""Fail closed when Redis loses the system's state.

A FLUSHALL, a failover to an empty replica, a lost AOF or an evicting ``maxmemory``
policy leave Redis saying "no kill switch, no breaker, no position, no plan done" — and
every check that reads it would let entries through. So:

* At bootstrap the system writes an **epoch marker** (``Keys.epoch``) and keeps a copy in
  its data directory (``safety/<namespace>.json``). The apply layer's gate refuses every
  entry (``state_lost``) while the marker in Redis is not the one it expects; exits go
  on. A system that starts on a Redis that lost its marker starts that way too.
* The **kill switch and the circuit breaker** are written to that file as well as to
  Redis, and restored from it the moment the marker is found missing (``StateGuard``),
  so a lost Redis cannot silently switch them off.
* ``quantum state confirm`` lifts the halt: only once a reconcile round has rebuilt the
  ledger from the exchange since the loss (``reconcile:last`` exists again), and it
  writes the marker back.

A Redis holding *another* system's marker under our namespace is refused at start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import encode
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import Event, derive_id

SAFETY_DIR = "safety"


class ForeignState(RuntimeError):
    """Redis holds another system's epoch marker under this namespace."""


class NotConfirmable(RuntimeError):
    """``quantum state confirm`` cannot lift the halt (the message says why)."""


@dataclass(frozen=True, slots=True)
class SafetyStore:
    """The durable copy, one JSON file per key namespace in the data directory."""

    data_dir: Path
    key_prefix: str

    @property
    def path(self) -> Path:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.key_prefix.rstrip(":")) or "default"
        return self.data_dir / SAFETY_DIR / f"{slug}.json"

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise OSError(f"{self.path}: unreadable safety state ({exc}); fix or move it") from exc
        return data if isinstance(data, dict) else {}

    def update(self, **changes: Any) -> None:
        """Write ``changes`` (None deletes a field) atomically: write, fsync, rename —
        under an exclusive lock, so writers in several processes (the risk guard, the
        breaker, the kill-switch command) never lose each other's fields."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = {**self.read(), **changes}
            data = {k: v for k, v in data.items() if v is not None}
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            with tmp.open("w") as out:
                out.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself survives a power loss
            finally:
                os.close(directory)

    def forget(self) -> None:
        """The namespace is gone for good (a paper run deleted what it created)."""
        # The lock file stays: another process may hold a lock on it right now.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def establish_epoch(
    redis: aioredis.Redis, keys: Keys, store: SafetyStore, fresh: str
) -> tuple[str, bool]:
    """The epoch this system runs with, and whether Redis lost it (entries then halt).

    A first start (no marker anywhere) writes ``fresh`` to both; a restart finds them
    equal; a process joining a running system on another host adopts Redis's marker;
    a Redis without the marker the data directory remembers lost our state: the kill
    switch and breaker are restored from the file and entries stay halted until
    ``quantum state confirm``."""
    remembered = store.read().get("epoch")
    current = await redis.get(keys.epoch)
    held = as_text(current) if current is not None else None
    if held is None and remembered is None:
        if not await redis.set(keys.epoch, fresh, nx=True):  # another process was first
            again = await redis.get(keys.epoch)
            fresh = as_text(again) if again is not None else fresh
        store.update(epoch=fresh)
        return fresh, False
    if held is None:
        assert remembered is not None
        await restore_safety(redis, keys, store)
        return str(remembered), True
    if remembered is None:
        store.update(epoch=held)
        return held, False
    if held != remembered:
        raise ForeignState(
            f"Redis holds epoch {held!r} under {keys.prefix!r}, but {store.path} knows "
            f"{remembered!r}: another system's state, or a different data directory — "
            "point QUANTUM_REDIS_URL / QUANTUM_KEY_PREFIX / QUANTUM_DATA_DIR at one system"
        )
    return held, False


def operator_event(
    kind: str, at: int, reason: str, detail: str, evidence: dict[str, str] | None = None
) -> bytes:
    """The encoded event an operator's act on the safety state leaves on the events
    stream (a breaker reset, a state confirmation), with the reason they gave."""
    return encode(
        Event(
            msg_id=derive_id(kind, at, reason),
            ts_event=at,
            ts_init=at,
            source="operator",
            kind=kind,
            severity="warning",
            detail=detail,
            evidence=evidence or {},
        )
    )


async def confirm_after_loss(
    redis: aioredis.Redis, keys: Keys, store: SafetyStore, reason: str, now_ms: int
) -> bool:
    """The operator's step after a loss: once a reconcile round rebuilt the ledger from
    the exchange (``reconcile:last`` exists again), write the marker back and say so on
    the events stream. False when the state is intact (nothing to confirm)."""
    remembered = store.read().get("epoch")
    held = await redis.get(keys.epoch)
    if remembered is None:
        raise NotConfirmable(f"{store.path} has no record of this system: nothing to confirm")
    if held is not None:
        if as_text(held) == remembered:
            return False
        raise NotConfirmable(f"Redis holds another system's marker ({store.path})")
    if not await redis.exists(keys.reconcile_last):
        raise NotConfirmable(
            "no reconcile round since the loss: start the system (or wait for the "
            "position monitor's next round) so the ledger is rebuilt from the exchange"
        )
    await redis.set(keys.epoch, str(remembered), nx=True)
    detail = f"state confirmed by an operator after a loss: {reason}"
    await redis.xadd(
        keys.events, {"msg": operator_event("state_confirmed", now_ms, reason, detail)}
    )
    return True


async def restore_safety(redis: aioredis.Redis, keys: Keys, store: SafetyStore) -> list[str]:
    """Put the durable kill switch and breaker back into Redis; what was restored."""
    saved = store.read()
    restored = []
    for name, key in (("kill_switch", keys.risk_kill_switch), ("circuit", keys.risk_circuit)):
        value = saved.get(name)
        if value and await redis.set(key, json.dumps(value), nx=True):
            restored.append(name)
    return restored


@dataclass
class StateGuard:
    """Watches the epoch marker while the system runs (the supervisor calls ``check``):
    the moment it is gone, the kill switch and breaker come back from the data directory
    and a critical event says entries are halted until ``quantum state confirm``."""

    redis: aioredis.Redis
    bus: Bus
    store: SafetyStore
    epoch: str
    lost: bool = False

    async def check(self) -> bool:
        """True while the store holds our state."""
        current = await self.redis.get(self.bus.keys.epoch)
        intact = current is not None and as_text(current) == self.epoch
        if not intact and not self.lost:
            self.lost = True
            restored = await restore_safety(self.redis, self.bus.keys, self.store)
            await self._event(restored)
        elif intact:
            self.lost = False
        return intact

    async def _event(self, restored: list[str]) -> None:
        now = self.bus.clock.now_ms()
        again = f"; restored from {self.store.path}: {', '.join(restored)}" if restored else ""
        await self.bus.publish(
            self.bus.keys.events,
            Event(
                msg_id=derive_id("state-lost", self.epoch, now),
                ts_event=now,
                ts_init=now,
                source="supervisor",
                kind="state_lost",
                severity="critical",
                detail="Redis lost this system's state: entries halted until a reconcile "
                f"round and `quantum state confirm`{again}",
                evidence={"epoch": self.epoch},
            ),
        )
