"""The intent bridge: trade intents in, sized OPEN plans (or a reasoned "no") out.

An IO shell around ``decide.entry_plan`` (admission, then sizing), as the backtester's.
For each ``TradeIntent`` it judges admission against a fail-closed symbol universe
(configured ∩ exchange-listed, trusted only while fresh: FAILURES #18), sizes the entry
from the account at the close of the bar that decided it (the feed's sizing basis, else
one read per bar: every entry one close decided is sized from the same account, whatever
order they and the bar's exits reach the exchange in — the backtester sizes alike), and
publishes one OPEN ``Plan`` with the deterministic id ``plan_id_for_intent(intent_id)``.
Exactly-once is enforced in Redis, not in memory: the plan is written with
``apply_once("plan:<plan_id>")``, so a redelivered intent, a restart or a second bridge
instance can never emit a second plan for one intent (invariant 1).
A rejection is an ``intent_rejected`` event, also once per intent, and never silent.

The bridge never talks to the exchange's order API: the apply layer is the single
executor (FAILURES #21); this service only proposes.

Where a refused intent is counted (it never reaches ``apply.result``, so a run summary that
counts apply results does not see it):

* durably, once per intent: the ``intent_rejected`` event on ``stream:events`` with the
  reason in ``evidence["reason"]``; ``rejected_by_reason(redis, keys)`` counts them, and
  ``count_rejections(messages)`` does the same over messages already read;
* in this process: ``IntentBridgeStats.rejected`` (reason -> intents), plus
  ``intents_duplicate`` / ``plans_duplicate`` for redeliveries, which are not refusals.

Sizing refusals name the cap that bound the size in the event's detail (``bound by
position_fraction``, ``margin``, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import structlog

from quantum_trader.bus import groups
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import decode, encode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import EffectStore, RedisEffectStore, StreamAdd
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import FIELD
from quantum_trader.bus.schemas import Event, Message, Plan, TradeIntent, derive_id
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import Clock
from quantum_trader.config import DEFAULT_SYMBOLS
from quantum_trader.decide import intent_policy, reasons
from quantum_trader.decide.entry_plan import EntrySizingRules, admit, size_admitted
from quantum_trader.decide.intent_policy import (
    IntentPolicyConfig,
    UniverseSnapshot,
    plan_id_for_intent,
)
from quantum_trader.decide.reasons import Rejection
from quantum_trader.decide.sizing import AccountCapacity, SizedEntry, SizingConfig
from quantum_trader.domain.enums import PlanAction, PlanKind
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.money import to_decimal
from quantum_trader.exchange.interface import Exchange
from quantum_trader.services.runtime import PeriodicJob, RedisHealthWriter, ServiceRuntime
from quantum_trader.services.sizing_basis import RedisSizingBasis

log = structlog.get_logger(__name__)
RISK_SIZING = EntrySizingRules()  # the system's risk sizing (full equity is a backtest rule)

SERVICE = "intent-bridge"
GROUP = groups.INTENT_BRIDGE
REJECTED_KIND = "intent_rejected"


@dataclass(frozen=True, slots=True)
class IntentBridgeConfig:
    """Universe, admission, sizing and plan lifetime. Durations in ms unless named ``_s``."""

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    policy: IntentPolicyConfig = field(default_factory=IntentPolicyConfig)
    sizing: SizingConfig = field(default_factory=SizingConfig)
    universe_refresh_s: float = 60.0
    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)
    shards: int = 1  # sharding.shards: > 1, each plan goes to its symbol's shard lane

    def __post_init__(self) -> None:
        if not 0 < self.universe_refresh_s * 1000 < self.policy.universe_max_age_ms:
            # Refreshing slower than the snapshot ages would make the universe go stale
            # between two healthy refreshes and block every entry.
            raise ValueError(
                f"universe_refresh_s ({self.universe_refresh_s}) must be positive and "
                f"shorter than universe_max_age_ms ({self.policy.universe_max_age_ms} ms)"
            )


@dataclass
class IntentBridgeStats:
    plans_published: int = 0
    plans_duplicate: int = 0  # plan already in Redis (redelivery, restart, second instance)
    intents_duplicate: int = 0  # intent already admitted by this process
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> intents rejected
    universe_refreshes: int = 0
    universe_failures: int = 0


class IntentBridge:
    """Admits, sizes and plans entries; one instance per consumer of ``trade.intent``."""

    def __init__(
        self,
        *,
        bus: Bus,
        effects: EffectStore,
        exchange: Exchange,
        clock: Clock,
        config: IntentBridgeConfig,
        source: str = SERVICE,
        basis: RedisSizingBasis | None = None,
    ) -> None:
        self.bus = bus
        self.effects = effects
        self.exchange = exchange
        self.clock = clock
        self.config = config
        self.source = source
        # Never loaded: updated_at 0 is older than any max age, so nothing is admitted.
        self.universe = UniverseSnapshot(frozenset(config.symbols), frozenset(), 0)
        self.instruments: dict[str, Instrument] = {}
        self.admitted: dict[str, int] = {}  # intent id -> its expiry (for pruning)
        self.seen: frozenset[str] = frozenset()
        self.stats = IntentBridgeStats()
        self.basis = basis
        self._account: tuple[int, AccountCapacity] | None = None  # (bar time, its account)

    async def refresh_universe(self) -> None:
        """Re-read the exchange's listed instruments; on failure the old snapshot ages out."""
        try:
            listed = await self.exchange.instruments()
        except Exception:
            self.stats.universe_failures += 1
            log.warning("universe refresh failed; snapshot will go stale", exc_info=True)
            return
        now = self.clock.now_ms()
        self.instruments = {i.symbol: i for i in listed}
        self.universe = UniverseSnapshot(
            frozenset(self.config.symbols), frozenset(self.instruments), now
        )
        self.stats.universe_refreshes += 1
        # Expired intents are rejected on their TTL anyway; keep the seen-set small.
        self.admitted = {i: until for i, until in self.admitted.items() if until >= now}
        self.seen = frozenset(self.admitted)

    async def handle(self, message: Message, delivery: Delivery) -> None:
        if not isinstance(message, TradeIntent):
            raise TypeError(f"intent bridge got {type(message).__name__}")
        if self.universe.updated_at == 0:
            await self.refresh_universe()  # first intent before the first periodic refresh
        intent = message
        plan_id = plan_id_for_intent(intent.intent_id)
        if intent.intent_id not in self.seen and await self.effects.is_done(f"plan:{plan_id}"):
            self._remember(intent.intent_id, intent.expires_at)  # planned before a restart
        now = self.clock.now_ms()
        verdict = await self._judge(intent, now)
        if isinstance(verdict, Rejection):
            if verdict.reason == reasons.DUPLICATE_INTENT:
                self.stats.intents_duplicate += 1  # redelivery: harmless, not news
                return
            await self.reject(intent, verdict, now)
            return
        await self.publish_plan(intent, plan_id, verdict, now)
        # Remembered only once the plan is durable: a failed publish must be retried on
        # redelivery, not dropped as a duplicate.
        self._remember(intent.intent_id, intent.expires_at)

    async def _judge(self, intent: TradeIntent, now: int) -> SizedEntry | Rejection:
        """Admission, then sizing (``decide.entry_plan``, as the backtester decides);
        changes no state: the caller commits after publishing."""
        # The policy's updated seen-set is dropped here: ``_remember`` commits the same id
        # once the plan is durable.
        _, outcome = admit(
            policy_intent(intent),
            self.seen,
            self.universe,
            self.config.policy,
            now,
            expires_at=intent.expires_at,
        )
        if isinstance(outcome, Rejection):
            return outcome
        capacity = await self._account_for(intent.bar_time)
        instrument = self.instruments[intent.symbol]
        return size_admitted(
            outcome, capacity, instrument, self.config.sizing, RISK_SIZING, intent.reference_price
        )

    async def _account_for(self, bar_time: int) -> AccountCapacity:
        """The account the entries of the bar opened at ``bar_time`` are sized from: the
        feed's reading at its close (:mod:`quantum_trader.services.sizing_basis`), else
        one fresh read for the bar's first intent, the same for the rest."""
        if self._account is not None and self._account[0] == bar_time:
            return self._account[1]
        basis = await self.basis.read(bar_time) if self.basis is not None else None
        if basis is not None:
            capacity = AccountCapacity(equity=basis.equity, available_margin=basis.available)
        else:
            account = await self.exchange.account()
            capacity = AccountCapacity(
                equity=account.margin_balance, available_margin=account.available_balance
            )
        self._account = (bar_time, capacity)
        return capacity

    def _remember(self, intent_id: str, until: int) -> None:
        self.admitted[intent_id] = until
        self.seen = self.seen | {intent_id}

    async def publish_plan(
        self, intent: TradeIntent, plan_id: str, sized: SizedEntry, now: int
    ) -> None:
        plan = Plan(
            msg_id=derive_id("plan", plan_id),
            correlation_id=intent.intent_id,
            causation_id=intent.msg_id,
            ts_event=now,
            ts_init=now,
            source=self.source,
            plan_id=plan_id,
            kind=PlanKind.OPEN,
            symbol=intent.symbol,
            side=sized.side,
            action=PlanAction.OPEN,
            qty=sized.qty,
            reference_price=sized.entry_price,
            leverage=sized.leverage,
            stop_price=sized.stop_price,
            take_profit=sized.take_profit_prices,
            reason_codes=(intent.strategy,),
            created_at=now,
            expires_at=now + self.config.policy.plan_ttl_ms,
        )
        lane = self.bus.keys.entry_lane(plan.symbol, self.config.shards)
        write = StreamAdd(lane, encode(plan), self.bus.maxlen)
        if await self.effects.apply_once(f"plan:{plan_id}", [write]):
            self.stats.plans_published += 1
            log.info(
                "plan published",
                symbol=plan.symbol,
                side=plan.side,
                qty=str(plan.qty),
                stop=str(plan.stop_price),
                plan_id=plan_id,
                binding_cap=sized.binding_cap,
            )
        else:
            self.stats.plans_duplicate += 1

    async def reject(self, intent: TradeIntent, rejection: Rejection, now: int) -> None:
        event = Event(
            msg_id=derive_id("intent_rejected", intent.intent_id),
            correlation_id=intent.intent_id,
            causation_id=intent.msg_id,
            ts_event=now,
            ts_init=now,
            source=self.source,
            kind=REJECTED_KIND,
            symbol=intent.symbol,
            detail=f"{rejection.reason}: {rejection.detail}",
            evidence={
                "intent_id": intent.intent_id,
                "reason": rejection.reason,
                "strategy": intent.strategy,
                "side": intent.side.value,
            },
        )
        write = StreamAdd(self.bus.keys.events, encode(event), self.bus.maxlen)
        if await self.effects.apply_once(f"intent_rejected:{intent.intent_id}", [write]):
            counts = self.stats.rejected
            counts[rejection.reason] = counts.get(rejection.reason, 0) + 1
            log.info("intent rejected", symbol=intent.symbol, reason=rejection.reason)

    def consumer(self, consumer_name: str) -> StreamConsumer:
        stream = self.bus.keys.trade_intent
        return StreamConsumer(
            self.bus,
            [stream],
            GROUP,
            consumer_name,
            self.handle,
            expect={stream: (TradeIntent,)},
            config=self.config.consumer,
        )

    def runtime(
        self, *, health: RedisHealthWriter, consumer_name: str, heartbeat_interval_s: float = 1.0
    ) -> ServiceRuntime:
        return ServiceRuntime(
            SERVICE,
            self.clock,
            self.bus.keys,
            health,
            consumers=[self.consumer(consumer_name)],
            heartbeat_interval_s=heartbeat_interval_s,
            jobs=[PeriodicJob("universe", self.config.universe_refresh_s, self.refresh_universe)],
        )


def policy_intent(intent: TradeIntent) -> intent_policy.TradeIntent:
    """The bus message as the pure policy sees it (``created_at`` = the signal's event time)."""
    return intent_policy.TradeIntent(
        intent_id=intent.intent_id,
        symbol=intent.symbol,
        side=intent.side,
        confidence=to_decimal(intent.confidence, field="confidence"),
        strategy=intent.strategy,
        bar_time=intent.bar_time,
        created_at=intent.ts_event,
        entry_price=intent.reference_price,
        stop_distance=intent.stop_distance,
        take_profit_distance=intent.take_profit_distance,
    )


def count_rejections(messages: Iterable[object]) -> dict[str, int]:
    """Intents the bridge refused, by reason, among ``messages`` (e.g. the events stream)."""
    counts = Counter(
        m.evidence.get("reason", "unknown")
        for m in messages
        if isinstance(m, Event) and m.kind == REJECTED_KIND
    )
    return dict(sorted(counts.items()))


async def rejected_by_reason(redis: aioredis.Redis, keys: Keys) -> dict[str, int]:
    """Every refusal still on ``stream:events``, by reason (one event per intent, ever).

    The events stream is trimmed to the bus ``maxlen``: on a long run the oldest events
    (and so the oldest refusals) may be gone; ``IntentBridgeStats.rejected`` is complete
    but per process.
    """
    messages: list[Message] = []
    entries: list[Any] = list(await redis.xrange(keys.events) or [])
    for _, fields in entries:
        try:
            messages.append(decode(fields[FIELD]))
        except (KeyError, ValueError):
            continue  # not a bus message: not a refusal either
    return count_rejections(messages)


def build_intent_bridge(
    *,
    bus: Bus,
    redis: aioredis.Redis,
    exchange: Exchange,
    clock: Clock,
    config: IntentBridgeConfig,
    consumer_name: str,
    heartbeat_interval_s: float = 1.0,
) -> ServiceRuntime:
    """The intent-bridge service, ready for ``ServiceRuntime.run()``."""
    bridge = IntentBridge(
        bus=bus,
        effects=RedisEffectStore(redis, bus.keys),
        exchange=exchange,
        clock=clock,
        config=config,
        basis=RedisSizingBasis(redis, bus.keys),
    )
    return bridge.runtime(
        health=RedisHealthWriter(redis),
        consumer_name=consumer_name,
        heartbeat_interval_s=heartbeat_interval_s,
    )
