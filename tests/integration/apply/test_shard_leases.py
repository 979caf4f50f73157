"""Shard leases on a real Redis: one owner per shard, fencing tokens that only grow, a
renewal that works only for the grant it renews, a dead owner's shard taken within
``lease_ms + renew_ms``, a preferred shard handed back to the process preferring it.

Expiry is Redis's own (PX): the tests that need one delete the lease key, which is what
PX does ``lease_ms`` after the last renewal; one test lets real time run it out and
measures the move.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.clock import steady_clock
from quantum_trader.operator_settings import ShardingSettings
from quantum_trader.services.shard_lease import ShardClaim, ShardLeases

SERVICE = "apply-layer"


@dataclass
class Recorded(ShardLeases):
    """Leases that record what they gained and lost, in order."""

    events: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()

        async def gained(shard: int) -> None:
            self.events.append(("gained", shard))

        async def lost(shard: int) -> None:
            self.events.append(("lost", shard))

        self.on_gain, self.on_loss = gained, lost


def leases(
    redis: aioredis.Redis,
    keys: Keys,
    owner: str,
    shards: int = 2,
    *,
    prefer: tuple[int, ...] = (),
    lease_ms: int = 3000,
    renew_ms: int = 1000,
) -> Recorded:
    settings = ShardingSettings(shards=shards, prefer=prefer, lease_ms=lease_ms, renew_ms=renew_ms)
    return Recorded(redis, keys, SERVICE, owner, settings)


async def test_a_shard_has_one_owner_and_every_grant_a_larger_fencing_token(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    a, b = leases(redis_client, keys, "a"), leases(redis_client, keys, "b")
    first = await a.acquire(0)
    assert first is not None and first.owner == "a"
    assert await b.acquire(0) is None  # held: SET-if-absent semantics
    assert await a.renew(first)
    assert not await b.renew(ShardClaim(0, first.key, '{"owner":"b","token":0}', "b", 0))
    assert await a.release(first)
    second = await b.acquire(0)
    assert second is not None and second.owner == "b" and second.token > first.token
    assert not await a.renew(first)  # an old grant renews nothing, even its former owner's
    assert not await a.release(first)
    assert await redis_client.get(second.key) == second.value.encode()
    third = await a.acquire(1)  # one counter for the service: tokens grow across shards
    assert third is not None and third.token > second.token


async def test_an_expired_lease_is_taken_over_and_its_old_owner_stops_serving_it(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    a, b = leases(redis_client, keys, "a"), leases(redis_client, keys, "b")
    await a.round()
    assert a.held_shards() == (0, 1) and a.events == [("gained", 0), ("gained", 1)]
    old = a.held[1]
    await b.round()
    assert b.held_shards() == ()  # both held and renewed
    await redis_client.delete(old.key)  # a stopped renewing: its lease runs out
    await b.round()
    assert b.held_shards() == (1,) and b.held[1].token > old.token
    await a.round()  # a wakes: its renewal fails, it stops serving shard 1 at once
    assert a.held_shards() == (0,) and a.events[-1] == ("lost", 1)
    assert a.stats.lost == 1


async def test_a_failed_renewal_of_a_grant_still_in_redis_keeps_its_token(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    a = leases(redis_client, keys, "a", shards=1)
    await a.round()
    before = a.held[0]
    await a.lose(0)  # e.g. the renewal's connection broke: not provably ours, so dropped
    assert a.held_shards() == ()
    await a.round()  # the key still holds this grant: taken back with the same token
    assert a.held[0] == before


async def test_a_preferred_shard_is_handed_back_by_the_process_covering_it(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    a = leases(redis_client, keys, "a", prefer=(0,))
    b = leases(redis_client, keys, "b", prefer=(1,))
    await a.round()  # alone: it serves both
    assert a.held_shards() == (0, 1)
    await b.round()  # shard 1 is covered by a: b asks for it
    assert b.held_shards() == ()
    assert await redis_client.get(keys.shard_want(SERVICE, 1)) == b"b"
    await a.round()  # a gives it back (it does not prefer it) and does not take it again
    assert a.held_shards() == (0,) and a.events[-1] == ("lost", 1)
    await b.round()
    assert b.held_shards() == (1,)
    await a.round()
    await b.round()
    assert (a.held_shards(), b.held_shards()) == ((0,), (1,))
    await b.release_all()  # a clean stop: released, the ask withdrawn
    assert not await redis_client.exists(keys.shard(SERVICE, 1), keys.shard_want(SERVICE, 1))
    await a.round()  # the survivor covers it at its next round, no lease_ms to wait
    assert a.held_shards() == (0, 1)


async def test_a_dead_owners_shard_moves_within_lease_plus_renew_ms(
    redis_client: aioredis.Redis, keys: Keys
) -> None:
    """Real time: the dead owner's last renewal, then Redis expires its lease after
    ``lease_ms``; the survivor, trying free shards every ``renew_ms``, holds it by
    ``lease_ms + renew_ms`` (plus this machine's scheduling)."""
    lease_ms, renew_ms = 1000, 250
    dead = leases(redis_client, keys, "dead", lease_ms=lease_ms, renew_ms=renew_ms)
    survivor = leases(redis_client, keys, "survivor", lease_ms=lease_ms, renew_ms=renew_ms)
    moved = asyncio.Event()

    async def gained(shard: int) -> None:
        if len(survivor.held) == 2:
            moved.set()

    survivor.on_gain = gained
    await dead.round()  # its last renewal: it dies right after
    died_at = steady_clock().now_ms()
    stop = asyncio.Event()
    running = asyncio.create_task(survivor.run(stop))
    try:
        await asyncio.wait_for(moved.wait(), timeout=(lease_ms + renew_ms) / 1000 + 1.0)
    finally:
        stop.set()
        await running
    took = steady_clock().now_ms() - died_at
    assert lease_ms - 50 <= took <= lease_ms + renew_ms + 400, took
    assert survivor.held_shards() == (0, 1)
    assert min(c.token for c in survivor.held.values()) > max(c.token for c in dead.held.values())
