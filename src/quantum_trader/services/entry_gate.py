"""The apply layer's atomic entry gate: one Lua script checks every entry rule and
reserves the symbol (an in-flight lease) in a single step, so two consumers racing on
the same plan, or on two plans for one symbol, cannot both pass (FAILURES #1, #2).

The lease TTL is independent of (and longer than) any dedupe window (FAILURES #14).
A plan reserved but never finished (the apply layer died mid-way) comes back as
``RESUME`` with its lease, so the restarted executor resolves that order by its client
order id instead of placing a second one.

Sharded (``sharding.shards`` > 1), the caller also hands in its lease on the symbol's
shard: the same script answers ``SKIP not_shard_owner`` unless the lease key still holds
that grant, the fencing check before the order repeats it (and gives a stale owner's
reservation up), and a reservation whose owner lost the shard is taken over by the owner.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

import redis.asyncio as aioredis

from quantum_trader.bus import groups
from quantum_trader.bus.keys import Keys
from quantum_trader.decide.entry_gates import GateLimits
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.money import fmt
from quantum_trader.services.shard_lease import ShardClaim

EXECUTOR_GROUP = groups.APPLY_LAYER  # the consumer group whose members reserve entries
_CHECKS = Path(__file__).with_name("entry_gate_checks.lua").read_text()
_RESERVE = Path(__file__).with_name("entry_gate_reserve.lua").read_text()
_SCRIPT = _CHECKS + _RESERVE  # atomic: every check, then the reservation
_PRECHECK = _CHECKS + "return {'PASS', ''}\n"  # read-only: checks 0-7 on 10 keys
_FINISH = Path(__file__).with_name("plan_finish.lua").read_text()
_TAKEOVER = Path(__file__).with_name("entry_gate_takeover.lua").read_text()
_FENCE = Path(__file__).with_name("entry_gate_fence.lua").read_text()


class GateAnswer(StrEnum):
    ALLOW = "ALLOW"
    RESUME = "RESUME"  # reserved before, by this executor or one provably gone
    BUSY = "BUSY"  # reserved by another executor that is alive: it finishes the plan
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a symbol's entry slot: the plan, its client order id and its notional;
    the executor that reserved it (its consumer name) and the reservation's fencing
    token (set by the gate). ``raw`` is the reservation exactly as stored."""

    plan_id: str
    client_order_id: str
    side: PositionSide
    notional: Decimal
    since: int
    owner: str = ""
    token: int = 0
    raw: str = field(default="", compare=False)

    def to_json(self) -> str:
        return self.raw or json.dumps(
            {
                "plan_id": self.plan_id,
                "client_order_id": self.client_order_id,
                "side": self.side.value,
                "notional": fmt(self.notional),
                "since": self.since,
                "owner": self.owner,
                "token": self.token,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Lease:
        text = raw.decode() if isinstance(raw, bytes) else raw
        d = json.loads(text)
        return cls(
            d["plan_id"],
            d["client_order_id"],
            PositionSide(d["side"]),
            Decimal(d["notional"]),
            int(d["since"]),
            str(d.get("owner", "")),
            int(d.get("token", 0)),
            text,
        )


class Fence(StrEnum):
    """The check right before an entry order: place it, or why not."""

    OURS = "ours"
    SUPERSEDED = "superseded"  # the reservation was taken over (another token)
    NOT_SHARD_OWNER = "not_shard_owner"  # the shard was lost: reservation given up


@dataclass(frozen=True, slots=True)
class GateResult:
    answer: GateAnswer
    reason: str = ""
    lease: Lease | None = None
    took_over: bool = False  # RESUME of a reservation whose owner is gone


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisEntryGate:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        symbols: Sequence[str],
        limits: GateLimits,
        epoch: str | None = None,
    ) -> None:
        """``epoch``: the marker this system wrote into the store at bootstrap; while it
        is not there, no entry passes (None: no marker checked — tests of the rule)."""
        self.client = client
        self.keys = keys
        self.symbols = tuple(symbols)
        self.limits = limits
        self.epoch = epoch
        self._script = client.register_script(_SCRIPT)
        self._precheck = client.register_script(_PRECHECK)
        self._finish = client.register_script(_FINISH)
        self._takeover = client.register_script(_TAKEOVER)
        self._fence = client.register_script(_FENCE)

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
        shard: ShardClaim | None = None,
    ) -> GateResult:
        """``shard``: the caller's lease on the symbol's shard (sharded executors): the
        script answers ``SKIP not_shard_owner`` unless the lease key still holds it."""
        k = self.keys
        head = [
            k.plan_done(plan_id),
            k.position(symbol),
            k.inflight(symbol),
            k.cooldown_open(symbol),
            k.risk_state,
            k.risk_kill_switch,
            k.risk_supervisor,
            k.risk_circuit,
            k.epoch,
            k.pause_entries(symbol),
        ]
        epoch_at, pause_at = len(head) - 1, len(head)
        if shard:
            head.append(shard.key)
        owner_check = [len(head), shard.value] if shard else ["", ""]
        # A SKIP is always safe to act on (it places nothing), so duplicates and blocked
        # symbols are answered by the cheap read-only pre-check; an ALLOW only ever comes
        # from the atomic script below, which repeats every check.
        answer, detail = await self._precheck(
            keys=head,
            args=[
                now,
                expires_at,
                side.value,
                "0",
                "1" if self.limits.allow_pyramiding else "0",
                self.limits.max_adds,
                *("",) * 6,  # 7-12: the reservation's, unused by the checks
                epoch_at,  # the epoch key's index
                self.epoch or "",
                self.limits.risk_state_max_age_ms,
                pause_at,  # the pause key's index
                *owner_check,  # 17-18: the shard lease key's index, the caller's grant
            ],
        )
        if _text(answer) == GateAnswer.SKIP.value:
            return GateResult(GateAnswer.SKIP, _text(detail))
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
            k.fence,
            k.epoch,
            k.pause_entries(symbol),
        ]
        epoch_at, pause_at = len(keys) - 1, len(keys)
        if shard:
            keys += [shard.key]
        owner_check = [len(keys), shard.value] if shard else ["", ""]
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
            epoch_at,  # the epoch key's index
            self.epoch or "",
            lim.risk_state_max_age_ms,
            pause_at,  # the pause key's index
            *owner_check,
        ]
        answer, detail = await self._script(keys=keys, args=args)
        verdict = GateAnswer(_text(answer))
        text = _text(detail)
        if verdict is GateAnswer.SKIP:
            return GateResult(verdict, text)
        if verdict is GateAnswer.RESUME:
            return await self._resume(plan_id, symbol, Lease.from_json(text), lease.owner, shard)
        return GateResult(verdict, "", Lease.from_json(text))

    async def _resume(
        self, plan_id: str, symbol: str, held: Lease, me: str, shard: ShardClaim | None = None
    ) -> GateResult:
        """A reserved, unfinished plan: this executor's own (resume it), or another's —
        busy while that owner beats, taken over (new token) once it provably stopped or,
        sharded, once this executor holds the symbol's shard (the owner lost it)."""
        if held.owner == me:
            return GateResult(GateAnswer.RESUME, "", held)
        k = self.keys
        for _ in range(3):  # the reservation may change under us: look again
            answer, detail = await self._takeover(
                keys=[
                    k.plan_done(plan_id),
                    k.consumer_alive(EXECUTOR_GROUP, held.owner),
                    k.fence,
                    k.inflight(symbol),
                    *((shard.key,) if shard else ()),
                ],
                args=[
                    held.to_json(),
                    me,
                    self.limits.plan_done_ttl_ms,
                    *((shard.value,) if shard else ()),
                ],
            )
            outcome, text = _text(answer), _text(detail)
            if outcome == "TAKEN":
                return GateResult(GateAnswer.RESUME, "", Lease.from_json(text), took_over=True)
            if outcome == "BUSY":
                return GateResult(GateAnswer.BUSY, f"in_progress:{held.owner}", held)
            if outcome == "DONE":
                return GateResult(GateAnswer.SKIP, "duplicate_plan")
            held = Lease.from_json(text)
            if held.owner == me:
                return GateResult(GateAnswer.RESUME, "", held)
        return GateResult(GateAnswer.BUSY, f"in_progress:{held.owner}", held)

    async def still_ours(self, plan_id: str, lease: Lease) -> bool:
        """The fencing check right before an entry order goes out: the plan is still
        reserved under ``lease`` (a superseded executor must not place)."""
        return await self.fence(plan_id, "", lease) is Fence.OURS

    async def fence(
        self, plan_id: str, symbol: str, lease: Lease, shard: ShardClaim | None = None
    ) -> Fence:
        """:meth:`still_ours`, and, sharded, that the caller still holds the symbol's shard
        lease ``shard`` — if not, its reservation is given up in the same script (nothing
        was placed), so the shard's owner judges the plan afresh."""
        k = self.keys
        if shard is None:
            found = await self._fence(keys=[k.plan_done(plan_id)], args=[lease.to_json()])
        else:
            found = await self._fence(
                keys=[k.plan_done(plan_id), k.inflight(symbol), shard.key],
                args=[lease.to_json(), shard.value],
            )
        return {1: Fence.OURS, 0: Fence.SUPERSEDED}.get(int(found), Fence.NOT_SHARD_OWNER)

    async def finish(
        self,
        plan_id: str,
        symbol: str | None,
        outcome: str,
        cooldown_ms: int,
        result: tuple[str, bytes, int | None],
        *,
        now: int,
        cooldown_symbol: str | None = None,
    ) -> bool:
        """Mark the plan done, release its own lease (entries: ``symbol``), start the
        cooldown and publish its one result (stream, payload, maxlen) — atomically, so a
        plan that is done always has exactly one result, whenever a process dies."""
        k = self.keys
        stream, payload, maxlen = result
        cooled = cooldown_symbol or symbol or ""
        published = await self._finish(
            keys=[
                k.plan_done(plan_id),
                k.inflight(symbol) if symbol else "",
                k.cooldown_open(cooled),
                k.effect(f"result:{plan_id}"),
                stream,
            ],
            args=[
                outcome,
                self.limits.plan_done_ttl_ms,
                cooldown_ms if cooled else 0,
                plan_id,
                payload,
                maxlen or "",
                now,
            ],
        )
        return bool(published)
