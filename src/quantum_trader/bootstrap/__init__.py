"""The composition root: every mode's services get their parameters here, from one
``Settings``.

Paper (stepped, ``--speed``, ``--processes``), chaos, demo, live (``trading_config``,
``system_parts``) and the backtester (``engine_config``) all build what they trade with
through these functions, so a trading parameter has one
default (in the pure config record of the rule that uses it) and the same value in every
mode unless the user sets it differently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import redis.asyncio as aioredis

from quantum_trader.backtest.config import EngineConfig
from quantum_trader.bootstrap.parts import SystemParts, TradingConfig
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.consumer import ConsumerConfig
from quantum_trader.clock import Clock
from quantum_trader.config import Settings
from quantum_trader.domain.instruments import Instrument
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.interface import Exchange
from quantum_trader.model.scorer import round_trip_cost
from quantum_trader.services.intent_bridge import IntentBridgeConfig
from quantum_trader.services.journal import Journal
from quantum_trader.services.model_serving import ModelServing
from quantum_trader.services.risk_guard import RiskGuardConfig
from quantum_trader.services.signal_engine import SignalEngineConfig, StrategySpec
from quantum_trader.strategies.model import ModelStrategy


def consumer_config(settings: Settings) -> ConsumerConfig:
    """The bus knobs every service's consumer shares."""
    return ConsumerConfig(
        batch=settings.read_batch,
        reclaim_idle_ms=settings.reclaim_idle_ms,
        reclaim_interval_ms=settings.reclaim_interval_ms,
        max_failures=settings.max_handler_failures,
        max_bytes=settings.max_message_bytes,
    )


def strategy_params(
    settings: Settings,
    name: str,
    given: Mapping[str, object] | None = None,
    taker_fee: Decimal | None = None,
) -> dict[str, object]:
    """A strategy's parameters as every mode passes them: the model strategy gets the
    registry under the data directory, the round trip's cost from the taker fee
    (``taker_fee``: a backtest's own; default the configured one) and the configured
    pinned model and filter (``given`` — a backtest's ``--param`` — sets them otherwise)."""
    params = dict(given or {})
    if name == ModelStrategy.name and "scorer" not in params:
        fee = settings.sizing.taker_fee_rate if taker_fee is None else taker_fee
        params.setdefault("models_dir", str(settings.data_dir / "models"))
        params.setdefault("cost", round_trip_cost(float(fee)))
        if settings.model.pinned:
            params.setdefault("model", settings.model.pinned)
        if settings.model.filter:
            params.setdefault("filter", settings.model.filter)
    return params


def check_serving(signal: SignalEngineConfig) -> None:
    """Refuse, before any service starts, a model strategy with nothing it can serve (no
    promoted model, a corrupt one, one of other bars or features): ValueError, one line.
    The signal engine would fail the same way, but inside a restarting service."""
    for spec in signal.strategies:
        if spec.name == ModelStrategy.name:
            ModelServing(
                spec.params, signal.symbols, signal.interval, "preflight", signal.model_drift
            )


def trading_config(settings: Settings, symbols: Sequence[str] | None = None) -> TradingConfig:
    """The services' configuration for ``symbols`` (default: the configured universe)."""
    chosen = tuple(symbols) if symbols else settings.trading_symbols
    consumer = consumer_config(settings)
    policy = settings.policy
    return TradingConfig(
        symbols=chosen,
        signal=SignalEngineConfig(
            symbols=chosen,
            interval=settings.strategies.interval,
            strategies=tuple(
                StrategySpec(name, strategy_params(settings, name))
                for name in settings.strategies.names
            ),
            intent_ttl_ms=policy.intent_ttl_ms,
            warmup_bars=settings.strategies.warmup_bars,
            consumer=consumer,
            model_drift=settings.model.drift,
        ),
        bridge=IntentBridgeConfig(
            symbols=chosen,
            policy=policy,
            sizing=settings.sizing,
            consumer=consumer,
            shards=settings.sharding.shards,
        ),
        risk=RiskGuardConfig(risk=settings.risk, consumer=consumer),
        limits=settings.gate,
        apply=settings.apply,
        exits=settings.exits,
        consumer=consumer,
        heartbeat_interval_s=settings.heartbeat_interval_ms / 1000,
        heartbeat_ttl_ms=settings.heartbeat_ttl_ms,
        sharding=settings.sharding,
    )


def engine_config(settings: Settings, **account: Any) -> EngineConfig:
    """The backtester's configuration: the decision configs paper and live trade with
    (intent policy, sizing, entry gate, cooldown, risk guard, exit brain, ladder, kill
    score), the leverage and fee the sizing uses; ``account`` sets the rest (balance,
    slippage, seed, …)."""
    return EngineConfig(
        **{
            "leverage": settings.sizing.leverage,
            "taker_fee": settings.sizing.taker_fee_rate,
            "sizing": settings.sizing,
            "risk": settings.risk,
            "exits": settings.exits,
            "policy": settings.policy,
            "gate": settings.gate,
            "apply": settings.apply,
            "history_bars": settings.strategies.history_bars,
            **account,
        }
    )


def venue_for(
    settings: Settings,
    mode: Literal["sim", "demo", "live"],
    *,
    base_url: str,
    i_understand_live: bool = False,
    user_stream: bool = True,
) -> CcxtBinanceExchange:
    """The ccxt adapter for ``mode`` with the configured keys (the sim has its own)."""
    key, secret = settings.binance_api_key, settings.binance_api_secret
    return CcxtBinanceExchange(
        mode,
        base_url=base_url,
        api_key=key.get_secret_value() if key else None,
        api_secret=secret.get_secret_value() if secret else None,
        secret_file=settings.binance_secret_file,
        i_understand_live=i_understand_live,
        user_stream=user_stream,
    )


def system_parts(
    settings: Settings,
    *,
    exchange: Exchange,
    bus: Bus,
    redis: aioredis.Redis,
    clock: Clock,
    instruments: Mapping[str, Instrument],
    symbols: Sequence[str],
    journal: Journal,
    epoch: str | None = None,
) -> SystemParts:
    """Every service of one system, configured from ``settings``; ``epoch`` is the state
    marker its entry gate insists on (``ops.safety_state.establish_epoch``)."""
    config = trading_config(settings, symbols)
    check_serving(config.signal)
    return SystemParts(
        settings=settings,
        exchange=exchange,
        bus=bus,
        redis=redis,
        clock=clock,
        instruments=instruments,
        symbols=config.symbols,
        journal=journal,
        trading=config,
        epoch=epoch,
    )
