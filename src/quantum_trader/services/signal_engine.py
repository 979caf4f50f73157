"""The signal engine: closed bars in, trade intents out.

An IO shell around the pure strategies (``Strategy.on_bar``): it decodes ``MarketBar``s
from the market stream, folds each into the per-symbol state of every configured
strategy, and publishes each entry signal as a ``TradeIntent`` exactly once
(``EffectStore.apply_once`` keyed by the intent id, so a redelivered bar or a restarted
engine that recomputes the same signal publishes nothing new). Exit (``FLAT``) signals
are not intents: the exit brain judges exits on its own.

State is committed only after the intents of a bar are durable: if publishing fails the
bar is redelivered and the strategy sees it again as new, instead of having already
swallowed it (the base class ignores bars it has seen).

On start each symbol's state is rebuilt from the exchange's last closed klines, so a
restart does not leave the strategies blind for a whole warm-up; warm-up bars emit
nothing (their intents, if any, were the previous process's to publish).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import structlog

from quantum_trader.bus import groups
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import encode
from quantum_trader.bus.consumer import ConsumerConfig, StreamConsumer
from quantum_trader.bus.idempotency import EffectStore, RedisEffectStore, SetKey, StreamAdd
from quantum_trader.bus.schemas import (
    IntentFeatures,
    MarketBar,
    Message,
    TradeIntent,
    derive_id,
)
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import Clock
from quantum_trader.config import DEFAULT_SYMBOLS
from quantum_trader.decide.entry_plan import price_distance
from quantum_trader.decide.intent_policy import DEFAULT_INTENT_TTL_MS
from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.klines import Kline
from quantum_trader.exchange.interface import Exchange
from quantum_trader.model.drift import DriftRules
from quantum_trader.services.model_funding import DAY_MS
from quantum_trader.services.model_serving import ModelServing
from quantum_trader.services.runtime import RedisHealthWriter, ServiceRuntime
from quantum_trader.strategies import AnyStrategy, Bar, Signal, get_strategy
from quantum_trader.strategies.model import ModelStrategy

log = structlog.get_logger(__name__)

SERVICE = "signal-engine"
GROUP = groups.SIGNAL_ENGINE
MAX_KLINES = 1500  # Binance futures' /klines limit: one request per symbol on start


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """One configured strategy: a registered name and its keyword parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignalEngineConfig:
    """What to trade and how long an intent stays actionable.

    ``warmup_bars`` None replays twice the longest strategy warm-up (EMAs seeded that far
    back have converged); 0 disables the replay.
    """

    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    interval: str = "1m"
    strategies: tuple[StrategySpec, ...] = (StrategySpec("trend_ema"),)
    intent_ttl_ms: int = DEFAULT_INTENT_TTL_MS
    warmup_bars: int | None = None
    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)
    model_drift: DriftRules = field(default_factory=DriftRules)  # the model strategy's

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("signal-engine needs at least one symbol")
        if not self.strategies:
            raise ValueError("signal-engine needs at least one strategy")
        if self.intent_ttl_ms <= 0:
            raise ValueError("intent_ttl_ms must be positive")
        if self.warmup_bars is not None and self.warmup_bars < 0:
            raise ValueError("warmup_bars must be >= 0")


@dataclass
class SignalEngineStats:
    bars: int = 0  # closed bars folded into strategy state
    ignored: int = 0  # other interval / symbol, unclosed bars, mark prices
    signals: int = 0  # entry signals the strategies produced
    exits_skipped: int = 0  # FLAT signals: not intents
    intents_published: int = 0
    intents_duplicate: int = 0  # already published (redelivery or restart)
    warmup_bars: int = 0  # klines replayed on start
    warmup_failures: int = 0  # symbols that started cold because klines failed
    funding_failures: int = 0  # funding-rate fetches that failed (the model's feature)


class SignalEngine:
    """Runs the configured strategies over closed bars and publishes entry intents."""

    def __init__(
        self,
        *,
        bus: Bus,
        effects: EffectStore,
        exchange: Exchange,
        clock: Clock,
        config: SignalEngineConfig,
        source: str = SERVICE,
    ) -> None:
        self.bus = bus
        self.effects = effects
        self.exchange = exchange
        self.clock = clock
        self.config = config
        self.source = source
        self.strategies: tuple[AnyStrategy, ...] = tuple(
            get_strategy(spec.name, **dict(spec.params))
            for spec in config.strategies
            if spec.name != ModelStrategy.name
        )
        # the model scores the whole universe at once (``model_serving``)
        self.serving: ModelServing | None = next(
            (
                ModelServing(
                    spec.params, config.symbols, config.interval, source, config.model_drift
                )
                for spec in config.strategies
                if spec.name == ModelStrategy.name
            ),
            None,
        )
        self._outbox: list[TradeIntent] = []  # the model's intents not yet published
        self.states: dict[str, list[Any]] = {
            symbol: [s.initial_state(symbol) for s in self.strategies] for symbol in config.symbols
        }
        self.stats = SignalEngineStats()
        self.warmed_up = False

    @property
    def warmup_limit(self) -> int:
        if self.config.warmup_bars is not None:
            return min(self.config.warmup_bars, MAX_KLINES)
        if self.serving is not None:  # the model's features reach back to higher timeframes
            return MAX_KLINES
        return min(2 * max(s.warmup for s in self.strategies), MAX_KLINES)

    async def warm_up(self) -> None:
        """Rebuild every symbol's strategy state from the exchange's last closed klines."""
        self.warmed_up = True
        limit = self.warmup_limit
        now = self.clock.now_ms()
        if limit == 0:
            if self.serving is not None:
                self.serving.warm_up({}, now)
            return
        history: dict[str, list[Kline]] = {}
        for symbol in self.config.symbols:
            try:
                klines = await self.exchange.klines(symbol, self.config.interval, limit=limit + 1)
            except Exception:  # a cold start is safe: strategies warm up from live bars
                self.stats.warmup_failures += 1
                log.warning("warm-up klines failed; starting cold", symbol=symbol, exc_info=True)
                continue
            # Binance returns the still-forming candle last; a strategy sees closed bars only.
            closed = [k for k in klines if k.close_time < now][-limit:]
            history[symbol] = closed
            states = self.states[symbol]
            for kline in closed:
                bar = _bar_from_kline(kline)
                for i, strategy in enumerate(self.strategies):
                    states[i], _ = strategy.on_bar(states[i], bar)
            self.stats.warmup_bars += len(closed)
        if self.serving is not None:
            opens = [rows[0].open_time for rows in history.values() if rows]
            await self.fetch_funding(min(opens, default=now) - DAY_MS, None)
            self.serving.warm_up(history, now)

    async def fetch_funding(self, start: int, hour: int | None) -> None:
        """The settled funding rates since ``start`` into the model's features (a failure
        keeps the last known rates; the next bar asks again)."""
        assert self.serving is not None
        try:
            rates = await self.exchange.funding_rates(start)
        except Exception:
            self.stats.funding_failures += 1
            log.warning("funding rates failed; the last known rates stay", exc_info=True)
            return
        self.serving.funding.take(rates, hour)

    async def handle(self, message: Message, delivery: Delivery) -> None:
        if not self.warmed_up:
            await self.warm_up()
        if not isinstance(message, MarketBar):
            self.stats.ignored += 1
            return
        if (
            not message.closed
            or message.interval != self.config.interval
            or message.symbol not in self.states
        ):
            self.stats.ignored += 1
            return
        bar = _bar_from_message(message)
        states = list(self.states[message.symbol])
        intents: list[TradeIntent] = []
        for i, strategy in enumerate(self.strategies):
            states[i], signal = strategy.on_bar(states[i], bar)
            if signal is None:
                continue
            if signal.is_exit:
                self.stats.exits_skipped += 1
                continue
            self.stats.signals += 1
            intents.append(self.intent_for(signal, message))
        for intent in intents:
            await self.publish_once(intent)
        # Only now is the bar's effect durable: a failure above leaves the old state, so
        # the redelivered bar is processed again rather than ignored as already seen.
        self.states[message.symbol] = states
        self.stats.bars += 1
        if self.serving is not None:
            await self.serve_model(message)

    async def serve_model(self, bar: MarketBar) -> None:
        """The model's entries of every bar time this bar completes, and its events. Its
        state has moved on once it scored, so its intents wait in an outbox until each
        is published (a failure retries them with the next bar, once each)."""
        assert self.serving is not None
        due = self.serving.funding.due(bar.close_time)
        if due is not None:
            await self.fetch_funding(*due)
        for signal, at in self.serving.take(bar, self.clock.now_ms()):
            self.stats.signals += 1
            self._outbox.append(self.intent_for(signal, at))
        while self.serving.events:
            event = self.serving.events[0]
            write = StreamAdd(self.bus.keys.events, encode(event), self.bus.maxlen)
            await self.effects.apply_once(f"event:{event.msg_id}", [write])
            self.serving.events.pop(0)
        if self.serving.state_changed:
            state = json.dumps(self.serving.state, allow_nan=False, default=str)
            effect = f"model_state:{self.source}:{self.clock.now_ms()}:{len(state)}"
            await self.effects.apply_once(
                effect, [SetKey(self.bus.keys.model_state, state)], ttl_ms=3_600_000
            )
            self.serving.state_changed = False
        while self._outbox:
            await self.publish_once(self._outbox[0])
            self._outbox.pop(0)

    def intent_for(self, signal: Signal, bar: MarketBar) -> TradeIntent:
        assert isinstance(signal.side, PositionSide)
        features = signal.features
        take_profit = signal.take_profit_distance
        return TradeIntent(
            msg_id=derive_id("intent", signal.intent_id),
            correlation_id=signal.intent_id,
            causation_id=bar.msg_id,
            ts_event=bar.close_time,
            ts_init=self.clock.now_ms(),
            source=self.source,
            intent_id=signal.intent_id,
            symbol=signal.symbol,
            side=signal.side,
            confidence=signal.confidence,
            strategy=signal.strategy,
            interval=bar.interval,
            bar_time=signal.bar_time,
            reference_price=bar.close,
            stop_distance=price_distance(signal.stop_distance),
            take_profit_distance=None if take_profit is None else price_distance(take_profit),
            features=IntentFeatures(
                regime=int(features.get("regime", 0.0)),
                strength=float(features.get("signal_strength", 0.0)),
                volatility_ratio=float(features.get("volatility_ratio", 1.0)),
            ),
            expires_at=bar.close_time + self.config.intent_ttl_ms,
        )

    async def publish_once(self, intent: TradeIntent) -> None:
        write = StreamAdd(self.bus.keys.trade_intent, encode(intent), self.bus.maxlen)
        if await self.effects.apply_once(f"intent:{intent.intent_id}", [write]):
            self.stats.intents_published += 1
            log.info(
                "intent published", symbol=intent.symbol, side=intent.side, id=intent.intent_id
            )
        else:
            self.stats.intents_duplicate += 1

    def consumer(self, consumer_name: str) -> StreamConsumer:
        market = self.bus.keys.market
        return StreamConsumer(
            self.bus,
            [market],
            GROUP,
            consumer_name,
            self.handle,
            expect={market: (MarketBar,)},
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
        )


def _bar_from_message(bar: MarketBar) -> Bar:
    return Bar(
        symbol=bar.symbol,
        interval=bar.interval,
        open_time=bar.open_time,
        open=float(bar.open),
        high=float(bar.high),
        low=float(bar.low),
        close=float(bar.close),
        volume=float(bar.volume),
    )


def _bar_from_kline(kline: Kline) -> Bar:
    return Bar(
        symbol=kline.symbol,
        interval=kline.interval,
        open_time=kline.open_time,
        open=float(kline.open),
        high=float(kline.high),
        low=float(kline.low),
        close=float(kline.close),
        volume=float(kline.volume),
    )


def build_signal_engine(
    *,
    bus: Bus,
    redis: aioredis.Redis,
    exchange: Exchange,
    clock: Clock,
    config: SignalEngineConfig,
    consumer_name: str,
    heartbeat_interval_s: float = 1.0,
) -> ServiceRuntime:
    """The signal-engine service, ready for ``ServiceRuntime.run()``."""
    engine = SignalEngine(
        bus=bus,
        effects=RedisEffectStore(redis, bus.keys),
        exchange=exchange,
        clock=clock,
        config=config,
    )
    return engine.runtime(
        health=RedisHealthWriter(redis),
        consumer_name=consumer_name,
        heartbeat_interval_s=heartbeat_interval_s,
    )
