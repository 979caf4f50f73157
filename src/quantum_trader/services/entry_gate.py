"""The apply layer's atomic entry gate: one Lua script checks every entry rule and
reserves the symbol (an in-flight lease) in a single step, so two consumers racing on
the same plan, or on two plans for one symbol, cannot both pass (FAILURES #1, #2).

The lease TTL is independent of (and longer than) any dedupe window (FAILURES #14).
A plan reserved but never finished (the apply layer died mid-way) comes back as
``RESUME`` with its lease, so the restarted executor resolves that order by its client
order id instead of placing a second one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

import redis.asyncio as aioredis

from quantum_trader.bus.keys import Keys
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.money import fmt

_SCRIPT = (Path(__file__).with_name("entry_gate.lua")).read_text()


class GateAnswer(StrEnum):
    ALLOW = "ALLOW"
    RESUME = "RESUME"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class GateLimits:
    allow_pyramiding: bool = False
    max_adds: int = 0
    max_open_positions: int = 10
    max_gross_exposure: Decimal = Decimal("1000000")
    lease_ms: int = 120_000
    plan_done_ttl_ms: int = 7 * 86_400_000


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a symbol's entry slot: the plan, its client order id and its notional."""

    plan_id: str
    client_order_id: str
    side: PositionSide
    notional: Decimal
    since: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "plan_id": self.plan_id,
                "client_order_id": self.client_order_id,
                "side": self.side.value,
                "notional": fmt(self.notional),
                "since": self.since,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Lease:
        d = json.loads(raw)
        return cls(
            d["plan_id"],
            d["client_order_id"],
            PositionSide(d["side"]),
            Decimal(d["notional"]),
            int(d["since"]),
        )


@dataclass(frozen=True, slots=True)
class GateResult:
    answer: GateAnswer
    reason: str = ""
    lease: Lease | None = None


class RedisEntryGate:
    def __init__(
        self, client: aioredis.Redis, keys: Keys, symbols: Sequence[str], limits: GateLimits
    ) -> None:
        self.client = client
        self.keys = keys
        self.symbols = tuple(symbols)
        self.limits = limits
        self._script = client.register_script(_SCRIPT)

    async def check_and_reserve(
        self,
        *,
        plan_id: str,
        symbol: str,
        side: PositionSide,
        notional: Decimal,
        expires_at: int,
        lease: Lease,
        now: int,
    ) -> GateResult:
        k = self.keys
        universe = self.symbols if symbol in self.symbols else (*self.symbols, symbol)
        keys = [
            k.plan_done(plan_id),
            k.position(symbol),
            k.inflight(symbol),
            k.cooldown_open(symbol),
            k.risk_state,
            k.risk_kill_switch,
            k.risk_supervisor,
            k.risk_circuit,
            k.positions,
            *(k.position(s) for s in universe),
            *(k.inflight(s) for s in universe),
        ]
        lim = self.limits
        args = [
            now,
            expires_at,
            side.value,
            fmt(notional),
            "1" if lim.allow_pyramiding else "0",
            lim.max_adds,
            lim.max_open_positions,
            fmt(lim.max_gross_exposure),
            lim.lease_ms,
            lease.to_json(),
            lim.plan_done_ttl_ms,
            len(universe),
        ]
        answer, detail = await self._script(keys=keys, args=args)
        verdict = GateAnswer(answer.decode() if isinstance(answer, bytes) else answer)
        text = detail.decode() if isinstance(detail, bytes) else str(detail)
        if verdict is GateAnswer.SKIP:
            return GateResult(verdict, text)
        return GateResult(verdict, "", Lease.from_json(text))

    async def finish(self, plan_id: str, symbol: str, outcome: str, cooldown_ms: int) -> None:
        """Mark the plan done, release the lease and start the cooldown, atomically."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.plan_done(plan_id), outcome, px=self.limits.plan_done_ttl_ms)
            pipe.delete(self.keys.inflight(symbol))
            if cooldown_ms > 0:
                pipe.set(self.keys.cooldown_open(symbol), plan_id, px=cooldown_ms)
            await pipe.execute()
