"""signal-engine on real Redis: one intent per signal, whatever is redelivered or restarted."""

from __future__ import annotations

from decimal import Decimal

from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.bus.idempotency import MemoryEffectStore
from quantum_trader.bus.schemas import MarketBar, TradeIntent, derive_id
from quantum_trader.bus.transport import Delivery
from quantum_trader.decide.entry_plan import price_distance
from quantum_trader.domain.enums import PositionSide
from quantum_trader.services.signal_engine import (
    SignalEngine,
    SignalEngineConfig,
    StrategySpec,
    build_signal_engine,
)
from quantum_trader.strategies import get_strategy
from tests.integration.services.market_rig import (
    MINUTE_MS,
    Rig,
    as_strategy_bar,
    closes,
    market_bars,
)
from tests.unit.strategies.strategy_bars import run

FAST_TREND = {"fast": 3, "slow": 6, "trend": 10, "atr_period": 3}


def config(**overrides: object) -> SignalEngineConfig:
    values: dict[str, object] = {
        "symbols": ("BTCUSDT",),
        "strategies": (StrategySpec("trend_ema", FAST_TREND),),
        "consumer": ConsumerConfig(block_ms=0),
        **overrides,
    }
    return SignalEngineConfig(**values)  # type: ignore[arg-type]


def engine(rig: Rig, **overrides: object) -> SignalEngine:
    return SignalEngine(
        bus=rig.bus,
        effects=rig.effects,
        exchange=rig.exchange,
        clock=rig.clock,
        config=config(**overrides),
    )


async def feed(rig: Rig, engine: SignalEngine, bars: list[MarketBar], name: str = "se-1") -> None:
    """Publish ``bars`` on the market stream and let ``engine`` consume all of them."""
    rig.clock.set(max(rig.clock.now_ms(), bars[-1].close_time + 1))
    await rig.bus.publish_many(rig.keys.market, bars)
    consumer = engine.consumer(name)
    await consumer.start()
    await rig.drain(consumer)


async def intents(rig: Rig) -> list[TradeIntent]:
    found = await rig.read(rig.keys.trade_intent)
    assert all(isinstance(m, TradeIntent) for m in found)
    return found  # type: ignore[return-value]


async def test_a_cross_publishes_exactly_one_intent_with_the_signal_geometry(rig: Rig) -> None:
    bars = market_bars(closes())[:37]  # one cross (down, below the trend) at bar 32
    expected = run(get_strategy("trend_ema", **FAST_TREND), [as_strategy_bar(b) for b in bars])
    assert [(i, s.side) for i, s in expected] == [(32, PositionSide.SHORT)]
    signal = expected[0][1]
    cross = bars[32]

    se = engine(rig, warmup_bars=0)
    await feed(rig, se, bars)

    [intent] = await intents(rig)
    assert intent.intent_id == signal.intent_id
    assert intent.msg_id == derive_id("intent", signal.intent_id)
    assert intent.correlation_id == signal.intent_id
    assert intent.causation_id == cross.msg_id
    assert intent.side is PositionSide.SHORT
    assert intent.strategy == "trend_ema" and intent.interval == "1m"
    assert intent.bar_time == cross.open_time
    assert intent.reference_price == cross.close == Decimal(31500)  # 30000 + 30×60 − 2×150
    assert intent.stop_distance == price_distance(signal.stop_distance)
    assert intent.stop_distance == Decimal("819.9997914")
    assert intent.take_profit_distance is None
    assert intent.confidence == signal.confidence
    assert intent.features.regime == int(signal.features["regime"])
    assert intent.features.strength == signal.features["signal_strength"]
    assert intent.features.volatility_ratio == signal.features["volatility_ratio"]
    assert intent.expires_at == cross.close_time + 60_000
    assert se.stats.bars == 37 and se.stats.intents_published == 1


async def test_redelivered_bars_publish_no_second_intent(rig: Rig) -> None:
    bars = market_bars(closes())[:37]
    se = engine(rig, warmup_bars=0)
    await feed(rig, se, bars)
    await feed(rig, se, bars)  # the feed publishes the same bars again
    assert len(await intents(rig)) == 1

    # A restarted engine with no memory recomputes the same signal: Redis says "done".
    restarted = engine(rig, warmup_bars=0)
    await feed(rig, restarted, bars, name="se-2")
    assert len(await intents(rig)) == 1
    assert restarted.stats.signals == 1 and restarted.stats.intents_duplicate == 1


async def test_restart_replays_klines_silently_and_the_next_signal_still_fires(
    rig: Rig,
) -> None:
    bars = market_bars(closes())
    before, after = bars[:45], bars[45:]
    for bar in before:  # the exchange has seen the same candles (klines for the warm-up)
        rig.exchange.on_bar(
            bar.symbol, bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume
        )
    first = engine(rig, warmup_bars=0)
    await feed(rig, first, before)
    assert [i.bar_time for i in await intents(rig)] == [bars[32].open_time, bars[38].open_time]

    restarted = engine(rig)  # default warm-up: 2 × the strategy's 10 bars
    rig.clock.set(before[-1].close_time + 1)
    await restarted.warm_up()
    assert restarted.stats.warmup_bars == 20
    assert len(await intents(rig)) == 2  # warm-up bars emit nothing
    await feed(rig, restarted, after, name="se-2")
    published = await intents(rig)
    assert [(i.bar_time, i.side) for i in published[2:]] == [
        (bars[49].open_time, PositionSide.SHORT),
        (bars[52].open_time, PositionSide.LONG),
    ]

    # Without the replay the same bars fall inside the strategy's own warm-up: silence.
    cold = SignalEngine(
        bus=rig.bus,
        effects=MemoryEffectStore(rig.keys),
        exchange=rig.exchange,
        clock=rig.clock,
        config=config(warmup_bars=0),
    )
    for bar in after:
        await cold.handle(bar, Delivery(rig.keys.market, "0-1", b"x"))
    assert cold.stats.signals == 0


async def test_unclosed_klines_are_not_replayed(rig: Rig) -> None:
    bars = market_bars(closes())[:12]
    for bar in bars:
        rig.exchange.on_bar(
            bar.symbol, bar.open_time, bar.open, bar.high, bar.low, bar.close, bar.volume
        )
    rig.clock.set(bars[-1].open_time + MINUTE_MS // 2)  # the last candle is still forming
    se = engine(rig)
    await se.warm_up()
    assert se.stats.warmup_bars == 11
    assert se.states["BTCUSDT"][0].last_open_time == bars[-2].open_time


async def test_factory_wires_the_market_consumer_group(rig: Rig) -> None:
    runtime = build_signal_engine(
        bus=rig.bus,
        redis=rig.client,
        exchange=rig.exchange,
        clock=rig.clock,
        config=config(),
        consumer_name="se-1",
    )
    [consumer] = runtime.consumers
    assert runtime.name == "signal-engine"
    assert (consumer.group, consumer.consumer, list(consumer.streams)) == (
        "signal-engine",
        "se-1",
        [rig.keys.market],
    )
