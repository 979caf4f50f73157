"""The stepped multi-process orchestration: real Redis, the simulated exchange over its
HTTP front, every service its own process, stepped accelerated time — and, for
``quantum chaos``, the faults a harness supplies (``stepped.faults``).

Per bar: the faults' hooks (none in a plain ``--processes`` run), then the clock and the
market move, the faults' window is held while the system works, and the next bar waits
until every consumer group is idle (or a wall-clock bound passes: the system is then
reported as stalled at that bar, and the run goes on). At the end the faults are lifted,
a few quiet bars and a final reconcile interval pass, the processes stop, and the
independent checker reads the exchange's history and the streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from quantum_trader.bus.bus import Bus
from quantum_trader.bus.groups import topology
from quantum_trader.bus.keys import Keys
from quantum_trader.bus.redis_transport import RedisTransport, as_text, stream_messages
from quantum_trader.bus.schemas import Plan, TradeIntent
from quantum_trader.clock import SimClock
from quantum_trader.config import Settings
from quantum_trader.data import MarketConfig, generate_market
from quantum_trader.data.marks import synthetic_mark_bars
from quantum_trader.exchange.sim import MatchingCore, SimExchange
from quantum_trader.exchange.sim.http import SimHttpServer
from quantum_trader.infra.embedded_redis import EmbeddedRedis
from quantum_trader.infra.http_venue import HttpDriver
from quantum_trader.observability.metrics import serve_metrics
from quantum_trader.observability.metrics_redis import RedisCollector, reconcile_repairs
from quantum_trader.ops.paper_market import venue_funding
from quantum_trader.ops.paper_run import START_MS, SimDriver
from quantum_trader.ops.run_summary import venue_money
from quantum_trader.ops.run_trades import paper_trades
from quantum_trader.ops.service_main import SERVICES, ServiceSetup
from quantum_trader.ops.stepped.checker import Evidence
from quantum_trader.ops.stepped.collect import collect_evidence
from quantum_trader.ops.stepped.faults import (
    FaultContext,
    Faults,
    FaultsFactory,
    NoFaults,
    RunConfig,
)
from quantum_trader.ops.stepped.processes import ServiceProcesses, own_cpu_s, run_cpu_seconds
from quantum_trader.ops.stepped.report import ChaosReport, build_report
from quantum_trader.ops.stepped.venue_history import CoreAccount
from quantum_trader.runtime.follow_clock import publish_time
from quantum_trader.runtime.idle import groups_idle
from quantum_trader.runtime.safety_state import SafetyStore, StateGuard, establish_epoch
from quantum_trader.runtime.supervisor import ServiceSpec, Supervisor
from quantum_trader.services.intent_bridge import rejected_by_reason
from quantum_trader.services.journal import Journal
from quantum_trader.services.market_feed import MarketFeed
from quantum_trader.services.model_serving import models_served
from quantum_trader.services.runtime import ServiceRuntime
from quantum_trader.services.sizing_basis import RedisSizingBasis, take_basis

# Chaos processes follow the market clock through Redis and poll on wall time; their
# weight minutes stay wall minutes, scaled for about one market minute per wall second.
ACCELERATED_WEIGHT_LIMIT = 2400 * 60
QUIET_BARS = 4  # fault-free bars at the end: the reconciler's interval passes twice

FINAL_SETTLES = 6  # settle rounds (settle_timeout_s each) the end of a run may take


@dataclass
class SteppedRun:
    config: RunConfig
    faults: FaultsFactory | None = None  # None: nothing is done to the run
    fault_settings: dict[str, Any] = field(default_factory=dict)  # for the report
    on_step: Callable[[int, int], None] = lambda done, total: None
    on_redis: Callable[[str], None] = lambda url: None  # once the run's Redis is up
    metrics_port: int = 0  # /metrics and /health, read from Redis (0: off)
    # Each service process serves its own /metrics on the settings' ports only when asked:
    # a run beside a deployed system must not take (or answer on) that system's ports.
    service_metrics: bool = False
    run_id: str = ""  # the journal's run id of the service processes
    settings: Settings | None = None  # the user's; None: defaults and environment
    evidence: Evidence | None = None  # what the checker read, for a run summary
    closes_by_reason: dict[str, int] = field(default_factory=dict)
    intents_rejected: dict[str, int] = field(default_factory=dict)
    repairs: int = 0
    trades: list[dict[str, Any]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # the signal models that served
    stalls: list[int] = field(default_factory=list)
    silent_since: dict[str, float] = field(default_factory=dict)
    hung: dict[str, int] = field(default_factory=dict)

    async def run(self) -> ChaosReport:
        if self.config.data_dir is not None:
            return await self._run(self.config.data_dir)
        with tempfile.TemporaryDirectory(prefix="quantum-chaos-") as tmp:
            return await self._run(Path(tmp))

    async def _run(self, data_dir: Path) -> ChaosReport:
        server = EmbeddedRedis(data_dir / "redis", fsync="always").start()
        self.on_redis(server.url)
        try:
            return await self._with_redis(server, data_dir)
        finally:
            server.stop()

    async def _with_redis(self, server: EmbeddedRedis, data_dir: Path) -> ChaosReport:
        cfg = self.config
        started, spent_before = time.monotonic(), own_cpu_s()
        clock = SimClock(START_MS)
        settings = self.settings or Settings()
        # The venue funds and marks as a paper run's venue of the same market does.
        funding, funding_source = venue_funding(None, cfg.symbols, settings)
        core = MatchingCore(cfg.instruments, seed=cfg.seed, start_ms=START_MS, funding=funding)
        sim = SimExchange(core, clock=clock)
        history = settings.strategies.history_bars
        bars = history + int(cfg.hours * 60) + QUIET_BARS + 1
        specs = {s: cfg.specs[s] for s in cfg.symbols} if cfg.specs else list(cfg.symbols)
        market = generate_market(specs, bars, MarketConfig(seed=cfg.seed, start_ms=START_MS))
        marks = synthetic_mark_bars(market, market.bars.values())
        ticks = {s: sim.core.instrument(s).tick_size for s in cfg.symbols}
        warm = SimDriver(sim)
        for i in range(history):
            clock.set(market.bars[cfg.symbols[0]].bar_at(i).open_time)
            for s in cfg.symbols:
                await warm.bar(market.bars[s].bar_at(i, tick_size=ticks[s]), marks.bar(s, i))
        front = SimHttpServer(sim, weight_limit=ACCELERATED_WEIGHT_LIMIT, seed=cfg.seed)
        url = await front.start()
        redis = aioredis.Redis.from_url(
            server.url, retry=Retry(ExponentialBackoff(cap=0.5), 20), retry_on_error=[OSError]
        )
        keys = Keys(cfg.key_prefix)
        clock_key = f"chaos:{cfg.key_prefix}clock"
        bus = Bus(RedisTransport(redis), clock, keys, 1_000_000)
        # Every trading parameter is the user's (or the default); only where this run
        # keeps its state is its own.
        run_settings = (self.settings or Settings()).model_copy(
            update={
                "redis_url": server.url,
                "key_prefix": cfg.key_prefix,
                "data_dir": data_dir,
                "stream_maxlen": 1_000_000,
            }
        )
        if not self.service_metrics:
            unserved = replace(run_settings.metrics, base_port=0, ports={})
            run_settings = run_settings.model_copy(update={"metrics": unserved})
        registry_dir = (self.settings or Settings()).data_dir / "models"
        if registry_dir.is_dir() and not (data_dir / "models").exists():
            # the model registry stays the user's: a promotion reaches the running engine
            (data_dir / "models").symlink_to(registry_dir.resolve(), target_is_directory=True)
        store = SafetyStore(data_dir, keys.prefix)
        epoch, _ = await establish_epoch(redis, keys, store, self.run_id or "chaos")
        setup = ServiceSetup(
            settings=run_settings,
            exchange_url=url,
            symbols=cfg.symbols,
            follow_clock=clock_key,
            run_id=self.run_id,
            epoch=epoch,
        )
        procs = ServiceProcesses(SERVICES, setup)
        driver = HttpDriver(url)
        session = aiohttp.ClientSession()
        traded = bars - history - QUIET_BARS - 1
        context = FaultContext(
            redis=redis,
            redis_server=server,
            procs=procs,
            session=session,
            admin_url=url,
            bus=bus,
            sim=sim,
            clock_key=clock_key,
            store=store,
            requests=lambda: list(front.requests),
            liveness_s=run_settings.heartbeat_ttl_ms / 1000,
            traded_bars=traded,
        )
        injector: Faults = self.faults(context) if self.faults is not None else NoFaults()
        fail_safe = Supervisor(
            [ServiceSpec(n, _no_build) for n in SERVICES],
            redis,
            bus,
            guard=StateGuard(redis, bus, store, epoch),
        )
        Journal(f"sqlite:///{data_dir / 'journal.sqlite'}").close()  # tables, once
        metrics = None
        if self.metrics_port:
            collector = RedisCollector(
                redis, keys, SERVICES, lambda: dict(procs.kills), supervisor=fail_safe
            )
            metrics = await serve_metrics(collector, self.metrics_port)
        try:
            await publish_time(redis, clock_key, clock.now_ms())
            procs.start_all()
            await self._wait_started(redis, keys, procs)
            basis, book = RedisSizingBasis(redis, keys), CoreAccount(sim.core, clock)
            feed = MarketFeed(
                driver,
                bus,
                market.bars,
                ticks,
                basis=lambda t: take_basis(book, basis, t),
                marks=marks.series,
            )
            total = bars - history
            for n, i in enumerate(range(history, bars)):
                await self._bar(
                    n, i, feed, clock, keys, clock_key, redis, injector, procs, fail_safe
                )
                if n == 0:  # the first bar wakes the services' warm-up: counted apart
                    at_first_bar = run_cpu_seconds(procs, server.process, spent_before)
                if n == traded:
                    await injector.finish()
                self.on_step(n + 1, total)
            final_mark = await _get(redis, keys.reconcile_last)
            clock.advance(60)
            await publish_time(redis, clock_key, clock.now_ms())
            # Before the audit every group drains: a service restarted late (a hang the
            # watchdog caught near the end) may need more than one bar's settle to catch
            # up. Bounded; what is still unread then is reported as lost.
            for _ in range(FINAL_SETTLES):
                if await self._settle(redis, keys, injector, procs, fail_safe, final_mark):
                    break
            cpu = run_cpu_seconds(procs, server.process, spent_before)  # just before the stop
            cpu_bars = {k: round(v - at_first_bar.get(k, 0.0), 3) for k, v in cpu.items()}
            await asyncio.to_thread(procs.stop_all)
            evidence, internal = await collect_evidence(
                redis, keys, session, url, injector, sim, data_dir
            )
            self.evidence = evidence
            self.intents_rejected = await rejected_by_reason(redis, keys)
            self.models = await models_served(redis, keys)
            self.repairs = sum((await reconcile_repairs(redis, keys)).values())
            reasons = {
                **injector.kept.exit_reasons,
                **{
                    as_text(k): as_text(v)
                    for k, v in (await redis.hgetall(keys.exit_reasons)).items()
                },
            }
            plans = [p for p in evidence.plans if isinstance(p, Plan)]
            intents = [
                m
                for m in await stream_messages(redis, keys.trade_intent)
                if isinstance(m, TradeIntent)
            ]
            self.trades = paper_trades(sim.core, market.bars, plans, reasons, intents)
            journal = Journal(f"sqlite:///{data_dir / 'journal.sqlite'}", run_id=self.run_id)
            self.closes_by_reason = journal.harvest_metrics().closes_by_reason
            journal.close()
        finally:
            if metrics is not None:
                await metrics.cleanup()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(procs.stop_all)
            await session.close()
            await driver.close()
            await redis.aclose()
            await front.stop()
        report = build_report(
            evidence,
            internal,
            injector.counts(),
            {
                "hours": cfg.hours,
                "symbols": list(cfg.symbols),
                "seed": cfg.seed,
                **self.fault_settings,
            },
            runtime_s=time.monotonic() - started,
            stalls=self.stalls,
            money=venue_money(sim.core, clock.now_ms()),
            struck=injector.struck(),
            restarts={
                **procs.kills,
                **{f"crash:{k}": v for k, v in procs.crashes.items()},
                **{f"hung:{k}": v for k, v in self.hung.items()},
                **{f"sigstop:{k}": v for k, v in procs.paused.items()},
            },
        )
        report.money |= {"funding_source": funding_source, "mark_source": marks.source}
        report.cpu_seconds, report.cpu_seconds_bars, report.cpu_bars = cpu, cpu_bars, total - 1
        return report

    async def _bar(
        self,
        n: int,
        i: int,
        feed: MarketFeed,
        clock: SimClock,
        keys: Keys,
        clock_key: str,
        redis: aioredis.Redis,
        injector: Faults,
        procs: ServiceProcesses,
        fail_safe: Supervisor,
    ) -> None:
        procs.reap()
        await injector.before_bar(n)
        # The reconciler's last round before this bar's time is published: the settle waits
        # for a round after it (in lockstep, as real time would give it).
        try:
            round_mark = await _get(redis, keys.reconcile_last)
        except (ConnectionError, OSError, aioredis.ConnectionError):
            round_mark = None  # Redis restarting: any round seen after it counts
        clock.set(feed.kline(self.config.symbols[0], i).open_time)
        await _retry(lambda: publish_time(redis, clock_key, clock.now_ms()))
        window = asyncio.create_task(injector.during_bar())
        await _retry(lambda: feed.step(i))
        await window
        if not await self._settle(redis, keys, injector, procs, fail_safe, round_mark):
            self.stalls.append(n)

    async def _settle(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        injector: Faults,
        procs: ServiceProcesses,
        fail_safe: Supervisor,
        round_mark: str | None,
    ) -> bool:
        """Wait until every group is idle for a few polls and every process is up."""
        groups = topology(keys)
        deadline = time.monotonic() + self.config.settle_timeout_s
        # The reconciler has no consumer group: wait (bounded) for a round it completed
        # after this bar's time was published, so the market cannot run minutes ahead of a
        # slow or restarting reconciler — in real time that costs seconds, not bars.
        round_deadline = time.monotonic() + self.config.reconcile_wait_s
        quiet, last_check = 0, 0.0
        while quiet < 4:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.004)
            injector.strike()
            procs.reap()
            if time.monotonic() - last_check > 0.25:
                last_check = time.monotonic()
                with contextlib.suppress(Exception):
                    await fail_safe.check_health()  # REDUCE_ONLY while an exit service is down
                    await self._watchdog(redis, keys, procs)
            try:
                idle = await groups_idle(redis, groups)
                if idle and time.monotonic() < round_deadline:
                    idle = await _get(redis, keys.reconcile_last) != round_mark
            except Exception:  # Redis restarting
                idle = False
            idle = idle and not injector.holding()  # e.g. Redis takes writes again
            quiet = quiet + 1 if idle else 0
        return True

    async def _watchdog(self, redis: aioredis.Redis, keys: Keys, procs: ServiceProcesses) -> None:
        """A process that is alive but has not beaten for ``hung_after_s`` is hung:
        SIGKILL and restart it, as systemd's watchdog would."""
        beats = await redis.mget([keys.health(n) for n in SERVICES])
        now = time.monotonic()
        for name, beat in zip(SERVICES, beats, strict=True):
            if beat is not None:
                self.silent_since.pop(name, None)
            elif now - self.silent_since.setdefault(name, now) > self.config.hung_after_s:
                self.silent_since.pop(name, None)
                self.hung[name] = self.hung.get(name, 0) + 1
                procs.restart(name)

    async def _wait_started(
        self, redis: aioredis.Redis, keys: Keys, procs: ServiceProcesses
    ) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            procs.reap()
            beats = [await redis.exists(keys.health(n)) for n in SERVICES]
            if all(beats):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("services did not start within 120 s")


def _no_build() -> ServiceRuntime:
    raise RuntimeError("chaos services run as processes")


async def _retry(action: Callable[[], object], attempts: int = 100) -> None:
    """Run an orchestrator write that may meet a restarting Redis."""
    for n in range(attempts):
        try:
            result = action()
            if asyncio.iscoroutine(result):
                await result
            return
        except (ConnectionError, OSError, aioredis.ConnectionError):
            if n == attempts - 1:
                raise
            await asyncio.sleep(0.05)


async def _get(redis: aioredis.Redis, key: str) -> str | None:
    value = await redis.get(key)
    return as_text(value) if value is not None else None
