"""The service shells' pure parts and in-memory behaviour: mapping, rounding, configs,
what the signal engine skips, and that a failed publish is retried, not swallowed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

import msgspec
import pytest

from quantum_trader.bootstrap import trading_config
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.codec import decode
from quantum_trader.bus.idempotency import MemoryEffectStore, Write
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.memory_transport import MemoryTransport
from quantum_trader.bus.schemas import MarketBar, TradeIntent
from quantum_trader.bus.transport import Delivery
from quantum_trader.clock import SimClock
from quantum_trader.config import Settings
from quantum_trader.decide.entry_plan import price_distance
from quantum_trader.decide.intent_policy import IntentPolicyConfig
from quantum_trader.decide.risk_guard import RiskConfig, RiskState
from quantum_trader.domain.enums import PositionSide, RiskMode
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.services.intent_bridge import IntentBridgeConfig, policy_intent
from quantum_trader.services.risk_guard import (
    RiskGuardConfig,
    mode_changed_event,
    risk_state_json,
)
from quantum_trader.services.signal_engine import (
    SignalEngine,
    SignalEngineConfig,
    StrategySpec,
)
from tests.integration.services.market_rig import T0, closes, market_bars

FAST_TREND = {"fast": 3, "slow": 6, "trend": 10, "atr_period": 3}


@pytest.mark.parametrize(
    ("distance", "expected"),
    [
        (819.9997913961979, "819.9997914"),
        (0.0012345678912345, "0.001234567891"),
        (2.0, "2"),
        (123456789.98765, "123456790.0"),
    ],
)
def test_price_distance_keeps_ten_significant_digits(distance: float, expected: str) -> None:
    assert price_distance(distance) == Decimal(expected)
    assert price_distance(distance) > 0


def test_bus_intent_maps_onto_the_policy_intent_field_by_field() -> None:
    intent = TradeIntent(
        msg_id="m",
        ts_event=T0,
        ts_init=T0 + 5,
        source="signal-engine",
        intent_id="i-1",
        symbol="ETHUSDT",
        side=PositionSide.SHORT,
        confidence=0.7,
        strategy="breakout",
        interval="5m",
        bar_time=T0 - 300_000,
        reference_price=Decimal("2500.5"),
        stop_distance=Decimal("40.25"),
        take_profit_distance=Decimal("80.5"),
        expires_at=T0 + 60_000,
    )
    mapped = policy_intent(intent)
    assert (mapped.intent_id, mapped.symbol, mapped.side, mapped.strategy) == (
        "i-1",
        "ETHUSDT",
        PositionSide.SHORT,
        "breakout",
    )
    assert mapped.confidence == Decimal("0.7")  # through repr: no binary-float tail
    assert (mapped.created_at, mapped.bar_time) == (T0, T0 - 300_000)
    assert (mapped.entry_price, mapped.stop_distance, mapped.take_profit_distance) == (
        Decimal("2500.5"),
        Decimal("40.25"),
        Decimal("80.5"),
    )


def test_risk_state_value_is_compact_json_the_lua_gate_can_read() -> None:
    state = RiskState(mode=RiskMode.HALT, reasons=("kill_switch",), since=7)
    assert json.loads(risk_state_json(state, 9)) == {
        "mode": "HALT",
        "reasons": ["kill_switch"],
        "since": 7,
        "updated_at": 9,
    }


def test_mode_change_event_names_what_was_added_and_removed() -> None:
    before = RiskState(mode=RiskMode.REDUCE_ONLY, reasons=("EQUITY_STALE",))
    after = RiskState(mode=RiskMode.HALT, reasons=("kill_switch",), since=5)
    event = mode_changed_event(before, after, 5, "risk-guard")
    assert (event.kind, event.risk_mode, event.severity) == (
        "risk_mode_changed",
        RiskMode.HALT,
        "warning",
    )
    assert event.evidence == {
        "added": "kill_switch",
        "removed": "EQUITY_STALE",
        "reasons": "kill_switch",
        "previous_mode": "REDUCE_ONLY",
    }
    assert event.detail == "REDUCE_ONLY -> HALT: kill_switch"
    assert event.msg_id == mode_changed_event(before, after, 5, "risk-guard").msg_id


def test_configs_take_symbols_and_bus_knobs_from_settings() -> None:
    settings = Settings(
        trading_symbols=("SOLUSDT",),
        read_batch=7,
        max_handler_failures=9,
        strategies={"names": ["trend_ema"], "interval": "5m"},
    )
    config = trading_config(settings)
    se = config.signal
    assert (se.symbols, se.interval, se.consumer.batch, se.consumer.max_failures) == (
        ("SOLUSDT",),
        "5m",
        7,
        9,
    )
    assert se.strategies == (StrategySpec("trend_ema"),) and se.intent_ttl_ms == 60_000
    ib = config.bridge
    assert (ib.symbols, ib.policy.plan_ttl_ms, ib.consumer.batch) == (("SOLUSDT",), 30_000, 7)
    assert config.risk.interval_s == 1.0 and config.risk.consumer.max_failures == 9


@pytest.mark.parametrize(
    "build",
    [
        lambda: SignalEngineConfig(symbols=()),
        lambda: SignalEngineConfig(strategies=()),
        lambda: SignalEngineConfig(warmup_bars=-1),
        lambda: IntentBridgeConfig(universe_refresh_s=0),
        lambda: IntentBridgeConfig(
            universe_refresh_s=60, policy=IntentPolicyConfig(universe_max_age_ms=30_000)
        ),
        lambda: RiskGuardConfig(interval_s=0),
        lambda: RiskGuardConfig(interval_s=60, risk=RiskConfig(equity_max_age_ms=30_000)),
    ],
)
def test_configs_refuse_settings_that_would_block_or_never_run(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


class FlakyEffects(MemoryEffectStore):
    """Redis going away exactly once, at the first publish."""

    failed = False

    async def apply_once(
        self, effect_id: str, writes: Sequence[Write], ttl_ms: int = 7 * 86_400_000
    ) -> bool:
        if not self.failed:
            self.failed = True
            raise ConnectionError("redis went away")
        return await super().apply_once(effect_id, writes, ttl_ms)


def memory_engine(effects: MemoryEffectStore, **overrides: object) -> SignalEngine:
    clock = SimClock(T0 + 10**8)
    keys = effects.keys
    values: dict[str, object] = {
        "symbols": ("BTCUSDT",),
        "strategies": (StrategySpec("trend_ema", FAST_TREND),),
        "warmup_bars": 0,
        **overrides,
    }
    return SignalEngine(
        bus=Bus(MemoryTransport(clock.now_ms), clock, keys),
        effects=effects,
        exchange=SimExchange(core=MatchingCore(start_ms=T0), clock=clock),
        clock=clock,
        config=SignalEngineConfig(**values),  # type: ignore[arg-type]
    )


DELIVERY = Delivery("market", "0-1", b"")


async def test_a_bar_whose_intent_failed_to_publish_is_processed_again_on_redelivery() -> None:
    effects = FlakyEffects(Keys())
    engine = memory_engine(effects)
    bars = market_bars(closes())[:33]
    for bar in bars[:-1]:
        await engine.handle(bar, DELIVERY)
    with pytest.raises(ConnectionError):
        await engine.handle(bars[-1], DELIVERY)  # the cross bar; the consumer will retry
    await engine.handle(bars[-1], DELIVERY)
    [payload] = effects.streams[Keys().trade_intent]
    intent = decode(payload)
    assert isinstance(intent, TradeIntent) and intent.bar_time == bars[-1].open_time


async def test_exits_other_intervals_symbols_and_mark_prices_are_not_intents() -> None:
    effects = MemoryEffectStore(Keys())
    engine = memory_engine(effects)
    series = closes()[:31]
    for _ in range(7):
        series.append(series[-1] - 30)  # a shallow dip: cross down still above the trend
    for bar in market_bars(series):
        await engine.handle(bar, DELIVERY)
    assert engine.stats.exits_skipped == 1 and engine.stats.signals == 0
    assert effects.streams == {}

    first = market_bars(closes()[:1])[0]
    later = T0 + 10**7
    ignored: list[MarketBar] = [
        *market_bars(closes()[:2], symbol="ETHUSDT"),  # not in the configured universe
        msgspec.structs.replace(first, interval="5m", open_time=later, close_time=later + 1),
        msgspec.structs.replace(first, open_time=later, close_time=later + 1, closed=False),
    ]
    for message in ignored:
        await engine.handle(message, DELIVERY)
    assert engine.stats.ignored == 4 and engine.stats.bars == len(series)
