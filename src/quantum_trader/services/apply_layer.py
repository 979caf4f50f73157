"""The apply layer: the single executor of every plan (FAILURES #2, #21).

OPEN plans pass the atomic entry gate, then one market order with a client id derived
from the plan, then a protective stop on the fill. CLOSE / PARTIAL / UPDATE_STOP plans
skip every entry gate (invariant 4, FAILURES #13) and are sized against the live
position at execution (FAILURES #12). Every plan yields exactly one ``apply.result``.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import encode
from quantum_trader.bus.idempotency import EffectStore, StreamAdd
from quantum_trader.bus.identity import consumer_name
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import ApplyResult, Message, Plan, derive_id
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import Clock
from quantum_trader.decide import reasons
from quantum_trader.decide.entry_gates import ApplyConfig, gate_applies
from quantum_trader.decide.exit_execution import (
    ExitRequest,
    MoveStop,
    Skip,
    after_close,
    exit_step,
)
from quantum_trader.decide.order_requests import (
    entry_order,
    entry_order_id,
    exit_order_id,
)
from quantum_trader.decide.position_close import plan_cooldown_ms
from quantum_trader.decide.position_ledger import LedgerPosition
from quantum_trader.domain.enums import PlanAction
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.orders import Order
from quantum_trader.exchange.interface import Exchange
from quantum_trader.services.durability import (
    ENTRY_RESERVATION,
    EXIT_RESERVATION,
    PLAN_FINISH,
    Durability,
)
from quantum_trader.services.entry_gate import Fence, GateAnswer, Lease, RedisEntryGate
from quantum_trader.services.ledger_port import Ledger
from quantum_trader.services.order_router import OrderRouter, Refused
from quantum_trader.services.protective_stop import ProtectiveStops
from quantum_trader.services.shard_lanes import ShardLanes


@dataclass(frozen=True, slots=True)
class Outcome:
    executed: bool
    reason: str
    order: Order | None = None
    published: bool = False  # its result went out with the plan's final state


@dataclass
class ApplyLayer:
    exchange: Exchange
    router: OrderRouter
    ledger: Ledger
    gate: RedisEntryGate
    stops: ProtectiveStops
    effects: EffectStore
    bus: Bus
    client: aioredis.Redis
    clock: Clock
    instruments: Mapping[str, Instrument]
    config: ApplyConfig = field(default_factory=ApplyConfig)
    # WAIT for replicas before an order goes out and after a plan's finish (None: never)
    durability: Durability | None = None
    # sharded (``sharding.shards`` > 1): the shards this executor holds and their lanes;
    # it judges only its own shards' plans and hands every other one to its owner's lane
    lanes: ShardLanes | None = None
    source: str = "apply-layer"
    # this executor's consumer name, unique to its process: entry reservations record it
    owner: str = field(default_factory=lambda: consumer_name("apply-layer"))
    decisions: Counter[str] = field(default_factory=Counter)
    # wall-clock ms from taking a plan to the exchange's answer, by plan kind (bounded)
    latency_ms: dict[str, deque[float]] = field(
        default_factory=lambda: {"open": deque(maxlen=10_000), "exit": deque(maxlen=10_000)}
    )
    submitted: Counter[str] = field(default_factory=Counter)  # every latency ever recorded
    _taken_at: float = 0.0
    # Plans this executor is executing now. Its reservations carry its owner name and the
    # gate lets an owner resume its own (a redelivery after a crash); a copy that arrives
    # while the first is still in flight here is that one's, never a resume.
    _in_flight: set[str] = field(default_factory=set)

    async def handle(self, message: Message, delivery: Delivery) -> None:
        if not isinstance(message, Plan):
            raise TypeError(f"apply layer got {type(message).__name__}")
        self._taken_at = time.perf_counter()
        if self.lanes is not None and self.lanes.claim_of(message.symbol) is None:
            await self._hand_back(message, delivery)  # another executor's shard
            return
        if message.plan_id in self._in_flight:  # its first copy publishes the one result
            self.decisions[reasons.IN_PROGRESS_ELSEWHERE] += 1
            return
        self._in_flight.add(message.plan_id)
        try:
            outcome = await (
                self.open(message) if gate_applies(message.kind) else self.exit(message)
            )
        finally:
            self._in_flight.discard(message.plan_id)
        if outcome.reason == reasons.NOT_SHARD_OWNER:
            await self._hand_back(message, delivery)  # its lease was lost meanwhile
            return
        self.decisions[outcome.reason] += 1
        if outcome.published or outcome.reason == reasons.DUPLICATE_PLAN:
            return  # a plan already done had its result published with its final state
        await self.publish_result(message, outcome)

    async def _hand_back(self, plan: Plan, delivery: Delivery) -> None:
        """Onto the lane of the plan's shard, for its owner; no result (the owner's)."""
        assert self.lanes is not None
        self.decisions[reasons.NOT_SHARD_OWNER] += 1
        await self.lanes.hand_back(plan, delivery)

    def _submitted(self, kind: str) -> None:
        self.latency_ms[kind].append((time.perf_counter() - self._taken_at) * 1000)
        self.submitted[kind] += 1

    # -- entries ---------------------------------------------------------------------

    async def open(self, plan: Plan) -> Outcome:
        assert plan.qty is not None and plan.stop_price is not None
        now = self.clock.now_ms()
        price = plan.reference_price or plan.stop_price
        lease = Lease(
            plan.plan_id,
            entry_order_id(plan.plan_id),
            plan.side,
            plan.qty * price,
            now,
            self.owner,
        )
        claim = self.lanes.claim_of(plan.symbol) if self.lanes is not None else None
        if self.lanes is not None and claim is None:
            return Outcome(False, reasons.NOT_SHARD_OWNER, published=True)
        verdict = await self.gate.check_and_reserve(
            plan_id=plan.plan_id,
            symbol=plan.symbol,
            side=plan.side,
            notional=lease.notional,
            # A plan is stale once it is older than the configured maximum, whatever
            # lifetime it claims (a plan an hour old with a day's expiry is not traded).
            expires_at=min(plan.expires_at, plan.created_at + self.gate.limits.max_plan_age_ms),
            lease=lease,
            now=now,
            shard=claim,
        )
        if verdict.answer is GateAnswer.SKIP:
            if verdict.reason == reasons.NOT_SHARD_OWNER:  # lost while this one was away
                return await self._not_owner(plan)
            return Outcome(False, verdict.reason)
        if verdict.answer is GateAnswer.BUSY:  # its live owner publishes the one result
            return Outcome(False, reasons.IN_PROGRESS_ELSEWHERE, published=True)
        lease = verdict.lease or lease
        order: Order | None = None
        if verdict.answer is GateAnswer.RESUME:
            order = await self.router.resolve(plan.symbol, lease.client_order_id)
            if order is None and verdict.took_over:
                # Its owner stopped before the order was seen: placing it now could make
                # two (a stopped owner may yet wake up). An entry is optional; a double
                # entry is not. The symbol's lease is kept until it expires, so no other
                # plan enters beside an order the woken owner might still send.
                outcome = Outcome(False, reasons.OWNER_LOST)
                return await self._finish(plan, outcome, 0, release=False)
        if order is None:
            await self.exchange.set_leverage(plan.symbol, plan.leverage)
            # The fencing check, as close to the order as it can be: an executor whose
            # reservation was taken over while it was stopped places nothing.
            fence = await self.gate.fence(plan.plan_id, plan.symbol, lease, claim)
            if fence is Fence.SUPERSEDED:
                return Outcome(False, reasons.SUPERSEDED, published=True)
            if fence is Fence.NOT_SHARD_OWNER:  # its reservation given up: the owner's now
                return await self._not_owner(plan)
            if not await self._durable(ENTRY_RESERVATION):
                # A failover now could lose the reservation, and a replay place a second
                # order beside this one: no order goes out (an entry is optional).
                return await self._finish(plan, Outcome(False, reasons.NOT_DURABLE), 0)
            request = entry_order(plan.plan_id, plan.symbol, plan.side, plan.qty)
            placed = await self.router.place(request)
            if isinstance(placed, Refused):
                return await self._finish(
                    plan, Outcome(False, f"exchange_rejected:{placed.code}"), 0
                )
            order = placed.order
            self._submitted("open")
        order = await self.router.until_final(order)
        try:
            for fill in await self.router.fills_of(order):
                await self.ledger.record_fill(fill, plan.leverage)
        except RedisError:
            # The store cannot take the fill (out of memory, gone): the position must not
            # wait for it to be protected. Then fail, so the plan is redelivered.
            if order.executed_qty > 0:
                await self.stops.emergency(
                    plan.symbol, plan.side, order.executed_qty, plan.stop_price, plan.plan_id
                )
            raise
        if order.executed_qty <= 0:
            return await self._finish(plan, Outcome(False, "not_filled", order), 0)
        position = await self.ledger.read(plan.symbol)
        protected = position is None or await self.stops.ensure(position, plan.stop_price)
        # The entry filled either way; a refused stop means it was closed again at market.
        reason = "executed" if protected else reasons.EXECUTED_THEN_CLOSED_STOP_REFUSED
        cooldown = plan_cooldown_ms(plan.action, True, self.config.cooldown_ms)
        return await self._finish(plan, Outcome(True, reason, order), cooldown)

    async def _not_owner(self, plan: Plan) -> Outcome:
        """The symbol's shard lease is another's: stop serving that shard at once."""
        if self.lanes is not None:
            await self.lanes.refused(plan.symbol)
        return Outcome(False, reasons.NOT_SHARD_OWNER, published=True)

    async def _finish(
        self, plan: Plan, outcome: Outcome, cooldown_ms: int, *, release: bool = True
    ) -> Outcome:
        payload = encode(self._result(plan, outcome))
        await self.gate.finish(
            plan.plan_id,
            plan.symbol if release else None,
            f"done:{outcome.reason}",
            cooldown_ms,
            (self.bus.keys.apply_result, payload, self.bus.maxlen),
            now=self.clock.now_ms(),
            cooldown_symbol=plan.symbol if cooldown_ms else None,
        )
        if outcome.order is not None:  # counted when short: the order cannot be undone
            await self._durable(PLAN_FINISH)
        return replace(outcome, published=True)

    # -- exits -----------------------------------------------------------------------

    async def exit(self, plan: Plan) -> Outcome:
        if not await self._serves(plan.symbol):
            return Outcome(False, reasons.NOT_SHARD_OWNER, published=True)
        done_key = self.bus.keys.plan_done(plan.plan_id)
        claimed = await self.client.set(
            done_key, "reserved:exit", nx=True, px=self.gate.limits.plan_done_ttl_ms
        )
        previous = None if claimed else await self.client.get(done_key)
        if claimed:  # exits are never blocked: a short count is logged and counted only
            await self._durable(EXIT_RESERVATION)
        if previous is not None and as_text(previous).startswith("done"):
            return Outcome(False, reasons.DUPLICATE_PLAN)
        # A plan reserved but not done was interrupted (the process died mid-way): its
        # order may already be on the exchange, and a filled market order frees its client
        # id, so it must be looked up, never placed again.
        outcome = await self._exit(plan, resuming=previous is not None)
        if outcome.reason == reasons.NOT_SHARD_OWNER:
            # Nothing was sent; left reserved, so the owner resumes it (looks its order up
            # first): an exit is never lost, and never sent by two executors.
            return replace(outcome, published=True)
        await self.gate.finish(
            plan.plan_id,
            None,
            f"done:{outcome.reason}",
            plan_cooldown_ms(plan.action, outcome.executed, self.config.cooldown_ms),
            (self.bus.keys.apply_result, encode(self._result(plan, outcome)), self.bus.maxlen),
            cooldown_symbol=plan.symbol,
            now=self.clock.now_ms(),
        )
        if outcome.order is not None:
            await self._durable(PLAN_FINISH)
        return replace(outcome, published=True)

    async def _serves(self, symbol: str) -> bool:
        """Unsharded, or this executor holds ``symbol``'s shard by Redis right now."""
        return self.lanes is None or await self.lanes.still_held(symbol)

    async def _durable(self, write: str) -> bool:
        return self.durability is None or await self.durability.confirm(write)

    async def _exit(self, plan: Plan, resuming: bool = False) -> Outcome:
        request = exit_request(plan)
        coid = exit_order_id(plan.plan_id)
        ours = await self.ledger.read(plan.symbol)
        if resuming and plan.action is not PlanAction.UPDATE_STOP:
            earlier = await self.router.resolve(plan.symbol, coid)
            if earlier is not None:
                return await self._after_exit_order(request, earlier, ours)
        theirs = next((p for p in await self.exchange.positions() if p.symbol == plan.symbol), None)
        step = exit_step(
            request,
            ours,
            theirs.qty if theirs is not None else None,
            self.instruments[plan.symbol],
            theirs.mark_price if theirs is not None else Decimal(0),
        )
        if isinstance(step, Skip):
            return Outcome(False, step.reason)
        assert ours is not None
        if not await self._serves(plan.symbol):  # the last check before the exchange
            return Outcome(False, reasons.NOT_SHARD_OWNER)
        if isinstance(step, MoveStop):
            moved = await self.stops.ensure(ours, step.stop_price, step.label)
            return Outcome(moved, "stop_moved" if moved else "stop_refused_position_exited")
        await self.client.hset(self.bus.keys.exit_reasons, coid, step.label)
        placed = await self.router.place(step.order)
        self._submitted("exit")
        # Trigger → order on the system's clock: from the event that caused the plan.
        await self.client.hset(
            self.bus.keys.exit_latency, coid, str(max(0, self.clock.now_ms() - plan.ts_event))
        )
        if isinstance(placed, Refused):
            return Outcome(False, f"exchange_rejected:{placed.code}")
        return await self._after_exit_order(request, placed.order, ours)

    async def _after_exit_order(
        self, request: ExitRequest, placed: Order, ours: LedgerPosition | None
    ) -> Outcome:
        """Record the exit's fills, then cancel or resize the protective stop."""
        order = await self.router.until_final(placed)
        for fill in await self.router.fills_of(order):
            await self.ledger.record_fill(fill)
        remaining = await self.ledger.read(order.symbol)
        follow = after_close(request, ours, remaining)
        if follow.cancel_stop and ours is not None:
            await self.stops.cancel(ours)  # else: the reconciler cancels the orphan
        if remaining is not None:
            if follow.replace_stop:
                await self.stops.ensure(remaining, remaining.stop_price)  # for the rest
            if follow.ladder_stage:
                await self.ledger.set_ladder_stage(
                    order.symbol, remaining.position_id, follow.ladder_stage, self.clock.now_ms()
                )
        return Outcome(True, "executed", order)

    # -- results ---------------------------------------------------------------------

    def _result(self, plan: Plan, outcome: Outcome) -> ApplyResult:
        now = self.clock.now_ms()
        order = outcome.order
        return ApplyResult(
            msg_id=derive_id("result", plan.plan_id),
            correlation_id=plan.correlation_id,
            causation_id=plan.msg_id,
            ts_event=now,
            ts_init=now,
            source=self.source,
            plan_id=plan.plan_id,
            symbol=plan.symbol,
            action=plan.action,
            executed=outcome.executed,
            reason=outcome.reason,
            client_order_id=order.client_order_id if order else "",
            exchange_order_id=order.exchange_order_id if order else "",
            filled_qty=order.executed_qty if order else Decimal(0),
            avg_price=order.avg_price if order else Decimal(0),
        )

    async def publish_result(self, plan: Plan, outcome: Outcome) -> None:
        """Exactly one result per plan id, whatever is redelivered (gate SKIPs)."""
        await self.effects.apply_once(
            f"result:{plan.plan_id}",
            [
                StreamAdd(
                    self.bus.keys.apply_result, encode(self._result(plan, outcome)), self.bus.maxlen
                )
            ],
        )


def exit_request(plan: Plan) -> ExitRequest:
    """The exit plan as :func:`exit_step` takes it."""
    return ExitRequest(
        plan.plan_id, plan.position_id or "", plan.action, plan.stop_price, plan.reason_codes
    )
