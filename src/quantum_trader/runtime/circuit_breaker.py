"""The circuit breaker: runtime invariant checks over plans and fills that halt entries.

It trips — ``quantum:risk:circuit`` = HALT with the evidence, and a critical event — when
* one plan produced two entry orders (two exchange order ids for one client order id),
* one of its entries made a position larger than any plan asked for (no pyramiding
  configured; a person adding to it by hand is the reconciler's business), or
* a reduce-only fill of one of its orders grew a position.
Only an operator clears it (``quantum kill-switch reset-breaker``). It reads the streams
without a consumer group: its state is derived, so after a restart it replays the
retained history to rebuild it.
"""

from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import DecodeError, decode
from quantum_trader.bus.redis_transport import as_text
from quantum_trader.bus.schemas import Event, FillEvent, Plan, derive_id
from quantum_trader.decide.order_requests import entry_order_id
from quantum_trader.domain.enums import PlanKind, RiskMode, Side
from quantum_trader.domain.order_ids import is_entry, is_ours
from quantum_trader.runtime.safety_state import SafetyStore
from quantum_trader.services.ledger import RedisLedger
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime

TRADES_REMEMBERED = 100_000


@dataclass
class CircuitBreaker:
    bus: Bus
    redis: aioredis.Redis
    allow_pyramiding: bool = False
    plan_qty: dict[str, Decimal] = field(default_factory=dict)  # entry coid -> plan qty
    orders_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    position: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    ours: dict[str, bool] = field(default_factory=dict)  # position opened by our entry
    largest: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    # Trades folded, oldest first: a fill delivered again (a pump whose dedupe keys went
    # with a lost Redis re-forwards it under a new message id) is the same trade, never
    # a position twice its size.
    trades: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)
    # Symbols whose opening fill the retained history does not hold (a reduce-only fill
    # met no position: the streams were trimmed, or Redis lost them): no judgement until
    # the position is re-read from the reconciled ledger on the next poll.
    unknown: set[str] = field(default_factory=set)
    cursor: dict[str, str] = field(default_factory=dict)
    tripped: dict[str, Any] | None = None
    store: SafetyStore | None = None  # the durable copy a lost Redis cannot clear

    async def poll(self) -> None:
        keys = self.bus.keys
        if not await self.redis.exists(keys.epoch):  # Redis lost its state: so did we
            self.unknown |= {s for s, qty in self.position.items() if qty}
        await self._resync()
        streams: dict[Any, Any] = {
            keys.apply_plan: self.cursor.get(keys.apply_plan, "0-0"),
            keys.fills: self.cursor.get(keys.fills, "0-0"),
        }
        reply: list[Any] = list(await self.redis.xread(streams, count=1000) or [])
        for stream, entries in reply:
            name = as_text(stream)
            for entry_id, fields in entries:
                self.cursor[name] = as_text(entry_id)
                try:
                    message = decode((fields or {}).get(b"msg", b""))
                except DecodeError:
                    continue  # malformed entries are the consumers' dead letters
                evidence = self.observe(message)
                if evidence is not None:
                    await self.trip(evidence)

    def observe(self, message: object) -> dict[str, str] | None:
        if isinstance(message, Plan) and message.kind is PlanKind.OPEN and message.qty:
            coid = entry_order_id(message.plan_id)
            self.plan_qty[coid] = message.qty
            self.largest[message.symbol] = max(self.largest[message.symbol], message.qty)
            return None
        if not isinstance(message, FillEvent):
            return None
        symbol, coid = message.symbol, message.client_order_id
        if (symbol, message.trade_id) in self.trades:
            return None
        self.trades[(symbol, message.trade_id)] = None
        if len(self.trades) > TRADES_REMEMBERED:
            self.trades.popitem(last=False)
        before = self.position[symbol]
        after = before + (message.qty if message.side is Side.BUY else -message.qty)
        self.position[symbol] = after
        if symbol in self.unknown or (message.reduce_only and before == 0):
            self.unknown.add(symbol)  # its history is incomplete: judged after a resync
            return None
        if before == 0 or (before > 0) != (after > 0):
            self.ours[symbol] = is_entry(coid)
        if is_entry(coid):
            self.orders_of[coid].add(message.exchange_order_id)
            if len(self.orders_of[coid]) > 1:
                return {
                    "check": "two_entry_orders_for_one_plan",
                    "symbol": symbol,
                    "client_order_id": coid,
                    "orders": ",".join(sorted(self.orders_of[coid])),
                }
        if message.reduce_only and is_ours(coid) and abs(after) > abs(before):
            return {
                "check": "reduce_only_grew_position",
                "symbol": symbol,
                "client_order_id": coid,
                "before": str(before),
                "after": str(after),
            }
        limit = self.largest.get(symbol, Decimal(0))
        # Judged only for our own entry whose plan the retained history holds (not one
        # added by hand, not one whose plan went with trimmed streams or a lost Redis).
        grown_by_us = coid in self.plan_qty and bool(self.ours.get(symbol))
        if not self.allow_pyramiding and grown_by_us and limit > 0 and abs(after) > limit:
            return {
                "check": "position_larger_than_any_plan",
                "symbol": symbol,
                "client_order_id": coid,
                "before": str(before),
                "position": str(abs(after)),
                "largest_plan": str(limit),
            }
        return None

    async def _resync(self) -> None:
        """Positions of unknown symbols from the ledger, which the position monitor keeps
        equal to the exchange."""
        for symbol in sorted(self.unknown):
            position = await RedisLedger(self.redis, self.bus.keys).read(symbol)
            self.position[symbol] = position.signed_qty if position is not None else Decimal(0)
            self.ours[symbol] = position is not None and position.source == "plan"
            self.unknown.discard(symbol)

    async def trip(self, evidence: dict[str, str]) -> None:
        keys = self.bus.keys
        now = self.bus.clock.now_ms()
        payload = {
            "mode": RiskMode.HALT.value,
            "reason": evidence["check"],
            "evidence": evidence,
            "at": now,
        }
        if not await self.redis.set(keys.risk_circuit, json.dumps(payload), nx=True):
            return  # already tripped: the first evidence stays until an operator clears it
        self.tripped = payload
        if self.store is not None:
            self.store.update(circuit=payload)
        await self.bus.publish(
            keys.events,
            Event(
                msg_id=derive_id("circuit", evidence["check"], evidence.get("symbol"), now),
                ts_event=now,
                ts_init=now,
                source="circuit-breaker",
                kind="circuit_breaker",
                severity="critical",
                symbol=evidence.get("symbol", ""),
                detail=f"entries halted: {evidence['check']}",
                risk_mode=RiskMode.HALT,
                evidence=evidence,
            ),
        )


def build_circuit_breaker(
    breaker: CircuitBreaker, interval_s: float = 1.0, heartbeat_interval_s: float = 1.0
) -> ServiceRuntime:
    return ServiceRuntime(
        "circuit-breaker",
        breaker.bus.clock,
        breaker.bus.keys,
        RedisHealthWriter(breaker.redis),
        jobs=[PeriodicJob("check", interval_s, breaker.poll)],
        heartbeat_interval_s=heartbeat_interval_s,
    )
