"""WAIT: how many replicas hold the writes the apply layer made so far.

Redis acknowledges a write once the primary has it; replication to the replica follows
asynchronously. A failover (the primary dies, Sentinel promotes the replica) loses
whatever the replica had not yet received. Where losing a write would let money move
twice, the apply layer asks ``WAIT replicas timeout_ms`` first:

* an entry's reservation (``plan:done`` + the symbol's lease), before its order goes
  out: short of replicas, the order is not placed (``not_durable``; an entry is
  optional, a second entry after a replay is not);
* an exit's reservation, before its order: exits are never blocked (invariant 4), so a
  short count is logged and counted and the exit goes on;
* a plan's finish (its fills in the ledger, its stop, its result), after an order: the
  order is on the exchange and cannot be taken back; a short count is logged and
  counted, and a replay after a failover finds the order by its client order id.

WAIT counts the replicas holding the calling *connection's* last write; a pooled client
spreads writes over connections, so a small fence write goes first on the WAIT's own
connection (one pipeline): it stands for every write the server executed before it.
WAIT narrows the window; it is not a transaction: see docs/redis-failover.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

ENTRY_RESERVATION: Final = "entry_reservation"
EXIT_RESERVATION: Final = "exit_reservation"
PLAN_FINISH: Final = "plan_finish"
FENCE_TTL_MS = 60_000


@dataclass
class Durability:
    """``replicas`` = 0 (one server, the embedded default): every write counts as durable
    and nothing is sent."""

    client: aioredis.Redis
    fence_key: str
    replicas: int = 0
    timeout_ms: int = 200
    # writes found on fewer replicas than asked, by kind (exported as a metric)
    short: Counter[str] = field(default_factory=Counter)
    last_acked: int | None = None  # replicas the last WAIT reported

    async def confirm(self, write: str) -> bool:
        """True once every write so far is on ``replicas`` replicas (or none are asked
        for); False, logged and counted, when WAIT's timeout came first."""
        if self.replicas <= 0:
            return True
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self.fence_key, write, px=FENCE_TTL_MS)
            pipe.wait(self.replicas, self.timeout_ms)
            _, acked = await pipe.execute()
        self.last_acked = int(acked)
        if self.last_acked >= self.replicas:
            return True
        self.short[write] += 1
        log.warning(
            "write not on enough replicas",
            extra={"write": write, "replicas": self.last_acked, "wanted": self.replicas},
        )
        return False
