"""The exit brain: on every closed bar, judge every open position on that symbol with the
pure ``decide.exit_brain.evaluate_exit`` and send its CLOSE / PARTIAL / UPDATE_STOP plans
down the exit lane (``apply.exit``; sharded, the lane of the symbol's shard), each exactly
once (its plan id is derived from the position and the tranche or reason, FAILURES #26)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import redis.asyncio as aioredis

from quantum_trader.bus import groups
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import encode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import EffectStore, StreamAdd
from quantum_trader.bus.schemas import MarketBar, Message, Plan, derive_id
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import Clock
from quantum_trader.decide.exit_brain import ExitConfig, judge_position
from quantum_trader.decide.exit_model import ExitDecision, ExitState
from quantum_trader.decide.position_ledger import LedgerPosition, judgeable
from quantum_trader.domain.enums import PlanKind
from quantum_trader.domain.instruments import Instrument
from quantum_trader.exchange.interface import Exchange
from quantum_trader.services.ledger_port import Ledger
from quantum_trader.services.runtime import RedisHealthWriter, ServiceRuntime
from quantum_trader.strategies.base import Bar
from quantum_trader.strategies.features import MarketFeatures as FeatureTracker
from quantum_trader.strategies.features import exit_features

PLAN_TTL_MS = 60_000


@dataclass
class ExitBrain:
    ledger: Ledger
    effects: EffectStore
    bus: Bus
    clock: Clock
    instruments: Mapping[str, Instrument]
    config: ExitConfig = field(default_factory=ExitConfig)
    exchange: Exchange | None = None  # klines to warm features up from
    source: str = "exit-brain"
    trackers: dict[str, FeatureTracker] = field(default_factory=dict)
    states: dict[str, ExitState] = field(default_factory=dict)
    strength_at_entry: dict[str, Decimal] = field(default_factory=dict)
    proposed: int = 0
    shards: int = 1  # sharding.shards: > 1, each plan goes to its symbol's shard lane

    def observe(self, bar: MarketBar) -> FeatureTracker:
        tracker = self.trackers.get(bar.symbol) or FeatureTracker.start()
        tracker = tracker.update(
            Bar(
                bar.symbol,
                bar.interval,
                bar.open_time,
                float(bar.open),
                float(bar.high),
                float(bar.low),
                float(bar.close),
                float(bar.volume),
            )
        )
        self.trackers[bar.symbol] = tracker
        return tracker

    async def warm_up_symbol(self, symbol: str, interval: str, before: int) -> None:
        """Rebuild ATR / trend from the exchange's klines before ``before`` (ms), so a fresh
        or restarted exit brain judges with the same features as one that saw them all."""
        assert self.exchange is not None
        tracker = FeatureTracker.start()
        for k in await self.exchange.klines(symbol, interval, limit=1500, end_time=before - 1):
            if k.close_time < before:
                tracker = tracker.update(
                    Bar(
                        symbol,
                        interval,
                        k.open_time,
                        float(k.open),
                        float(k.high),
                        float(k.low),
                        float(k.close),
                        float(k.volume),
                    )
                )
        self.trackers[symbol] = tracker

    async def handle(self, message: Message, delivery: Delivery) -> None:
        # Exits are judged at bar closes, as the backtester judges them; between closes
        # the exchange-side protective stop is the position's guard.
        if not isinstance(message, MarketBar) or not message.closed:
            return
        if message.symbol not in self.trackers and self.exchange is not None:
            await self.warm_up_symbol(message.symbol, message.interval, message.open_time)
        tracker = self.observe(message)
        price, at = message.close, message.close_time + 1
        position = await self.ledger.read(message.symbol)
        if position is None or not judgeable(position):
            return  # flat, its protective stop still being placed, or R has no unit
        for decision in self.judge(position, tracker, price, at):
            await self.propose(decision, message.msg_id, at)

    def judge(
        self, position: LedgerPosition, tracker: FeatureTracker, price: Decimal, now: int
    ) -> list[ExitDecision]:
        entry_strength = self.strength_at_entry.get(position.position_id)
        features, strength = exit_features(tracker, price, position.side.sign, entry_strength)
        self.strength_at_entry.setdefault(position.position_id, strength)
        new_state, decisions = judge_position(
            position,
            self.states.get(position.position_id),
            features,
            self.instruments[position.symbol],
            self.config,
            now,
        )
        self.states[position.position_id] = new_state
        return decisions

    async def propose(self, decision: ExitDecision, cause: str, at: int) -> None:
        now = self.clock.now_ms()
        plan = Plan(
            msg_id=derive_id("exit-plan", decision.plan_id),
            correlation_id=decision.position_id,
            causation_id=cause,
            ts_event=at,
            ts_init=now,
            source=self.source,
            plan_id=decision.plan_id,
            kind=PlanKind.CLOSE,
            symbol=decision.symbol,
            side=decision.side,
            action=decision.action,
            pct=decision.fraction,
            stop_price=decision.new_stop,
            position_id=decision.position_id,
            reason_codes=decision.reason_codes,
            kill_score=float(decision.kill_score),
            kill_components={k: float(v) for k, v in decision.kill_components},
            r_multiple=decision.r_multiple,
            created_at=decision.created_at,
            expires_at=decision.created_at + PLAN_TTL_MS,
        )
        lane = self.bus.keys.exit_lane(plan.symbol, self.shards)
        applied = await self.effects.apply_once(
            f"exit-plan:{decision.plan_id}",
            [StreamAdd(lane, encode(plan), self.bus.maxlen)],
        )
        self.proposed += int(applied)


def build_exit_brain_service(
    brain: ExitBrain,
    redis: aioredis.Redis,
    consumer_name: str,
    heartbeat_interval_s: float = 1.0,
    config: ConsumerConfig | None = None,
) -> ServiceRuntime:
    keys = brain.bus.keys
    consumer = StreamConsumer(
        brain.bus,
        [keys.market],
        groups.EXIT_BRAIN,
        consumer_name,
        brain.handle,
        expect={keys.market: (MarketBar,)},
        config=config or ConsumerConfig(batch=100),
    )
    return ServiceRuntime(
        "exit-brain",
        brain.clock,
        keys,
        RedisHealthWriter(redis),
        consumers=[consumer],
        heartbeat_interval_s=heartbeat_interval_s,
    )
