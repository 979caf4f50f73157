"""``quantum run`` in paper mode: the whole system against the simulated exchange.

Stepped time (the default) advances the market one bar at a time as soon as every
service has finished with the previous one: as fast as the machine allows, and the same
trades every run for a seed. ``speed`` instead paces bars on the wall clock (×N).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import redis.asyncio as aioredis

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport
from quantum_trader.clock import SimClock
from quantum_trader.config import Settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.bars import BarSeries
from quantum_trader.decide.intent_policy import IntentPolicyConfig
from quantum_trader.domain.instruments import Instrument
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.interface import Exchange, Kline
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.ops.embedded_redis import EmbeddedRedis
from quantum_trader.ops.http_venue import http_venue
from quantum_trader.ops.idle import groups_idle
from quantum_trader.ops.metrics import SystemCollector, serve_metrics
from quantum_trader.ops.paper_services import SystemParts
from quantum_trader.ops.run_summary import RunSummary, summarise
from quantum_trader.ops.supervisor import Supervisor
from quantum_trader.services.intent_bridge import IntentBridgeConfig
from quantum_trader.services.journal import Journal
from quantum_trader.services.market_feed import MarketDriver, MarketFeed
from quantum_trader.services.signal_engine import SignalEngineConfig, StrategySpec

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
WARMUP_BARS = 420
TRADE_FROM_MS = START_MS + WARMUP_BARS * 60_000  # the first bar the services can act on


@dataclass
class PaperRunConfig:
    symbols: tuple[str, ...]
    hours: float = 6.0
    seed: int = 7
    interval: str = "1m"
    strategies: tuple[str, ...] = ("trend_ema", "breakout", "mean_reversion")
    min_confidence: float = 0.2
    speed: float | None = None  # None: stepped, as fast as the services allow
    metrics_port: int = 0  # 0: no /metrics and /health endpoint
    panic_flatten_after_s: float | None = None  # off by default
    venue: str = "http"  # "http": HTTP front + ccxt adapter (the live path); "inproc": direct


class SimDriver:
    """Moves the in-process simulated exchange."""

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange

    async def set_price(self, symbol: str, price: Decimal) -> None:
        self.exchange.set_price(symbol, price)

    async def bar(self, kline: Kline) -> None:
        self.exchange.on_bar(
            kline.symbol,
            kline.open_time,
            kline.open,
            kline.high,
            kline.low,
            kline.close,
            kline.volume,
            kline.interval,
        )


@contextlib.asynccontextmanager
async def redis_for(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    """The configured Redis, or a private embedded redis-server for this run."""
    if settings.redis_url:
        client = aioredis.Redis.from_url(settings.redis_url)
        yield client
        await client.aclose()
        return
    server = EmbeddedRedis(settings.data_dir / "redis").start()
    client = aioredis.Redis.from_url(server.url)
    try:
        yield client
    finally:
        await client.aclose()
        server.stop()


@dataclass
class PaperRun:
    settings: Settings
    config: PaperRunConfig
    on_step: Callable[[int, int], None] = lambda done, total: None
    supervisor: Supervisor | None = None
    parts: SystemParts | None = None
    self_check: dict[str, object] = field(default_factory=dict)
    sim: SimExchange | None = None  # the venue's book of record, for reports and tests

    async def run(self) -> RunSummary:
        async with redis_for(self.settings) as redis:
            # A fresh simulated exchange needs fresh state: only our prefix's keys go.
            async for key in redis.scan_iter(match=f"{self.settings.key_prefix}*", count=1000):
                await redis.delete(key)
            return await self._run(redis)

    async def _run(self, redis: aioredis.Redis) -> RunSummary:
        cfg = self.config
        clock = SimClock(START_MS)
        sim = SimExchange(MatchingCore(seed=cfg.seed, start_ms=START_MS), clock=clock)
        self.sim = sim
        instruments = {i.symbol: i for i in await sim.instruments()}
        unknown = [s for s in cfg.symbols if s not in instruments]
        if unknown:
            raise ValueError(f"symbols not on the exchange: {', '.join(unknown)}")
        bars = WARMUP_BARS + int(cfg.hours * 60) + 1
        market = generate_market(
            list(cfg.symbols), bars, MarketConfig(seed=cfg.seed, start_ms=START_MS)
        )
        ticks = {s: instruments[s].tick_size for s in cfg.symbols}
        warm = SimDriver(sim)
        for i in range(WARMUP_BARS):  # history the services warm up from, before they start
            clock.set(market.bars[cfg.symbols[0]].bar_at(i).open_time)
            for s in cfg.symbols:
                await warm.bar(market.bars[s].bar_at(i, tick_size=ticks[s]))
        if cfg.venue == "http":
            async with http_venue(sim) as venue:
                self.self_check = await venue.exchange.self_check()
                return await self._trade(
                    redis,
                    clock,
                    venue.exchange,
                    venue.driver,
                    market.bars,
                    ticks,
                    instruments,
                    bars,
                    sim,
                )
        return await self._trade(
            redis, clock, sim, warm, market.bars, ticks, instruments, bars, sim
        )

    async def _trade(
        self,
        redis: aioredis.Redis,
        clock: SimClock,
        exchange: Exchange,
        driver: MarketDriver,
        series: Mapping[str, BarSeries],
        ticks: Mapping[str, Decimal],
        instruments: Mapping[str, Instrument],
        bars: int,
        sim: SimExchange,
    ) -> RunSummary:
        cfg = self.config
        bus = Bus(RedisTransport(redis), clock, _keys(self.settings), self.settings.stream_maxlen)
        feed = MarketFeed(driver, bus, series, ticks)
        journal_file = journal_path(self.settings)
        journal_file.parent.mkdir(parents=True, exist_ok=True)
        journal_file.unlink(missing_ok=True)
        parts = SystemParts(
            settings=self.settings,
            exchange=exchange,
            bus=bus,
            redis=redis,
            clock=clock,
            instruments=instruments,
            symbols=cfg.symbols,
            journal=Journal(f"sqlite:///{journal_file}"),
            signal=SignalEngineConfig(
                symbols=cfg.symbols,
                interval=cfg.interval,
                strategies=tuple(StrategySpec(name) for name in cfg.strategies),
            ),
            bridge=IntentBridgeConfig(
                symbols=cfg.symbols,
                policy=IntentPolicyConfig(min_confidence=Decimal(str(cfg.min_confidence))),
            ),
        )
        self.parts = parts
        await parts.monitor().reconcile_once()  # before the apply layer takes any plan
        supervisor = Supervisor(
            parts.specs(),
            redis,
            bus,
            panic_flatten_after_s=cfg.panic_flatten_after_s,
            flatten=parts.flatten,
        )
        self.supervisor = supervisor
        task = asyncio.create_task(supervisor.run())
        metrics = None
        if cfg.metrics_port:
            metrics = await serve_metrics(SystemCollector(parts, supervisor), cfg.metrics_port)
        try:
            await self._wait_started(redis, bus)
            total = bars - WARMUP_BARS
            for n, i in enumerate(range(WARMUP_BARS, bars)):
                clock.set(feed.kline(cfg.symbols[0], i).open_time)
                await feed.step(i, lambda: self._settle(redis, bus, exchange))
                await self._settle(redis, bus, exchange)
                self.on_step(n + 1, total)
            clock.advance(60)
            await self._settle(redis, bus, exchange)
            for monitor in parts.monitors[-1:]:
                await monitor.reconcile_once()
        finally:
            supervisor.stop()
            await task
            if metrics is not None:
                await metrics.cleanup()
        summary = await summarise(parts, supervisor, sim.core, hours=cfg.hours, mode="paper")
        parts.journal.close()
        return summary

    async def _wait_started(self, redis: aioredis.Redis, bus: Bus) -> None:
        names = [s.name for s in (self.supervisor.specs if self.supervisor else [])]
        for _ in range(5000):
            beats = [await redis.exists(bus.keys.health(n)) for n in names]
            if all(beats):
                return
            await asyncio.sleep(0.002)
        raise RuntimeError(
            "services did not start: no heartbeat from "
            + ", ".join(n for n, b in zip(names, beats, strict=True) if not b)
        )

    async def _settle(self, redis: aioredis.Redis, bus: Bus, exchange: Exchange) -> None:
        """Wait until every consumer group has handled everything published so far, and
        every execution event the venue sent has been taken by the pump."""
        k = bus.keys
        groups = {
            k.market: ["signal-engine", "exit-brain"],
            k.trade_intent: ["intent-bridge"],
            k.apply_plan: ["apply-layer"],
            k.apply_exit: ["apply-layer"],
            k.fills: ["ledger", "risk-guard"],
        }
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0.001)
            queued = (
                exchange.undelivered()
                if isinstance(exchange, SimExchange | CcxtBinanceExchange)
                else 0
            )
            idle = not queued and await groups_idle(redis, groups)
            if idle and quiet == 2 and isinstance(exchange, CcxtBinanceExchange):
                await exchange.barrier()  # every event the venue sent is in the queue now
                idle = exchange.undelivered() == 0
            quiet = quiet + 1 if idle else 0


def _keys(settings: Settings) -> Keys:
    return Keys(settings.key_prefix)


def journal_path(settings: Settings) -> Path:
    return settings.data_dir / "journal.sqlite"
