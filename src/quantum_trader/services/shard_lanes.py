"""The apply layer's lanes when symbols are sharded (``sharding.shards`` > 1).

An executor reads the lanes of the shards it holds (``apply.exit.{k}`` before
``apply.plan.{k}``) and, like every executor, the unsharded ``apply.exit`` /
``apply.plan``: the intake of publishers that do not route by shard (an operator's close
from the dashboard, plans written before sharding was switched on). A plan it is not the
owner of — from the intake, or one in hand when its lease was lost — is **handed back**:
written again, byte for byte, to its symbol's shard lane, and only then acknowledged. So
the plan waits on the lane its owner reads (a survivor takes a dead owner's lane within
the lease's move time) and nothing is lost; a crash between the two writes leaves a
second copy, which the gate's plan-done mark answers as a duplicate. Not acknowledging
instead would leave the plan pending on this executor until ``reclaim_idle_ms``.

Losing a shard, the executor stops reading its lanes at once and hands back what it had
read there but not acknowledged, so the new owner need not wait to reclaim it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError, ResponseError

from quantum_trader.bus.consumer import StreamConsumer
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import FIELD, RedisTransport
from quantum_trader.bus.schemas import Plan
from quantum_trader.bus.transport import Delivery
from quantum_trader.decide.entry_gates import gate_applies
from quantum_trader.decide.shards import shard_of
from quantum_trader.services.shard_lease import ShardClaim, ShardLeases

log = structlog.get_logger(__name__)


@dataclass
class ShardLanes:
    """Which lanes the executor's one consumer reads, following its shard leases."""

    leases: ShardLeases
    client: aioredis.Redis
    keys: Keys
    group: str
    consumer: StreamConsumer | None = None  # set once the consumer is built
    handed_back: int = 0
    _owed: set[int] = field(default_factory=set)  # lost shards whose pending is not yet back

    def __post_init__(self) -> None:
        self.leases.on_gain = self.gained
        self.leases.on_loss = self.lost
        self.leases.after_round = self.settle

    @property
    def intake(self) -> tuple[str, str]:
        return (self.keys.apply_exit, self.keys.apply_plan)

    def lanes(self, shard: int) -> tuple[str, str]:
        """Shard ``shard``'s exit lane and entry lane."""
        return (self.keys.apply_exit_shard(shard), self.keys.apply_plan_shard(shard))

    def all_lanes(self) -> list[str]:
        return [lane for k in range(self.leases.shards) for lane in self.lanes(k)]

    def claim_of(self, symbol: str) -> ShardClaim | None:
        return self.leases.claim_of(symbol)

    def lane_of(self, plan: Plan) -> str:
        shards = self.leases.shards
        if gate_applies(plan.kind):
            return self.keys.entry_lane(plan.symbol, shards)
        return self.keys.exit_lane(plan.symbol, shards)

    async def gained(self, shard: int) -> None:
        self._owed.discard(shard)
        if self.consumer is not None:
            exit_lane, entry_lane = self.lanes(shard)
            await self.consumer.follow([exit_lane], first=True)
            await self.consumer.follow([entry_lane])

    async def lost(self, shard: int) -> None:
        if self.consumer is not None:
            self.consumer.unfollow(self.lanes(shard))
        self._owed.add(shard)
        await self.settle()

    async def refused(self, symbol: str) -> None:
        """The gate found this executor's lease on ``symbol``'s shard another's."""
        await self.leases.lose(shard_of(symbol, self.leases.shards))

    async def still_held(self, symbol: str) -> bool:
        """This executor holds ``symbol``'s shard now, by Redis (the last check before an
        exit touches the exchange)."""
        claim = self.claim_of(symbol)
        if claim is not None and await self.leases.still_held(claim):
            return True
        if claim is not None:
            await self.refused(symbol)
        return False

    async def hand_back(self, plan: Plan, delivery: Delivery) -> None:
        """Put ``plan`` on its owner's lane; the consumer acknowledges it afterwards."""
        if not delivery.raw:
            return
        await self.client.xadd(self.lane_of(plan), {FIELD: delivery.raw})
        self.handed_back += 1
        log.info("plan handed to its shard", plan_id=plan.plan_id, symbol=plan.symbol)

    async def settle(self) -> None:
        """Hand back what this consumer still has pending on the lanes of lost shards
        (after each lease round too, until Redis takes it)."""
        if self.consumer is None:
            self._owed.clear()
            return
        for shard in sorted(self._owed):
            if shard in self.leases.held:
                self._owed.discard(shard)
                continue
            try:
                for lane in self.lanes(shard):
                    await self._hand_back_pending(lane, self.consumer)
            except (RedisError, OSError) as exc:
                log.warning("pending not handed back yet", shard=shard, error=str(exc))
                continue
            self._owed.discard(shard)

    async def _hand_back_pending(self, lane: str, consumer: StreamConsumer) -> None:
        transport = RedisTransport(self.client)
        while True:
            try:
                pending: Sequence[Delivery] = await transport.read_own_pending(
                    lane, self.group, consumer.consumer, consumer.config.batch
                )
            except ResponseError as exc:
                if "NOGROUP" in str(exc) or "no such key" in str(exc):
                    return  # the lane is gone (a flushed store): nothing pending on it
                raise
            # Not a message (no ``msg`` field): left pending, the lane's owner reclaims
            # and dead-letters it with its reason.
            plans = [d for d in pending if not d.problem]
            if not plans:
                return
            async with self.client.pipeline(transaction=True) as pipe:
                for delivery in plans:  # the copy, then the ack: atomic (MULTI)
                    if delivery.raw:
                        pipe.xadd(lane, {FIELD: delivery.raw})
                    pipe.xack(lane, self.group, delivery.entry_id)
                await pipe.execute()
            self.handed_back += len(plans)
            if len(pending) > len(plans):
                return
