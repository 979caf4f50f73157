"""``quantum run`` in paper mode: the whole system against the simulated exchange.

Stepped time (the default) advances the market one bar at a time as soon as every
service has finished with the previous one: as fast as the machine allows, and the same
trades every run for a seed. ``speed`` instead paces bars on the wall clock (×N).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from quantum_trader.alerting.notify_service import notifier_specs
from quantum_trader.bootstrap import system_parts
from quantum_trader.bootstrap.parts import SystemParts
from quantum_trader.bus.bus import Bus
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport, as_text, stream_messages
from quantum_trader.bus.schemas import Plan, TradeIntent
from quantum_trader.clock import SimClock
from quantum_trader.config import Settings, mask_url
from quantum_trader.data.bars import BarSeries
from quantum_trader.data.marks import NO_MARKS, MarkBars
from quantum_trader.domain.instruments import Instrument
from quantum_trader.domain.klines import Kline
from quantum_trader.exchange.ccxt_binance import CcxtBinanceExchange
from quantum_trader.exchange.interface import Exchange, RetryableError
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http.security import WeightMeter
from quantum_trader.infra import data_dir
from quantum_trader.infra.http_venue import http_venue
from quantum_trader.infra.redis_target import redis_target
from quantum_trader.observability.metrics import SystemCollector, serve_metrics
from quantum_trader.ops.paper_market import file_market, file_marks, synthetic_market, venue_funding
from quantum_trader.ops.run_summary import RunSummary, summarise
from quantum_trader.ops.run_trades import paper_trades
from quantum_trader.runtime.idle import groups_idle
from quantum_trader.runtime.safety_state import SafetyStore, StateGuard, establish_epoch
from quantum_trader.runtime.supervisor import Supervisor
from quantum_trader.services.journal import Journal
from quantum_trader.services.market_feed import MarketDriver, MarketFeed
from quantum_trader.services.sizing_basis import RedisSizingBasis, take_basis

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
SETTLE_LIMIT_S = 30.0  # wall time a bar may wait for the pipeline to drain
log = logging.getLogger(__name__)


@dataclass
class PaperRunConfig:
    symbols: tuple[str, ...]  # with ``data``: empty means every symbol in the files
    hours: float = 6.0
    seed: int = 7
    data: Path | None = None  # kline files to replay instead of the synthetic market
    data_hours: float | None = None  # with ``data``: at most this much of it (None: all)
    speed: float | None = None  # None: stepped, as fast as the services allow
    metrics_port: int = 0  # 0: no /metrics and /health endpoint
    panic_flatten_after_s: float | None = None  # off by default
    venue: str = "http"  # "http": HTTP front + ccxt adapter (the live path); "inproc": direct


class SimDriver:
    """Moves the in-process simulated exchange."""

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange

    async def set_price(self, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
        self.exchange.set_price(symbol, price, mark)

    async def bar(self, kline: Kline, mark: Kline | None = None) -> None:
        self.exchange.on_bar(
            kline.symbol,
            kline.open_time,
            kline.open,
            kline.high,
            kline.low,
            kline.close,
            kline.volume,
            kline.interval,
            None if mark is None else (mark.open, mark.high, mark.low, mark.close),
        )


@dataclass
class PaperRun:
    """One paper run. It owns only what it creates: a key namespace of its own
    (``{prefix}run-{run_id}:``) on the configured or embedded Redis, deleted at the end,
    and its rows in the journal; it holds the data directory's lock while it runs."""

    settings: Settings
    config: PaperRunConfig
    on_step: Callable[[int, int], None] = lambda done, total: None
    # called once the services are built, before they start (``quantum run --dashboard``)
    on_trading: Callable[[SystemParts], None] = lambda parts: None
    supervisor: Supervisor | None = None
    parts: SystemParts | None = None
    self_check: dict[str, object] = field(default_factory=dict)
    sim: SimExchange | None = None  # the venue's book of record, for reports and tests
    run_id: str = field(default_factory=data_dir.new_run_id)
    stop_reason: str | None = None  # why the run ended before its last bar, if it did
    inherited_kill_switch: bool = False
    stalled_settles: int = 0
    rate_limited: int = 0
    bars_run: int = 0
    keys: Keys = field(default_factory=Keys)
    symbols: tuple[str, ...] = ()  # what the run trades (the configured or the data's)
    weights: WeightMeter | None = None  # the venue's request-weight meter (HTTP venue)
    marks: MarkBars = NO_MARKS  # the mark's bars the venue walks (none: it follows the last)
    funding_source: str = ""  # how the summary names the funding the venue charged

    @property
    def history(self) -> int:
        """Bars the venue holds before the services start (``strategies.history_bars``)."""
        return self.settings.strategies.history_bars

    def request_stop(self, reason: str) -> None:
        """Stop after the bar in hand (a signal, an operator): no bar is started after."""
        if self.stop_reason is None:
            self.stop_reason = reason

    async def run(self) -> RunSummary:
        self.keys = Keys(f"{self.settings.key_prefix}run-{self.run_id}:")
        with data_dir.hold(
            self.settings.data_dir,
            command="quantum run (paper)",
            run_id=self.run_id,
            key_prefix=self.keys.prefix,
        ):
            async with redis_target(self.settings) as target:
                data_dir.update(self.settings.data_dir, redis_url=mask_url(target.url))
                redis = target.client
                # The operator's kill switch holds for this run too; it is never reset.
                operator = Keys(self.settings.key_prefix)
                switch = await redis.get(operator.risk_kill_switch)
                if switch is not None:
                    self.inherited_kill_switch = True
                    await redis.set(self.keys.risk_kill_switch, switch)
                try:
                    return await self._run(redis)
                finally:
                    await self._forget(redis)

    async def _forget(self, redis: aioredis.Redis) -> None:
        """Delete this run's own namespace (and nothing else), and its safety file."""
        with contextlib.suppress(OSError):
            SafetyStore(self.settings.data_dir, self.keys.prefix).forget()
        with contextlib.suppress(RedisError, OSError):
            batch: list[bytes] = []
            async for key in redis.scan_iter(match=f"{self.keys.prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    await redis.delete(*batch)
                    batch.clear()
            if batch:
                await redis.delete(*batch)

    async def _run(self, redis: aioredis.Redis) -> RunSummary:
        cfg = self.config
        interval = self.settings.strategies.interval
        history = self.history
        if cfg.data is None:
            series, marks = synthetic_market(
                cfg.symbols, cfg.hours, cfg.seed, interval, START_MS, history
            )
        else:
            series = file_market(cfg.data, cfg.symbols, cfg.data_hours, interval, history)
            marks = file_marks(cfg.data, series)
        self.symbols = tuple(series)
        self.marks = marks
        start = int(next(iter(series.values())).open_time[0])
        clock = SimClock(start)
        funding, self.funding_source = venue_funding(cfg.data, self.symbols, self.settings)
        core = MatchingCore(seed=cfg.seed, start_ms=start, funding=funding)
        sim = SimExchange(core, clock=clock)
        self.sim = sim
        instruments = {i.symbol: i for i in await sim.instruments()}
        unknown = [s for s in self.symbols if s not in instruments]
        if unknown:
            raise ValueError(f"symbols not on the exchange: {', '.join(unknown)}")
        bars = min(len(s) for s in series.values())
        ticks = {s: instruments[s].tick_size for s in self.symbols}
        warm = SimDriver(sim)
        # History the services warm up from, before they start. The signal engine's warm-up
        # reads the last of these bars from the exchange's klines (as a live start does), so
        # the first decision is at the close of the bar after them — where a backtest of
        # the same bars starts trading too (``EngineConfig.history_bars``).
        for i in range(history):
            clock.set(series[self.symbols[0]].bar_at(i).open_time)
            for s in self.symbols:
                await warm.bar(series[s].bar_at(i, tick_size=ticks[s]), marks.bar(s, i))
        if cfg.venue == "http":
            async with http_venue(sim, clock) as venue:
                self.weights = venue.server.weights
                self.self_check = await venue.exchange.self_check()
                return await self._trade(
                    redis,
                    clock,
                    venue.exchange,
                    venue.driver,
                    series,
                    ticks,
                    instruments,
                    bars,
                    sim,
                )
        return await self._trade(redis, clock, sim, warm, series, ticks, instruments, bars, sim)

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
        bus = Bus(RedisTransport(redis), clock, self.keys, self.settings.stream_maxlen)
        basis = RedisSizingBasis(redis, self.keys)
        feed = MarketFeed(
            driver,
            bus,
            series,
            ticks,
            basis=lambda t: take_basis(exchange, basis, t),
            marks=self.marks.series,
        )
        journal_file = journal_path(self.settings)
        journal_file.parent.mkdir(parents=True, exist_ok=True)
        store = SafetyStore(self.settings.data_dir, self.keys.prefix)
        epoch, _ = await establish_epoch(redis, self.keys, store, self.run_id)
        parts = system_parts(
            self.settings,
            exchange=exchange,
            bus=bus,
            redis=redis,
            clock=clock,
            instruments=instruments,
            symbols=self.symbols,
            journal=Journal(f"sqlite:///{journal_file}", run_id=self.run_id),
            epoch=epoch,
        )
        self.parts = parts
        self.on_trading(parts)
        await parts.monitor().reconcile_once()  # before the apply layer takes any plan
        supervisor = Supervisor(
            [*parts.specs(), *notifier_specs(parts)],  # the notifier: when targets are set
            redis,
            bus,
            panic_flatten_after_s=cfg.panic_flatten_after_s,
            flatten=parts.flatten,
            guard=StateGuard(redis, bus, store, epoch),
        )
        self.supervisor = supervisor
        task = asyncio.create_task(supervisor.run())
        metrics = None
        if cfg.metrics_port:
            metrics = await serve_metrics(SystemCollector(parts, supervisor), cfg.metrics_port)
        try:
            await self._wait_started(redis, bus)
            await self._bars(feed, clock, redis, bus, exchange, bars)
        finally:
            supervisor.stop()
            await task
            if metrics is not None:
                await metrics.cleanup()
        hours = (bars - self.history - 1) * feed.series[self.symbols[0]].interval_ms / 3_600_000
        summary = await summarise(parts, supervisor, sim.core, hours=hours, mode="paper")
        summary.run_id = self.run_id
        summary.stopped_early = self.stop_reason
        summary.market_minutes_run = self.bars_run
        summary.request_weight_peak = self.weights.peak if self.weights else 0
        summary.funding_source = self.funding_source
        summary.mark_source = self.marks.source
        plans = [
            m
            for m in await stream_messages(parts.redis, bus.keys.apply_plan)
            if isinstance(m, Plan)
        ]
        reasons = {
            as_text(k): as_text(v) for k, v in (await redis.hgetall(bus.keys.exit_reasons)).items()
        }
        intents = [
            m
            for m in await stream_messages(parts.redis, bus.keys.trade_intent)
            if isinstance(m, TradeIntent)
        ]
        summary.trades = paper_trades(sim.core, series, plans, reasons, intents)
        parts.journal.close()
        return summary

    async def _bars(
        self,
        feed: MarketFeed,
        clock: SimClock,
        redis: aioredis.Redis,
        bus: Bus,
        exchange: Exchange,
        bars: int,
    ) -> None:
        """Step the market bar by bar; stop early (and say why) on a stop request or an
        error, then let the work in flight finish, so the summary is always written."""
        cfg = self.config
        total = bars - self.history
        settle = functools.partial(self._settle, redis, bus, exchange)
        pace = Pacer(cfg.speed, feed.series[self.symbols[0]].interval_ms)
        try:
            for n, i in enumerate(range(self.history, bars)):
                if self.stop_reason is not None:
                    break
                await pace.wait(n)
                clock.set(feed.kline(self.symbols[0], i).open_time)
                await feed.step(i, settle)
                await settle()
                self.bars_run = n + 1
                self.on_step(n + 1, total)
        except Exception as exc:  # a run that must stop still writes its summary
            log.exception("paper run stopped by an error")
            self.request_stop(f"error: {type(exc).__name__}: {exc}")
        clock.advance(feed.series[self.symbols[0]].interval_ms / 1000)  # one more bar
        with contextlib.suppress(Exception):
            await settle()
            for monitor in (self.parts.monitors if self.parts else [])[-1:]:
                await monitor.reconcile_once()

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
        every execution event the venue sent has been taken by the pump.

        Bounded: a pipeline still busy after ``SETTLE_LIMIT_S`` of wall time (a service
        crash-looping, an exchange refusing) lets the market go on, as real time would,
        and is counted. A rate limit on the venue's gap fill is waited out, never fatal.
        """
        k = bus.keys
        groups = {
            k.market: ["signal-engine", "exit-brain"],
            k.trade_intent: ["intent-bridge"],
            k.apply_plan: ["apply-layer"],
            k.apply_exit: ["apply-layer"],
            k.fills: ["ledger", "risk-guard"],
        }
        deadline = time.monotonic() + SETTLE_LIMIT_S
        quiet = 0
        while quiet < 3:
            if time.monotonic() > deadline:
                self.stalled_settles += 1
                log.warning("pipeline still busy after %.0f s; market goes on", SETTLE_LIMIT_S)
                return
            await asyncio.sleep(0.001)
            queued = (
                exchange.undelivered()
                if isinstance(exchange, SimExchange | CcxtBinanceExchange)
                else 0
            )
            idle = not queued and await groups_idle(redis, groups)
            if idle and quiet == 2 and isinstance(exchange, CcxtBinanceExchange):
                try:
                    await exchange.barrier()  # every event the venue sent is queued now
                except RetryableError as exc:
                    # The REST gap fill was refused (429): the stream's events are in
                    # already; the next bar's barrier fills any gap.
                    self.rate_limited += 1
                    log.warning("gap fill rate-limited: %s", exc)
                idle = exchange.undelivered() == 0
            quiet = quiet + 1 if idle else 0


class Pacer:
    """``--speed X``: bar ``n`` starts no earlier than ``n × interval ÷ X`` of wall time
    after the first, so a person can watch the run; None runs as fast as it settles."""

    def __init__(
        self,
        speed: float | None,
        interval_ms: int,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.seconds_per_bar = interval_ms / 1000 / speed if speed else 0.0
        self._monotonic, self._sleep = monotonic, sleep
        self.start = monotonic()

    async def wait(self, n: int) -> None:
        if self.seconds_per_bar:
            delay = self.start + n * self.seconds_per_bar - self._monotonic()
            if delay > 0:
                await self._sleep(delay)


def journal_path(settings: Settings) -> Path:
    return settings.data_dir / "journal.sqlite"
