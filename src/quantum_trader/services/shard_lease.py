"""A lease per symbol shard: which process serves which shard, with fencing tokens.

With ``sharding.shards`` = N > 1, each shard ``k`` of a service has one lease key,
``{prefix}shard:{service}:{k}``, holding ``{owner, token}`` with a TTL of
``sharding.lease_ms``. A grant is SET-if-absent plus a fencing token (INCR of the
service's counter), so every grant of a shard has a larger token than the one before; a
renewal (every ``sharding.renew_ms``) and a release succeed only while the key still holds
the caller's own grant (``shard_lease.lua``: compare, then PEXPIRE or DEL).

**Bounded move time.** An owner that dies (or stops: SIGSTOP, a long pause) renews no
more: its lease expires ``lease_ms`` after its last renewal, and every live process tries
the free shards at each of its rounds, ``renew_ms`` apart — so a survivor holds a dead
owner's shard within ``lease_ms + renew_ms`` (4 s by default) and reads its lanes at its
next poll. What the dead owner had read but not acknowledged is adopted by the survivor's
consumer (the same consumer group) once the dead process's liveness key has lapsed
(``heartbeat_ttl_ms``), at its next reclaim (``reclaim_interval_ms``).

**Preference.** A process takes its ``sharding.prefer`` shards first. A shard it covers
without preferring it (its owner died) it gives back when the process preferring it
returns: that process leaves a *want* key, and the covering owner releases the shard at
its next round. With ``prefer`` empty a process takes whatever is free (a standby).

The lease alone does not stop a stale owner — one that lost its lease while it was
stopped and still has a plan in hand. The apply layer's entry gate therefore checks,
inside its one Lua script, that the caller's lease key still holds the caller's grant
(``not_shard_owner`` otherwise), and the exit path checks it right before an order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
import structlog
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from quantum_trader.bus.keys import Keys
from quantum_trader.clock import Clock, pause, steady_clock
from quantum_trader.decide.shards import shard_of
from quantum_trader.operator_settings import ShardingSettings

log = structlog.get_logger(__name__)
_LEASE = Path(__file__).with_name("shard_lease.lua").read_text()
ShardChange = Callable[[int], Awaitable[None]]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class ShardClaim:
    """One shard's lease as its owner holds it: the key, the value exactly as stored (what
    every compare is against) and the grant's fencing token."""

    shard: int
    key: str
    value: str
    owner: str
    token: int

    @classmethod
    def parse(cls, shard: int, key: str, value: str) -> ShardClaim:
        grant = json.loads(value)
        return cls(shard, key, value, str(grant["owner"]), int(grant["token"]))


@dataclass
class ShardLeaseStats:
    gained: int = 0
    lost: int = 0  # a renewal failed, or the gate found the lease another's
    given_back: int = 0  # released to the process that prefers the shard
    failed_rounds: int = 0


@dataclass
class ShardLeases:
    """The shard leases one process of ``service`` holds, kept by :meth:`run`.

    ``on_gain(k)`` runs once a lease is granted (start consuming shard ``k``),
    ``on_loss(k)`` once it is lost or given back (stop consuming it, at once); both on
    the coroutine that changed the lease. ``timer``: real time (a lease's TTL is Redis's).
    """

    client: aioredis.Redis
    keys: Keys
    service: str
    owner: str
    sharding: ShardingSettings
    on_gain: ShardChange | None = None
    on_loss: ShardChange | None = None
    after_round: Callable[[], Awaitable[None]] | None = None  # e.g. settle what was lost
    timer: Clock = field(default_factory=steady_clock)
    held: dict[int, ShardClaim] = field(default_factory=dict)
    stats: ShardLeaseStats = field(default_factory=ShardLeaseStats)
    _last: dict[int, str] = field(default_factory=dict)  # the last grant held, per shard
    _script: AsyncScript = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._script = self.client.register_script(_LEASE)

    @property
    def shards(self) -> int:
        return self.sharding.shards

    def held_shards(self) -> tuple[int, ...]:
        return tuple(sorted(self.held))

    def claim_of(self, symbol: str) -> ShardClaim | None:
        """This process's lease on ``symbol``'s shard, if it holds one."""
        return self.held.get(shard_of(symbol, self.shards))

    def order(self) -> list[int]:
        """The shards in the order this process asks for them: preferred first."""
        prefer = list(self.sharding.prefer)
        return prefer + [k for k in range(self.shards) if k not in prefer]

    async def _call(self, shard: int, *args: str | int) -> tuple[bool, str]:
        keys = [
            self.keys.shard(self.service, shard),
            self.keys.shard_token(self.service),
            self.keys.shard_want(self.service, shard),
        ]
        ok, value = await self._script(keys=keys, args=list(args))
        return bool(int(ok)), _text(value)

    async def acquire(self, shard: int) -> ShardClaim | None:
        """Take ``shard`` if it is free (or still this process's own grant)."""
        preferred = "1" if shard in self.sharding.prefer else "0"
        ok, value = await self._call(
            shard, "acquire", self.owner, self.sharding.lease_ms, self._last.get(shard, ""),
            preferred,
        )  # fmt: skip
        if not ok:
            return None
        claim = ShardClaim.parse(shard, self.keys.shard(self.service, shard), value)
        self._last[shard] = value
        return claim

    async def renew(self, claim: ShardClaim) -> bool:
        ok, _ = await self._call(claim.shard, "renew", claim.value, self.sharding.lease_ms)
        return ok

    async def release(self, claim: ShardClaim) -> bool:
        ok, _ = await self._call(claim.shard, "release", claim.value)
        self._last.pop(claim.shard, None)
        return ok

    async def still_held(self, claim: ShardClaim) -> bool:
        """The lease key still holds ``claim`` (one read: Redis is the arbiter)."""
        return _text(await self.client.get(claim.key) or b"") == claim.value

    async def round(self) -> None:
        """Renew what is held (a failure drops the shard at once), give back what a
        preferring process asks for, ask for preferred shards, take the free ones."""
        for claim in list(self.held.values()):
            try:
                renewed = await self.renew(claim)
            except (RedisError, OSError):
                renewed = False  # not provably ours any more: stop serving it now
            if not renewed:
                await self.lose(claim.shard)
        for shard in [k for k in self.held if k not in self.sharding.prefer]:
            wanted = await self.client.get(self.keys.shard_want(self.service, shard))
            if wanted is not None and _text(wanted) != self.owner:
                await self.give_back(shard)
        for shard in self.order():
            if shard in self.held:
                continue
            granted = await self.acquire(shard)
            if granted is not None:
                await self._gain(granted)
            elif shard in self.sharding.prefer:
                # held by a process covering for us: ask for it (lives while we ask)
                want = self.keys.shard_want(self.service, shard)
                await self.client.set(want, self.owner, px=self.sharding.lease_ms)

    async def _gain(self, claim: ShardClaim) -> None:
        self.held[claim.shard] = claim
        self.stats.gained += 1
        want = self.keys.shard_want(self.service, claim.shard)
        if _text(await self.client.get(want) or b"") == self.owner:
            await self.client.delete(want)  # got what it asked for
        log.info("shard gained", service=self.service, shard=claim.shard, token=claim.token)
        if self.on_gain is not None:
            await self.on_gain(claim.shard)

    async def lose(self, shard: int) -> None:
        """Stop serving ``shard`` at once: its renewal failed, or the gate found its lease
        another's (a lease lost while this process was stopped)."""
        if self.held.pop(shard, None) is None:
            return
        self.stats.lost += 1
        log.warning("shard lost", service=self.service, shard=shard)
        if self.on_loss is not None:
            await self.on_loss(shard)

    async def give_back(self, shard: int) -> None:
        """Stop serving ``shard``, then release it for the process that prefers it."""
        claim = self.held.pop(shard, None)
        if claim is None:
            return
        self.stats.given_back += 1
        if self.on_loss is not None:
            await self.on_loss(shard)
        await self.release(claim)
        log.info("shard given back", service=self.service, shard=shard)

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the leases until ``stop``: a round every ``renew_ms`` of real time."""
        while not stop.is_set():
            try:
                await self.round()
                if self.after_round is not None:
                    await self.after_round()
            except (RedisError, OSError) as exc:
                self.stats.failed_rounds += 1
                log.warning("shard lease round failed", service=self.service, error=str(exc))
            if await pause(self.timer, self.sharding.renew_ms / 1000, stop):
                break

    async def release_all(self) -> None:
        """A clean stop: every lease released (a survivor takes it at its next round,
        not after ``lease_ms``) and this process's asks withdrawn."""
        for shard in list(self.held):
            claim = self.held.pop(shard)
            try:
                await self.release(claim)
            except (RedisError, OSError):
                pass  # it expires after lease_ms
        for shard in self.sharding.prefer:
            want = self.keys.shard_want(self.service, shard)
            try:
                if _text(await self.client.get(want) or b"") == self.owner:
                    await self.client.delete(want)
            except (RedisError, OSError):
                pass
